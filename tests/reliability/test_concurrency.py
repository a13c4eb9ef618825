"""Concurrent requests against a real server process: one run per scenario, nothing corrupt."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from benchmarks.server import running_server
from flowtime.adapters.stores.file import FileArtifactStore
from flowtime.domain.runs import RunFilter


@pytest.fixture
def server(tmp_path):
    data = tmp_path / "data"
    with running_server({"FLOWTIME_DATA_DIR": str(data), "FLOWTIME_LOG_LEVEL": "ERROR"},
                        workers=2) as base:
        yield base, data


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
