"""File store specifics: staging, crash debris, failure injection, listing cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flowtime.adapters.stores.file import FileArtifactStore
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.runs import RunFilter, RunRequest, RunSummary
from flowtime.domain.services.orchestration import RunOrchestrationService


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


@pytest.mark.parametrize(("durable", "dirty", "expect"), [
    (True, 1 << 30, "files"), (True, 1 << 20, "syncfs"), ("files", 0, "files"),
    ("syncfs", 1 << 30, "syncfs"), (False, 0, "none")])
def test_every_staged_file_and_folder_is_flushed_before_the_rename(tmp_path, shipped_source,
                                                                    clock, monkeypatch,
                                                                    durable, dirty, expect):
    """files: an fsync per staged file and folder, all before the bundle is renamed into
    place, then one of the runs folder; syncfs: one flush of the filesystem; the default
    picks syncfs only while little other data is dirty (/proc/meminfo); 0: none."""
    import threading

    from flowtime.adapters.stores import file as file_module

    store = FileArtifactStore(tmp_path, durable=durable)
    synced: list[str] = []
    events: list[str] = []
    lock = threading.Lock()
    real_fsync, real_rename = os.fsync, os.rename

    def recording_fsync(fd):
        with lock:
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
            events.append("fsync")
        return real_fsync(fd)

    def recording_rename(src, dst, *args, **kwargs):
        events.append("rename")
        return real_rename(src, dst, *args, **kwargs)

    flushed = []
    real_flush = file_module._flush_filesystem
    monkeypatch.setattr(file_module, "_dirty_bytes", lambda: dirty)
    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "rename", recording_rename)
    monkeypatch.setattr(file_module, "_flush_filesystem",
                        lambda folder: flushed.append(folder) or real_flush(folder))
    RunOrchestrationService(shipped_source, store, clock).create_run(
        RunRequest("it-system", run_id="kept"))
    bundle = tmp_path / "runs" / "kept"
    files = {p.relative_to(bundle) for p in bundle.rglob("*") if p.is_file()}
    folders = {p.relative_to(bundle) for p in bundle.rglob("*") if p.is_dir()} | {Path(".")}
    if expect == "files":
        staged = [Path(p) for p in synced[:-1]]
        stage = next(p for p in staged if p.name.startswith("kept.")
                     and p.parent.name == ".staging")
        assert {p.relative_to(stage) for p in staged if p != stage and p.is_relative_to(stage)
                and not (bundle / p.relative_to(stage)).is_dir()} == files
        assert {p.relative_to(stage) for p in staged if p.is_relative_to(stage)} - files \
            == folders
        assert events.index("rename") == len(staged)  # every file flushed before the rename
        assert synced[-1] == str(tmp_path / "runs") and not flushed
    elif expect == "syncfs":
        assert len(flushed) == 1 and synced == [str(tmp_path / "runs")]
    else:
        assert synced == [] and flushed == []


def test_dirty_bytes_reads_the_kernel_figure():
    from flowtime.adapters.stores.file import _dirty_bytes

    text = Path("/proc/meminfo").read_text()
    kb = next(int(line.split()[1]) for line in text.splitlines() if line.startswith("Dirty:"))
    assert abs(_dirty_bytes() - kb * 1024) < 64 << 20  # it moves; same order
