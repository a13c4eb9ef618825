"""Peak memory of one large vectorised run (issue 36): `nodes` expression nodes over a year
of hourly bins, every series written to a file store, created by `flowtime run --file` in
a fresh process whose peak RSS is read back (`getrusage` of a wrapper's only child). The
baseline is the float64 arrays alone (cells × 8 bytes); the model budget is raised just
enough to admit the model (FLOWTIME_MAX_CELLS, FLOWTIME_MAX_SERIES)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row

WRAPPER = ("import resource, subprocess, sys\n"
           "done = subprocess.run(sys.argv[1:], capture_output=True)\n"
           "sys.stderr.write(done.stderr.decode()[-2000:])\n"
           "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def big_template(nodes: int, bins: int) -> str:
    """`nodes` expression nodes in threes (arrivals, capacity, served), all written."""
    lines = ["schemaVersion: 1",
             "metadata: {id: bench-big, title: Large vectorised model, version: 1.0.0}",
             'window: {start: "2025-01-01T00:00:00Z", timezone: UTC}',
             f"grid: {{bins: {bins}, binSize: 1, binUnit: hours}}", "nodes:"]
    for k in range(nodes // 3):
        lines += [
            f'  - {{id: a{k}, kind: expr, expr: "40 + 25 * PULSE(24, {k % 24}) + MOD({k}, 7)"}}',
            f'  - {{id: c{k}, kind: expr, expr: "{50 + k % 30}"}}',
            f'  - {{id: s{k}, kind: expr, expr: "MIN(a{k}, c{k})"}}',
        ]
    return "\n".join(lines) + "\n"


def peak_rss(nodes: int, bins: int) -> tuple[float, float, int]:
    """(peak RSS MB, seconds, series written) of one run of the model."""
    with tempfile.TemporaryDirectory() as data:
        path = Path(data) / "big.yaml"
        path.write_text(big_template(nodes, bins))
        cells = (nodes // 3) * 3 * bins
        env = {**os.environ, "FLOWTIME_DATA_DIR": data, "FLOWTIME_FSYNC": "0",
               "FLOWTIME_MAX_CELLS": str(cells * 2), "FLOWTIME_MAX_SERIES": str(nodes * 2)}
        env.pop("FLOWTIME_STORE", None)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", WRAPPER, sys.executable, "-m", "flowtime.adapters.cli.main",
             "run", "--file", str(path), "--json"], capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - started
        code, rss_kb = done.stdout.split()
        if code != "0":
            raise RuntimeError(f"the large run failed: {done.stderr.strip()[-500:]}")
        runs = Path(data) / "runs"
        index = next(runs.glob("*/series/index.json"))
        written = len(json.loads(index.read_text())["series"])
        return int(rss_kb) / 1024, seconds, written


def run(quick: bool = False) -> list[Row]:
    nodes, bins = (300, 8760) if quick else (10_000, 8760)
    rss, seconds, written = peak_rss(nodes, bins)
    arrays_mb = written * bins * 8 / 2**20
    return [
        Row(f"run {nodes:,} nodes × {bins:,} bins (all written)", "peak RSS MB", rss, arrays_mb,
            "≤ 1.5× the arrays", quick or rss <= 1.5 * arrays_mb,
            note=f"baseline: the arrays alone; {written:,} series in {seconds:.1f} s"),
    ]
