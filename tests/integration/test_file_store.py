"""File store specifics: staging, crash debris, failure injection, listing cache."""

from __future__ import annotations

import os

import pytest

from flowtime.adapters.stores.file import FileArtifactStore
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.orchestration import RunOrchestrationService
from flowtime.domain.runs import RunFilter, RunRequest, RunSummary


def test_failure_after_staging_leaves_no_run_and_no_debris(tmp_path, shipped_source, clock,
                                                            monkeypatch):
    store = FileArtifactStore(tmp_path)
    service = RunOrchestrationService(shipped_source, store, clock)

    def explode(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(store, "_move_into_place", explode)
    with pytest.raises(OSError):
        service.create_run(RunRequest("it-system", run_id="doomed"))
    assert not store.exists("doomed")
    assert list((tmp_path / ".staging").iterdir()) == []
    assert store.list_runs(RunFilter(), 1, 10).total_count == 0


def test_stale_staging_of_a_dead_writer_is_cleaned_on_start(tmp_path):
    FileArtifactStore(tmp_path)
    dead = tmp_path / ".staging" / "run_x.999999.abcd"
    dead.mkdir()
    (dead / "run.json").write_text("{}")
    live = tmp_path / ".staging" / f"run_y.{os.getppid()}.abcd"
    live.mkdir()
    FileArtifactStore(tmp_path)
    assert not dead.exists()
    assert live.exists()  # a live writer's staging folder is left alone


def test_listing_uses_summaries_and_sees_new_and_deleted_runs(tmp_path):
    store = FileArtifactStore(tmp_path, durable=False)
    s = RunSummary("r1", "t", "T", "1", "simulation", "2026-01-01T00:00:00Z", 0)
    store.publish("r1", {"run.json": b"{}"}, s, overwrite=False)
    assert store.list_runs(RunFilter(), 1, 10).total_count == 1
    other = FileArtifactStore(tmp_path, durable=False)  # another process/replica
    other.publish("r2", {"run.json": b"{}"}, RunSummary("r2", "t", "T", "1", "simulation",
                                                         "2026-01-02T00:00:00Z", 1),
                  overwrite=False)
    assert [x.run_id for x in store.list_runs(RunFilter(), 1, 10).items] == ["r2", "r1"]
    other.delete("r1")
    assert [x.run_id for x in store.list_runs(RunFilter(), 1, 10).items] == ["r2"]


def test_symlink_inside_a_bundle_cannot_leak_outside(tmp_path):
    store = FileArtifactStore(tmp_path / "s")
    s = RunSummary("r1", "t", "T", "1", "simulation", "2026-01-01T00:00:00Z", 0)
    store.publish("r1", {"run.json": b"{}"}, s, overwrite=False)
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, tmp_path / "s" / "runs" / "r1" / "link.txt")
    with pytest.raises(FlowTimeError):
        store.read("r1", "link.txt")
