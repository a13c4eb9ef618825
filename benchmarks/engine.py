"""Cases 1 and 2: engine evaluation against hand-written numpy and a plain Python loop."""

from __future__ import annotations

import tracemalloc

import numpy as np

from benchmarks.common import Row, median, repeat
from benchmarks.models import engine_model
from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.evaluate.random import node_uniforms, sample_pmf


def _shift(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    out[0] = 0.0
    out[1:] = x[:-1]
    return out


def _queue_loop(arrivals: list[float], capacity: list[float]) -> tuple[list[float], list[float]]:
    served, backlog = [0.0] * len(arrivals), [0.0] * len(arrivals)
    previous = 0.0
    for t in range(len(arrivals)):
        s = min(arrivals[t] + previous, capacity[t])
        previous = max(0.0, previous + arrivals[t] - s)
        served[t], backlog[t] = s, previous
    return served, backlog


def _numba_queue() -> object | None:
    """The queue recurrence hand-written with numba (None when numba is not installed)."""
    try:
        from numba import njit
    except ImportError:
        return None

    @njit(cache=False)
    def loop(arrivals, capacity):  # type: ignore[no-untyped-def]
        n = arrivals.shape[0]
        served, backlog = np.empty(n), np.empty(n)
        previous = 0.0
        for t in range(n):
            s = min(arrivals[t] + previous, capacity[t])
            previous = max(0.0, previous + arrivals[t] - s)
            served[t], backlog[t] = s, previous
        return served, backlog

    return loop


def baseline(model, plan, seed: int, queue_loop=None) -> dict[str, np.ndarray]:
    """The same arithmetic written by hand with numpy (queues as a plain loop, or the
    numba loop when given)."""
    defs = {n.id: n for n in model.definition.nodes}
    bins = model.grid.bins
    env: dict[str, np.ndarray] = {}
    for node_id, kind, template, args in plan:
        if kind == "const":
            env[node_id] = np.asarray(defs[node_id].values, dtype=np.float64)
        elif kind == "pmf":
            pmf = defs[node_id].pmf
            env[node_id] = sample_pmf(pmf.values, pmf.probabilities,
                                      node_uniforms("pcg64", seed, node_id, bins))
        elif kind == "expr":
            a, b, c = (env[x] for x in args)
            if template == 0:
                env[node_id] = a + b * 0.5
            elif template == 1:
                env[node_id] = np.minimum(a, b) - c / 3
            elif template == 2:
                env[node_id] = np.maximum(a - b, 0) * 1.5
            elif template == 3:
                env[node_id] = np.clip(a, 10, 60) + b
            elif template == 4:
                env[node_id] = (a + b + c) / 3
            else:
                env[node_id] = np.abs(a - c) + _shift(b)
        else:
            q = node_id[1:]
            if queue_loop is not None:
                served, backlog = queue_loop(env[args[0]], env[args[1]])
            else:
                served, backlog = _queue_loop(env[args[0]].tolist(), env[args[1]].tolist())
            env[f"served{q}"] = np.asarray(served)
            env[f"backlog{q}"] = np.asarray(backlog)
    return env


def run(quick: bool = False) -> list[Row]:
    nodes, bins, times = (60, 200, 2) if quick else (1000, 8760, 5)
    model, plan = engine_model(nodes=nodes, bins=bins, queues=10 if not quick else 2)
    ours = evaluate_model(model, 1)
    theirs = baseline(model, plan, 1)
    for key, values in theirs.items():  # same arithmetic, same answers
        assert np.allclose(ours[key], values), key
    engine_ms = median(repeat(lambda: evaluate_model(model, 1), times))
    base_ms = median(repeat(lambda: baseline(model, plan, 1), times))
    tracemalloc.start()
    evaluate_model(model, 1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    output_mb = nodes * bins * 8 / 1e6
    rows = [
        Row(f"engine {nodes}×{bins}, one-off (numba not loaded)", "median ms", engine_ms,
            base_ms, "≤ 2× numpy, < 1000 ms",
            quick or (engine_ms <= 2 * base_ms and engine_ms < 1000),
            note="a CLI run: loops this small do not pay numba's import"),
        Row(f"engine {nodes}×{bins} memory", "peak MB", peak / 1e6, output_mb,
            "context: peak vs output arrays", True, note="tracemalloc peak"),
    ]
    if _numba_queue() is not None:  # now numba is loaded, as in a server or sweep worker
        evaluate_model(model, 1)
        loaded_ms = median(repeat(lambda: evaluate_model(model, 1), times))
        base2_ms = median(repeat(lambda: baseline(model, plan, 1), times))
        rows.insert(1, Row(f"engine {nodes}×{bins}, numba loaded (server)", "median ms",
                           loaded_ms, base2_ms, "≤ 0.5× numpy + plain loop",
                           quick or loaded_ms <= 0.5 * base2_ms,
                           note="baseline: the same arithmetic in numpy, queues as a plain "
                                "loop, measured again beside it"))
    rows.extend(recurrence(quick))
    return rows


def recurrence(quick: bool = False) -> list[Row]:
    """Case 2: 100 queues × 8760 bins: compiled feedback loops (numba when installed)
    against a plain Python loop and the same loop hand-written with numba."""
    queues, bins = (5, 300) if quick else (100, 8760)
    model, plan = engine_model(nodes=2 * queues + 10, bins=bins, queues=queues)
    evaluate_model(model, 1)  # compile or load the loops once
    engine_ms = median(repeat(lambda: evaluate_model(model, 1), 5))
    base_ms = median(repeat(lambda: baseline(model, plan, 1), 3))
    speedup = base_ms / engine_ms if engine_ms else float("inf")
    rows = [Row(f"recurrence {queues} queues×{bins}", "median ms", engine_ms, base_ms,
                "≥ 20× the plain loop", quick or speedup >= 20,
                note=f"speed-up {speedup:.1f}× vs plain Python loop")]
    loop = _numba_queue()
    if loop is not None:
        baseline(model, plan, 1, loop)  # JIT the hand-written loop first
        numba_ms = median(repeat(lambda: baseline(model, plan, 1, loop), 5))
        rows.append(Row(f"recurrence {queues} queues×{bins} vs numba", "median ms", engine_ms,
                        numba_ms, "≤ 2× hand-written numba", quick or engine_ms <= 2 * numba_ms,
                        note="baseline: numpy + the queue loop in @njit"))
        rows.extend(_first_use(queues, bins))
    return rows


_FIRST_USE = """
import time
from benchmarks.models import engine_model
from flowtime.domain.evaluate.engine import evaluate_model
model, _ = engine_model(nodes={nodes}, bins={bins}, queues={queues})
start = time.perf_counter()
evaluate_model(model, 1)
print((time.perf_counter() - start) * 1000)
"""


def _first_use(queues: int, bins: int) -> list[Row]:
    """A new process with an empty cache compiles the loops; a second one loads them."""
    import os
    import subprocess
    import sys
    import tempfile

    code = _FIRST_USE.format(nodes=2 * queues + 10, bins=bins, queues=queues)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "FLOWTIME_CACHE_DIR": cache, "PYTHONPATH": os.getcwd()}
        runs = [float(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                     capture_output=True, text=True).stdout)
                for _ in range(2)]
    return [Row("recurrence first evaluation, new process, empty cache", "ms", runs[0],
                None, "report (one-time JIT)", True, note="numba compiles the loop"),
            Row("recurrence first evaluation, second process", "ms", runs[1], runs[0],
                "no second compile", runs[1] < runs[0] / 2,
                note="loaded from the on-disk cache")]
