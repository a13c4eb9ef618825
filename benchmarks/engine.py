"""Cases 1 and 2: engine evaluation against hand-written numpy and a plain Python loop."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from benchmarks.common import Row, median, repeat
from benchmarks.models import engine_model
from flowtime.domain.engine import evaluate_model
from flowtime.domain.random import node_uniforms, sample_pmf


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


def baseline(model, plan, seed: int) -> dict[str, np.ndarray]:
    """The same arithmetic written by hand with numpy (queues as a plain loop)."""
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
        Row(f"engine {nodes}×{bins}", "median ms", engine_ms, base_ms, "≤ 2× numpy, < 1000 ms",
            quick or (engine_ms <= 2 * base_ms and engine_ms < 1000)),
        Row(f"engine {nodes}×{bins} memory", "peak MB", peak / 1e6, output_mb,
            "context: peak vs output arrays", True, note="tracemalloc peak"),
    ]
    rows.append(recurrence(quick))
    return rows


def recurrence(quick: bool = False) -> Row:
    """Case 2: 100 queues × 8760 bins, compiled feedback loop vs a plain Python loop."""
    queues, bins = (5, 300) if quick else (100, 8760)
    model, plan = engine_model(nodes=2 * queues + 10, bins=bins, queues=queues)
    start = time.perf_counter()
    evaluate_model(model, 1)
    engine_ms = median(repeat(lambda: evaluate_model(model, 1), 3))
    base_ms = median(repeat(lambda: baseline(model, plan, 1), 3))
    del start
    speedup = base_ms / engine_ms if engine_ms else float("inf")
    return Row(f"recurrence {queues} queues×{bins}", "median ms", engine_ms, base_ms,
               "report speed-up vs plain loop", True, note=f"speed-up {speedup:.2f}×")
