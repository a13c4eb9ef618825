"""Case: a forecast of it-system (288 bins) with 1,000 samples — a prior on the billing
capacity, PMF spikes sampled per seed — end to end through the forecast service (build,
batches, breach and quantile summaries), against 1,000 single evaluations as the baseline
measured in the same run; and the same forecast spread over the executors (a process pool,
a Dask LocalCluster) through the forecast service, as a server runs its jobs."""

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
    rows = [Row(f"forecast it-system, {samples} samples × 288 bins", "s", seconds, baseline,
                "≤ 2 s", quick or seconds <= 2.0,
                note=f"{samples / seconds:,.0f} samples/s (baseline: one evaluation per "
                     f"sample); P(Billing breach) {breach.any_breach:.2f}" if breach else "")]
    return rows + [_spread(executor, samples, params, seconds) for executor in ("local", "dask")]


def _spread(executor: str, samples: int, params: dict, here: float) -> Row:
    """The forecast's chunks on an executor (start-up of the pool or cluster included)."""
    import tempfile

    import msgspec

    from flowtime.adapters.forecast_wire import ForecastBody
    from flowtime.container import Settings, build_container

    with tempfile.TemporaryDirectory() as data:
        container = build_container(Settings.from_env({
            "FLOWTIME_DATA_DIR": data, "FLOWTIME_FSYNC": "0", "FLOWTIME_EXECUTOR": executor,
            "FLOWTIME_SWEEP_WORKERS": "2"}))
        service = container.forecasts()
        service.min_chunks = 2
        request = msgspec.convert({"templateId": "it-system", "samples": samples, "seed": 1,
                                   "parameters": params, "priors": [
                                       {"knob": "billingCapacity", "dist": {
                                           "kind": "normal", "mean": 42, "sd": 4}}]},
                                  ForecastBody).request()
        start = time.perf_counter()
        service.execute(request, distributed=True)
        seconds = time.perf_counter() - start
    return Row(f"forecast it-system, {samples} samples on {executor} (2 workers)", "s",
               seconds, here, "report", True,
               note=f"{samples / seconds:,.0f} samples/s, start-up of the workers included "
                    "(baseline: in process)")
