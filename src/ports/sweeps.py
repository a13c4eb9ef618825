"""Where sweep points run and where sweep summaries live."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flowtime.domain.services.sweeps import RunOutcome, SweepPoint


class Executor(Protocol):
    """Runs points somewhere (processes, a Dask cluster) and yields outcomes as they finish.

    Only the run request crosses to a worker; the worker builds its own service from the
    store URL it was configured with, so results land in the shared store. Setting
    `cancel` stops handing out work and drops what has not started.
    """

    name: str

    def run(self, points: list[SweepPoint], want_series: bool,
            cancel: threading.Event) -> Iterator[RunOutcome]: ...

    def map(self, function: Callable[..., Any], calls: list[tuple[Any, ...]],
            cancel: threading.Event) -> Iterator[Any]:
        """`function(factory, settings, *call)` for each call where the executor runs work
        (a picklable module function: a forecast's chunks); results as they finish."""
        ...


class SweepStore(Protocol):
    """Where sweep summaries live (every artifact store implements this too)."""

    def write_sweep_file(self, sweep_id: str, path: str, data: bytes) -> None:
        """Replace one file of a sweep summary (`sweeps/<sweepId>/<path>`) atomically."""
        ...

    def read_sweep_file(self, sweep_id: str, path: str) -> bytes: ...

    def list_sweeps(self) -> list[str]: ...

    def claim_sweep_file(self, sweep_id: str, path: str, data: bytes) -> bool:
        """Create the file only if it does not exist yet (atomically, across processes and
        replicas); True for the one caller that created it."""
        ...


class RecordStore(Protocol):
    """Small JSON records kept beside the runs (saved analyses: `analyses/<id>/result.json`);
    each write replaces the record atomically."""

    def write_record(self, kind: str, record_id: str, data: bytes) -> None: ...

    def read_record(self, kind: str, record_id: str) -> bytes: ...

    def list_records(self, kind: str) -> list[str]: ...

    def delete_record(self, kind: str, record_id: str) -> None:
        """Remove a record; one that is already gone is fine."""
        ...
