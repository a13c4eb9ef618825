"""Case: a forecast of it-system (288 bins) with 1,000 samples — a prior on the billing
capacity, PMF spikes sampled per seed — end to end through the forecast service (build,
batches, breach and quantile summaries), against 1,000 single evaluations as the baseline
measured in the same run. Local only: the Dask executor does not run forecasts yet."""

from __future__ import annotations

import time

from benchmarks.common import Row
from flowtime.adapters.templates.directory import DirectoryTemplateSource, shipped_templates_dir
from flowtime.domain.risk.forecast import run_forecast
from flowtime.domain.services.analysis import Study


def run(quick: bool = False) -> list[Row]:
    samples = 100 if quick else 1000
    template = DirectoryTemplateSource(shipped_templates_dir()).get("it-system")
    params = {"bins": 288, "demandProfile": [40 + (i % 48) for i in range(288)]}
    priors = [("billingCapacity", {"kind": "normal", "mean": 42, "sd": 4})]
    run_forecast(Study(template, params), priors, 10)  # warm: imports, caches
    start = time.perf_counter()
    result = run_forecast(Study(template, params), priors, samples, seed=1)
    seconds = time.perf_counter() - start
    study = Study(template, params)
    start = time.perf_counter()
    for i in range(samples):
        study.evaluate({"billingCapacity": 42.0}, seed=1 + i)
    baseline = time.perf_counter() - start
    breach = result.sla.get("Billing")
    return [Row(f"forecast it-system, {samples} samples × 288 bins", "s", seconds, baseline,
                "≤ 2 s", quick or seconds <= 2.0,
                note=f"{samples / seconds:,.0f} samples/s (baseline: one evaluation per "
                     f"sample); P(Billing breach) {breach.any_breach:.2f}" if breach else "")]
