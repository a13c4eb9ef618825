"""Timing helpers and the result row every benchmark case returns."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Row:
    case: str
    figure: str  # what was measured, e.g. "p50 ms"
    value: float
    baseline: float | None  # measured in the same run, same units; None when absolute
    target: str  # human-readable target
    passed: bool
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline


def repeat(func: Callable[[], object], times: int, warmup: int = 1) -> list[float]:
    """Wall-clock milliseconds of `times` calls after `warmup` unmeasured ones."""
    for _ in range(warmup):
        func()
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
