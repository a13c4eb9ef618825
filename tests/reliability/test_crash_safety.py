"""SIGKILL a process in the middle of creating a large run: nothing partial is ever visible,
staging debris is cleaned on the next start, and a retry of the same request succeeds."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.models import service_template
from flowtime.adapters.stores.file import FileArtifactStore
from flowtime.adapters.stores.s3 import S3ArtifactStore
from flowtime.container import Settings, build_container
from flowtime.domain import schemas
from flowtime.domain.hashing import sha256_bytes
from flowtime.domain.runs import RunFilter, RunRequest

KILLS = int(os.environ.get("FLOWTIME_CRASH_KILLS", "6"))


@pytest.fixture
def big_templates(tmp_path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "big.yaml").write_text(service_template(nodes=200, bins=4000))
    return folder


def _run_command(store_url: str, templates: Path) -> list[str]:
    return [sys.executable, "-m", "flowtime.adapters.cli.main", "run", "--template-id",
            "bench-services", "--deterministic-run-id", "--store", store_url,
            "--templates", str(templates), "--json"]


def _verify_complete(store, run_id: str) -> None:
    """A visible run is a whole, valid bundle whose hashes match."""
    manifest = json.loads(store.read(run_id, "manifest.json"))
    assert schemas.validate("manifest", manifest) == []
    index = json.loads(store.read(run_id, "series/index.json"))
    for entry in index["series"]:
        assert sha256_bytes(store.read(run_id, entry["path"])) == entry["hash"]


def _kill_at_random(command: list[str], env: dict[str, str], seed: int, horizon: float) -> bool:
    """Start `command`, SIGKILL it after a random delay; True when it finished first."""
    delay = random.Random(seed).uniform(0.05, horizon)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    time.sleep(delay)
    finished = process.poll() is not None
    if not finished:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return finished


def _duration(command: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
    return time.monotonic() - start


def test_file_store_survives_sigkill_at_random_points(tmp_path, big_templates):
    root = tmp_path / "store"
    url = f"file://{root}"
    env = {**os.environ, "FLOWTIME_LOG_LEVEL": "ERROR"}
    # Calibrate on a throwaway store, so kills land across the whole run.
    horizon = _duration(_run_command(f"file://{tmp_path / 'calibrate'}", big_templates), env)
    outcomes = []
    for seed in range(KILLS):
        outcomes.append(_kill_at_random(_run_command(url, big_templates), env, seed, horizon))
        store = FileArtifactStore(root)  # a new start: cleans dead writers' staging
        assert list((root / ".staging").iterdir()) == []
        assert list((root / ".trash").iterdir()) == []
        runs = store.list_runs(RunFilter(), 1, 10).items
        assert len(runs) <= 1
        for summary in runs:
            _verify_complete(store, summary.run_id)
        for folder in (root / "runs").iterdir():
            assert (folder / "manifest.json").is_file()  # no half-published folder
        if runs:  # deterministic: once it exists, later attempts reuse it
            break
    retry = subprocess.run(_run_command(url, big_templates), env=env, capture_output=True,
                           text=True, timeout=120)
    assert retry.returncode == 0, retry.stderr
    run_id = json.loads(retry.stdout)["metadata"]["runId"]
    _verify_complete(FileArtifactStore(root), run_id)
    assert not all(outcomes), "every attempt finished before the kill; nothing was tested"


def test_s3_store_survives_sigkill_between_object_writes(s3_url, big_templates):
    env = {**os.environ, "FLOWTIME_LOG_LEVEL": "ERROR"}
    store = S3ArtifactStore.from_url(s3_url)
    horizon = _duration(_run_command(s3_url.replace("?", "-calibrate?", 1), big_templates), env)
    assert store.list_runs(RunFilter(), 1, 10).total_count == 0
    killed = 0
    for seed in range(max(2, KILLS // 2)):
        finished = _kill_at_random(_run_command(s3_url, big_templates), env, 100 + seed, horizon)
        killed += not finished
        runs = store.list_runs(RunFilter(), 1, 10).items
        for summary in runs:
            _verify_complete(store, summary.run_id)
        if runs:
            break
    container = build_container(Settings.from_env({"FLOWTIME_STORE": s3_url,
                                                   "FLOWTIME_TEMPLATES_DIR": str(big_templates)}))
    result = container.orchestration().create_run(RunRequest("bench-services",
                                                             deterministic_run_id=True))
    _verify_complete(store, result.record.run_id)
    assert killed > 0
