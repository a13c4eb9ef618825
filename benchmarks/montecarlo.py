"""Case: Monte Carlo in one batch (domain/evaluate/batch.py) against one evaluation per seed, for
every shipped template with PMF nodes (all of them have queues)."""

from __future__ import annotations

import statistics
import time

from benchmarks.common import Row
from flowtime.adapters.templates.directory import DirectoryTemplateSource, shipped_templates_dir
from flowtime.domain.evaluate.batch import evaluate_batch
from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.modeling.templates import build_model


def _best(func: object, times: int) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        func()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    return min(samples)


def run(quick: bool = False) -> list[Row]:
    samples, times = (50, 1) if quick else (1000, 3)
    source = DirectoryTemplateSource(shipped_templates_dir())
    ids = sorted(t.id for t in source.list_templates()
                 if "kind: pmf" in (shipped_templates_dir() / f"{t.id}.yaml").read_text())
    seeds = list(range(samples))
    ratios: dict[str, tuple[float, float]] = {}
    for template_id in ids:
        model = build_model(source.get(template_id), {})
        evaluate_batch(model, seeds[:5])
        evaluate_model(model, 0)
        separate = _best(lambda m=model: [evaluate_model(m, s) for s in seeds], times)
        batch = _best(lambda m=model: evaluate_batch(m, seeds), times)
        ratios[template_id] = (separate, batch)
    speedups = {t: s / b for t, (s, b) in ratios.items()}
    worst = min(speedups, key=speedups.get)  # type: ignore[arg-type]
    median_speedup = statistics.median(speedups.values())
    it = ratios.get("it-system", next(iter(ratios.values())))
    return [
        Row(f"monte carlo {samples} samples it-system (batch)", "ms", it[1], it[0],
            "≥ 10× vs one evaluation per seed", quick or it[0] / it[1] >= 10,
            note=f"speed-up {it[0] / it[1]:.1f}×"),
        Row(f"monte carlo {samples} samples, {len(ids)} PMF templates", "slowest speed-up",
            speedups[worst], None, "≥ 10× for every template", quick or speedups[worst] >= 10,
            note=f"slowest {worst}; median {median_speedup:.1f}×; each row bit-identical to "
                 "its single run (tests/unit/test_batch.py)"),
    ]
