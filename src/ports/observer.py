"""What the orchestration service reports while it works (metrics, logs, traces)."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class RunContext:
    """Facts about the run in progress; `run_id` is filled in once known."""

    template_id: str
    mode: str
    run_id: str | None = None
    durations_ms: dict[str, float] = field(default_factory=dict)
    started_at: float = field(default_factory=time.perf_counter)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started_at) * 1000.0


class RunObserver(Protocol):
    """Events of one run in order: started, validated, evaluated, artifacts, completed —
    or failed at any point after start. `phase` wraps validate / evaluate / write so an
    adapter can open a span; `run` wraps the whole run."""

    def run(self, ctx: RunContext) -> AbstractContextManager[None]: ...

    def phase(self, name: str, ctx: RunContext) -> AbstractContextManager[None]: ...

    def started(self, ctx: RunContext) -> None: ...

    def validated(self, ctx: RunContext) -> None: ...

    def evaluated(self, ctx: RunContext) -> None: ...

    def artifacts_written(self, ctx: RunContext) -> None: ...

    def completed(self, ctx: RunContext, *, created: bool, dry_run: bool) -> None: ...

    def failed(self, ctx: RunContext, reason: str, error: BaseException) -> None: ...
