"""A sweep driver under a store outage (issue 43): points that met an unavailable store are
tried again with backoff within the attempt, the record's final write is retried, and the
request is kept so another replica can resume the sweep. The executor here is a scripted
stand-in (what a worker would report); the real store outage is the slow SeaweedFS test in
tests/integration/test_sweep_outage.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

from flowtime.adapters.stores.memory import MemoryArtifactStore
from flowtime.domain.errors import ErrorKind, FlowTimeError
from flowtime.domain.services.sweeps import RunOutcome, SweepPoint, SweepRequest, SweepService


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ScriptedExecutor:
    """Reports points whose index is in `down` as failed-retryable for the first `outages`
    passes that include them; every other point as created."""

    name = "scripted"

    def __init__(self, down: set[int], outages: int):
        self.down = down
        self.outages = outages
        self.calls: list[list[int]] = []

    def run(self, points: list[SweepPoint], want_series: bool,
            cancel: threading.Event) -> Iterator[RunOutcome]:
        self.calls.append([p.index for p in points])
        failing = len(self.calls) <= self.outages
        for point in points:
            if failing and point.index in self.down:
                yield RunOutcome(point.index, "failed", problems=("store: unavailable",),
                                 retryable=True)
            else:
                yield RunOutcome(point.index, "created", f"run_{point.index:04d}")


class FlakyStore(MemoryArtifactStore):
    """Refuses the next `failures` writes of sweep.json once `armed` with a finished record."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0
        self.refused = 0

    def write_sweep_file(self, sweep_id: str, path: str, data: bytes) -> None:
        if path == "sweep.json" and b'"finishedUtc"' in data and self.failures > 0:
            self.failures -= 1
            self.refused += 1
            raise FlowTimeError(ErrorKind.UNAVAILABLE, "the object store is unavailable")
        super().write_sweep_file(sweep_id, path, data)


REQUEST = SweepRequest("it-system", grid={"billingCapacity": [10, 20, 30, 40, 50, 60]})


def test_points_that_met_an_unavailable_store_are_tried_again_and_the_sweep_succeeds():
    executor = ScriptedExecutor(down={1, 3, 5}, outages=2)
    store = FlakyStore()
    store.failures = 2  # the final record write fails twice before the store is back
    service = SweepService(store, executor, Clock(), heartbeat_seconds=0.05, retry_seconds=30)
    summary = service.run(REQUEST)
    assert summary.status == "succeeded"
    assert (summary.progress.created, summary.progress.failed) == (6, 0)
    assert summary.progress.retrying == 0 and summary.note is None
    # first pass: all six; then only the three that met the outage, twice
    assert executor.calls == [[0, 1, 2, 3, 4, 5], [1, 3, 5], [1, 3, 5]]
    assert store.refused == 2
    assert service.get(REQUEST.sweep_id).status == "succeeded"  # the retried write landed
    assert [r.run_id for r in summary.runs] == [f"run_{i:04d}" for i in range(6)]


def test_after_the_retry_window_the_points_fail_with_their_problem():
    executor = ScriptedExecutor(down={2}, outages=99)
    service = SweepService(MemoryArtifactStore(), executor, Clock(), retry_seconds=0)
    summary = service.run(REQUEST)
    assert summary.status == "failed"
    assert (summary.progress.created, summary.progress.failed) == (5, 1)
    assert summary.runs[2].problems == ["store: unavailable"]
    assert executor.calls == [[0, 1, 2, 3, 4, 5]]


def test_a_sweep_keeps_its_request_so_another_process_can_resume_it():
    store = MemoryArtifactStore()
    service = SweepService(store, ScriptedExecutor(set(), 0), Clock())
    inline = SweepRequest("inline", grid={"x": [1, 2]}, template_text="nodes: []\n", samples=3,
                          seed=7)
    assert service.accept(inline) is not None
    assert service.saved_request(inline.sweep_id) == inline
    assert service.saved_request("sweep_0000000000000000") is None


class BrokenExecutor(ScriptedExecutor):
    """Its first pass reports two points, then loses its way to the store (raises)."""

    def run(self, points, want_series, cancel):
        self.calls.append([p.index for p in points])
        if len(self.calls) == 1:
            for point in points[:2]:
                yield RunOutcome(point.index, "created", f"run_{point.index:04d}")
            raise FlowTimeError(ErrorKind.UNAVAILABLE, "the object store is unavailable")
        for point in points:
            yield RunOutcome(point.index, "created", f"run_{point.index:04d}")


def test_an_executor_that_fails_mid_pass_leaves_a_true_record_and_its_points_retried():
    executor = BrokenExecutor(set(), 0)
    summary = SweepService(MemoryArtifactStore(), executor, Clock(), retry_seconds=30).run(
        REQUEST)
    assert summary.status == "succeeded" and summary.progress.created == 6
    assert executor.calls == [[0, 1, 2, 3, 4, 5], [2, 3, 4, 5]]


class CrashingExecutor(ScriptedExecutor):
    def run(self, points, want_series, cancel):
        self.calls.append([p.index for p in points])
        raise RuntimeError("cluster lost")
        yield  # pragma: no cover - a generator that fails at once


def test_an_executor_crash_fails_the_points_instead_of_leaving_the_sweep_running():
    service = SweepService(MemoryArtifactStore(), CrashingExecutor(set(), 0), Clock())
    summary = service.run(REQUEST)
    assert summary.status == "failed" and summary.progress.failed == 6
    assert summary.runs[0].problems == ["the executor failed: RuntimeError"]
    assert service.get(REQUEST.sweep_id).status == "failed"
