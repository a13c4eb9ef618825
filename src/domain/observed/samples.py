"""What a metric source hands the domain: raw samples of one series, or values already on
the grid (a capture directory), and the grid they are resampled onto."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowtime.domain.errors import Problem, invalid
from flowtime.domain.modeling.grid import TimeGrid

SERIES_TYPES = ("gauge", "counter")
AGGREGATIONS = ("mean", "last", "max", "sum")
FILLS = ("none", "zero", "previous", "linear")
LOOKBACK_SECONDS = 300.0  # a gauge sample holds at most this long (Prometheus' lookback)


@dataclass(frozen=True, slots=True)
class GridSpec:
    """Bin i covers [start + i·Δ, start + (i+1)·Δ), times in epoch seconds."""

    start: float
    bins: int
    bin_seconds: float

    @staticmethod
    def of(grid: TimeGrid) -> GridSpec:
        return GridSpec(grid.start.timestamp(), grid.bins, grid.bin_minutes * 60.0)

    @property
    def end(self) -> float:
        return self.start + self.bins * self.bin_seconds

    def edges(self) -> np.ndarray:
        return self.start + np.arange(self.bins + 1, dtype=np.float64) * self.bin_seconds


@dataclass(frozen=True, slots=True)
class Samples:
    """Raw samples (epoch seconds, values), or — `on_grid` — one value per bin already."""

    times: np.ndarray
    values: np.ndarray
    on_grid: bool = False

    @staticmethod
    def of(times: object, values: object) -> Samples:
        t = np.asarray(times, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        if t.shape != v.shape or t.ndim != 1:
            raise invalid([Problem("samples", "times and values must be lists of equal "
                                   "length")])
        return Samples(t, v)

    @staticmethod
    def binned(values: object) -> Samples:
        v = np.asarray(values, dtype=np.float64)
        return Samples(np.arange(len(v), dtype=np.float64), v, on_grid=True)


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """How an observed series is read: counter (increases per bin) or gauge (aggregated)."""

    type: str = "gauge"
    aggregation: str = "mean"
    fill: str = "none"

    def checked(self, loc: str = "") -> SeriesSpec:
        problems = []
        prefix = f"{loc}." if loc else ""
        if self.type not in SERIES_TYPES:
            problems.append(Problem(f"{prefix}type", f"must be one of {', '.join(SERIES_TYPES)}"))
        if self.aggregation not in AGGREGATIONS:
            problems.append(Problem(f"{prefix}aggregation",
                                    f"must be one of {', '.join(AGGREGATIONS)}"))
        if self.fill not in FILLS:
            problems.append(Problem(f"{prefix}fill", f"must be one of {', '.join(FILLS)}"))
        if problems:
            raise invalid(problems)
        return self
