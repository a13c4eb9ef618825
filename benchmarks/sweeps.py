"""Sweep case: 200 Monte Carlo runs serial in-process (one by one, and as one batch) vs the
local process pool vs a Dask LocalCluster (both hand a cell's samples out in batches)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import Row
from benchmarks.models import service_template
from flowtime.container import Settings, build_container
from flowtime.domain.services.sweeps import SweepRequest, expand

WORKERS = 2


def _settings(root: Path, name: str, executor: str) -> Settings:
    return Settings.from_env({
        "FLOWTIME_DATA_DIR": str(root / name), "FLOWTIME_TEMPLATES_DIR": str(root / "t"),
        "FLOWTIME_EXECUTOR": executor, "FLOWTIME_SWEEP_WORKERS": str(WORKERS)})


def run(quick: bool = False) -> list[Row]:
    samples = 8 if quick else 200
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "t").mkdir()
        (root / "t" / "bench.yaml").write_text(service_template(50, 288))
        request = SweepRequest("bench-services", samples=samples, seed=1)
        serial = build_container(_settings(root, "serial", "local")).orchestration()
        start = time.perf_counter()
        for point in expand(request):
            serial.create_run(point.request)
        serial_rate = samples / (time.perf_counter() - start)
        batched = build_container(_settings(root, "batched", "local")).orchestration()
        start = time.perf_counter()
        results = batched.create_runs([point.request for point in expand(request)])
        batch_rate = samples / (time.perf_counter() - start)
        assert all(r.created for r in results)  # type: ignore[union-attr]
        rates = {}
        for executor in ("local", "dask"):
            sweeps = build_container(_settings(root, executor, executor)).sweeps()
            start = time.perf_counter()
            summary = sweeps.run(request)
            rates[executor] = samples / (time.perf_counter() - start)
            assert summary.progress.created == samples, summary.progress
    return [
        Row(f"sweep {samples} runs, serial in-process", "runs/s", serial_rate, None, "context",
            True),
        Row(f"sweep {samples} runs, in-process, one batch", "runs/s", batch_rate, serial_rate,
            "report (create_runs: samples evaluated as one batch)", True,
            note=f"{batch_rate / serial_rate:.2f}× one by one"),
        *(Row(f"sweep {samples} runs, {name} ({WORKERS} workers)", "runs/s", rate, serial_rate,
              "speed-up per worker reported", True,
              note=f"{rate / serial_rate / WORKERS:.2f}× per worker (incl. start-up)")
          for name, rate in rates.items()),
    ]
