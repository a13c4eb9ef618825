"""What the orchestration service reports while it works (metrics, logs, traces)."""

from __future__ import annotations

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
    elapsed_ms: float = 0.0  # the whole run, set before `completed` / `failed`


class RunObserver(Protocol):
    """One run: `run` wraps it; `started`; then the phases `validate`, `evaluate`, `write`
    in order, each wrapped by `phase` (its duration is in `ctx.durations_ms[name]` when the
    context exits without an error — that exit is the phase's completion); then
    `completed`, or `failed` at any point after start."""

    def run(self, ctx: RunContext) -> AbstractContextManager[None]: ...

    def phase(self, name: str, ctx: RunContext) -> AbstractContextManager[None]: ...

    def started(self, ctx: RunContext) -> None: ...

    def completed(self, ctx: RunContext, *, created: bool, dry_run: bool) -> None: ...

    def failed(self, ctx: RunContext, reason: str, error: BaseException) -> None: ...
