"""A process killed at each named step of a publish (SIGKILL, through the stores' fault
points) never leaves a partial or missing run: a fresh publish is all or nothing, an
overwrite leaves the old or the new bundle published (never none), debris is cleaned on
the next start, and a retry succeeds."""

from __future__ import annotations

import json
import multiprocessing
import signal
from pathlib import Path

import pytest

from flowtime.adapters.stores import faults
from flowtime.adapters.stores import file as file_store
from flowtime.adapters.stores.file import FileArtifactStore
from flowtime.adapters.stores.s3 import S3ArtifactStore
from flowtime.container import Settings, build_container
from flowtime.domain.artifacts.hashing import sha256_bytes
from flowtime.domain.modeling import schemas
from flowtime.domain.runs import RunFilter, RunRequest

FORK = multiprocessing.get_context("fork")


def _create(store_url: str, request: RunRequest, point: str | None,
            no_exchange: bool = False) -> None:
    """In a forked child: arm `point`, then create the run (the child dies at the point)."""
    if no_exchange:
        file_store._RENAMEAT2 = None  # the fallback path: move aside, then rename in
    if point:
        faults.arm(point)
    container = build_container(Settings.from_env({"FLOWTIME_STORE": store_url,
                                                   "FLOWTIME_FSYNC": "0"}))
    container.orchestration().create_run(request)


def _in_child(*args: object) -> int:
    process = FORK.Process(target=_create, args=args)
    process.start()
    process.join(60)
    assert process.exitcode is not None, "the child hung"
    return process.exitcode


def _verify_complete(store, run_id: str) -> dict:
    """A visible run is a whole, valid bundle whose hashes match; returns its manifest."""
    manifest = json.loads(store.read(run_id, "manifest.json"))
    assert schemas.validate("manifest", manifest) == []
    index = json.loads(store.read(run_id, "series/index.json"))
    for entry in index["series"]:
        assert sha256_bytes(store.read(run_id, entry["path"])) == entry["hash"]
    return manifest


def _seed_of(store, run_id: str) -> int:
    return json.loads(store.read(run_id, "manifest.json"))["rng"]["seed"]


def test_a_publish_killed_after_staging_leaves_no_run_and_a_retry_succeeds(tmp_path):
    url = f"file://{tmp_path}"
    request = RunRequest("it-system", run_id="crash-1")
    assert _in_child(url, request, "file.staged") == -signal.SIGKILL
    assert list((tmp_path / ".staging").iterdir())  # the dead writer's debris is there
    store = FileArtifactStore(tmp_path)  # a new start cleans it
    assert list((tmp_path / ".staging").iterdir()) == []
    assert not store.exists("crash-1")
    assert store.list_runs(RunFilter(), 1, 10).total_count == 0
    assert _in_child(url, request, None) == 0
    _verify_complete(FileArtifactStore(tmp_path), "crash-1")


@pytest.mark.parametrize(("point", "no_exchange", "survivor"), [
    ("file.exchanged", False, "new"),  # swapped in one step: the new one is published
    ("file.old_aside", True, "old"),   # fallback: the old one is put back on restart
])
def test_an_overwrite_killed_midway_keeps_one_whole_version(tmp_path, point, no_exchange,
                                                            survivor):
    url = f"file://{tmp_path}"
    assert _in_child(url, RunRequest("it-system", run_id="r", seed=1), None) == 0
    replace = RunRequest("it-system", run_id="r", seed=2, overwrite_existing=True)
    assert _in_child(url, replace, point, no_exchange) == -signal.SIGKILL
    store = FileArtifactStore(tmp_path)  # restart: recovery and debris cleaning
    assert store.exists("r")
    _verify_complete(store, "r")
    assert _seed_of(store, "r") == (2 if survivor == "new" else 1)
    assert list((tmp_path / ".staging").iterdir()) == []
    assert list((tmp_path / ".trash").iterdir()) == []
    assert [s.run_id for s in store.list_runs(RunFilter(), 1, 10).items] == ["r"]


def test_overwrite_without_a_crash_replaces_in_one_step(tmp_path):
    url = f"file://{tmp_path}"
    for seed in (1, 2, 3):
        assert _in_child(url, RunRequest("it-system", run_id="r", seed=seed,
                                         overwrite_existing=True), None) == 0
    store = FileArtifactStore(tmp_path)
    assert _seed_of(store, "r") == 3
    assert list((tmp_path / ".trash").iterdir()) == []


def test_s3_publish_killed_before_the_commit_leaves_no_run(s3_url):
    request = RunRequest("it-system", run_id="s3-crash")
    assert _in_child(s3_url, request, "s3.objects_written") == -signal.SIGKILL
    store = S3ArtifactStore.from_url(s3_url)
    assert not store.exists("s3-crash")
    assert store.list_runs(RunFilter(), 1, 10).total_count == 0
    assert store.clean_debris(older_than_seconds=0) > 0  # the orphaned generation goes
    assert _in_child(s3_url, request, None) == 0
    _verify_complete(S3ArtifactStore.from_url(s3_url), "s3-crash")


def test_s3_overwrite_killed_after_the_commit_serves_the_new_bundle(s3_url):
    assert _in_child(s3_url, RunRequest("it-system", run_id="s3-r", seed=1), None) == 0
    replace = RunRequest("it-system", run_id="s3-r", seed=2, overwrite_existing=True)
    assert _in_child(s3_url, replace, "s3.committed") == -signal.SIGKILL
    store = S3ArtifactStore.from_url(s3_url)
    _verify_complete(store, "s3-r")
    assert _seed_of(store, "s3-r") == 2
    assert store.clean_debris(older_than_seconds=0) > 0  # the old generation goes


def test_unknown_fault_points_are_refused():
    with pytest.raises(ValueError, match="unknown fault point"):
        faults.arm("file.nowhere")


def test_fault_points_are_inert_unless_armed(tmp_path):
    faults.reached("file.staged")  # nothing armed in this process: no effect
    assert Path(tmp_path).exists()


def test_readers_never_miss_a_run_during_concurrent_overwrites(tmp_path, memory_service):
    import threading

    from flowtime.domain.errors import FlowTimeError

    source = memory_service.store
    memory_service.create_run(RunRequest("it-system", run_id="hot", seed=1))
    files = {p: source.read("hot", p) for p in source.list_files("hot")}
    summary = source.list_runs(RunFilter(), 1, 1).items[0]
    store = FileArtifactStore(tmp_path, durable=False)
    store.publish("hot", files, summary, overwrite=False)
    misses, reads, done = [], [0], threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                store.read("hot", "run.json")
                reads[0] += 1
            except FlowTimeError as exc:
                misses.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(60):
        store.publish("hot", files, summary, overwrite=True)
    done.set()
    for thread in threads:
        thread.join()
    assert reads[0] > 0 and misses == []
