"""The work one analysis request may do (issue 42): an up-front budget of evaluations ×
cells, a wall-clock deadline, and a cancel flag the driver sets when its client goes away.
The evaluation loop (`Study.evaluate*`) calls `WorkGuard.check()` before every evaluation,
so an answer that would take hours stops within one evaluation of its deadline."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem


@dataclass(frozen=True, slots=True)
class WorkLimits:
    max_cells: int = 10_000_000_000  # FLOWTIME_MAX_ANALYSIS_WORK: evaluations × model cells
    seconds: float = 60.0  # FLOWTIME_ANALYSIS_TIMEOUT_SECONDS
    max_constraints: int = 50
    max_knobs: int = 20


@dataclass(slots=True)
class WorkGuard:
    """Checked between evaluations: raises when the request was cancelled or ran out of
    time. `now` is a monotonic clock in seconds."""

    now: Callable[[], float]
    seconds: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None
    evaluations: int = 0

    def __post_init__(self) -> None:
        if self.seconds is not None:
            self.deadline = self.now() + self.seconds

    def cancel(self) -> None:
        self.cancelled.set()

    def check(self) -> None:
        if self.cancelled.is_set():
            raise FlowTimeError(ErrorKind.UNAVAILABLE, "the analysis was cancelled (its "
                                "client went away)", [Problem("request", "cancelled")])
        if self.deadline is not None and self.now() > self.deadline:
            raise FlowTimeError(ErrorKind.TIMEOUT, f"the analysis did not finish within "
                                f"{self.seconds:g} s (FLOWTIME_ANALYSIS_TIMEOUT_SECONDS); "
                                f"{self.evaluations} evaluations done", [Problem(
                                    "request", "ask a smaller question: fewer samples, "
                                    "iterations or knobs, or a looser tolerance")])
        self.evaluations += 1


DEFAULT_LIMITS = WorkLimits()


def check_work(limits: WorkLimits, evaluations: int, cells: int, loc: str = "request") -> None:
    """Refuse up front a question whose evaluations × cells exceed the budget."""
    work = evaluations * cells
    if work > limits.max_cells:
        raise FlowTimeError(ErrorKind.TOO_LARGE, "the analysis is too large for this server",
                            [Problem(loc, f"up to {evaluations:,} evaluations × {cells:,} "
                                     f"cells = {work:,}; the limit is {limits.max_cells:,} "
                                     "(FLOWTIME_MAX_ANALYSIS_WORK)")])
