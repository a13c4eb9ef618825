"""Concurrent requests against a real server process: one run per scenario, nothing corrupt."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from flowtime.adapters.stores.file import FileArtifactStore
from flowtime.domain.runs import RunFilter


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = _free_port()
    data = tmp_path / "data"
    env = {**os.environ, "FLOWTIME_DATA_DIR": str(data), "FLOWTIME_LOG_LEVEL": "ERROR"}
    env.pop("FLOWTIME_STORE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "flowtime.adapters.cli.main", "serve", "--port", str(port),
         "--workers", "2", "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and process.poll() is None, "server did not start"
        time.sleep(0.1)
    yield base, data
    process.terminate()
    process.wait(timeout=15)


def test_twenty_identical_deterministic_posts_make_exactly_one_run(server):
    base, data = server
    body = {"templateId": "supply-chain", "options": {"deterministicRunId": True}}
    with ThreadPoolExecutor(20) as pool, httpx.Client(base_url=base, timeout=60) as client:
        responses = list(pool.map(lambda _: client.post("/v1/runs", json=body), range(20)))
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {200, 201} and codes.count(201) >= 1, codes
    run_ids = {r.json()["metadata"]["runId"] for r in responses}
    assert len(run_ids) == 1
    assert len(list((data / "runs").iterdir())) == 1
    metadata = {json.dumps(r.json()["metadata"], sort_keys=True) for r in responses}
    assert len(metadata) == 1  # every caller saw the same run, byte for byte


def test_twenty_different_concurrent_runs_are_all_intact(server):
    base, data = server
    bodies = [{"templateId": "it-system", "parameters": {"errorRate": i / 100},
               "options": {"runId": f"parallel-{i}"}} for i in range(20)]
    with ThreadPoolExecutor(20) as pool, httpx.Client(base_url=base, timeout=60) as client:
        responses = list(pool.map(lambda b: client.post("/v1/runs", json=b), bodies))
    assert [r.status_code for r in responses] == [201] * 20
    store = FileArtifactStore(data)
    assert store.list_runs(RunFilter(), 1, 50).total_count == 20
    for i in range(20):
        folder = data / "runs" / f"parallel-{i}"
        manifest = json.loads((folder / "manifest.json").read_text())
        for series_id, digest in manifest["seriesHashes"].items():
            csv = (folder / "series" / f"{series_id}.csv").read_bytes()
            assert "sha256:" + hashlib.sha256(csv).hexdigest() == digest
