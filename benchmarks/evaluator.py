"""Case: which evaluator a one-off process should use (domain/expressions/jit.py `pays`).
Each measurement is a fresh Python process (the import and first-load prices are what is
being decided about) evaluating a model of Q feedback queues × 8,760 bins: the automatic
choice against numba forced (FLOWTIME_JIT_MIN=1) and the column programs forced
(FLOWTIME_JIT=0). The automatic choice must pick the faster of the two, or be within 10 %
of it (where both cost about the same): a short run's automatic time differs from the same
path forced by the machine's noise alone (0.25 s against 0.21 s, both the column programs,
on 2026-12-04), so choosing the faster path is the criterion, not that noise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.common import Row

PROBE = """
import os, sys, time
t0 = time.perf_counter()
from benchmarks.models import engine_model
from flowtime.domain.evaluate.engine import evaluate_model
model, _ = engine_model(nodes=2 * {q} + 10, bins={bins}, queues={q})
evaluate_model(model, 1)
print(time.perf_counter() - t0, 'numba' in sys.modules)
"""


def _seconds(q: int, bins: int, env: dict[str, str]) -> tuple[float, bool]:
    full = {**os.environ, **env}
    root = str(Path(__file__).resolve().parent.parent)
    best, used = float("inf"), False
    for _ in range(3):  # the first run may fill numba's cache; keep the best of three
        out = subprocess.run([sys.executable, "-c", PROBE.format(q=q, bins=bins)], env=full,
                             capture_output=True, text=True, check=True, cwd=root)
        seconds, numba = out.stdout.split()
        if float(seconds) < best:
            best, used = float(seconds), numba == "True"
    return best, used


def run(quick: bool = False) -> list[Row]:
    bins = 876 if quick else 8760
    rows = []
    for q in ((10, 100) if quick else (100, 1000, 1500)):
        auto, used = _seconds(q, bins, {"FLOWTIME_JIT": "1"})
        numba, _ = _seconds(q, bins, {"FLOWTIME_JIT": "1", "FLOWTIME_JIT_MIN": "1"})
        columns, _ = _seconds(q, bins, {"FLOWTIME_JIT": "0"})
        best = min(numba, columns)
        faster_chosen = used == (numba < columns)
        rows.append(Row(f"one-off evaluation, {q} queues × {bins} bins", "s", auto, best,
                        "the faster, or ≤ 1.1 × it",
                        quick or faster_chosen or auto <= 1.1 * best,
                        note=f"chose {'numba' if used else 'columns'}; numba {numba:.2f} s, "
                             f"columns {columns:.2f} s (each a fresh process)"))
    return rows
