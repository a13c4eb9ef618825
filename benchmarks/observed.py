"""Case: observed data (issue 38) — resampling 1 M raw samples onto 8,760 hourly bins
(counter and time-weighted gauge; pandas' resample of the same samples as the baseline,
measured in the same run), and a 3-knob calibration of it-system against 288 observed bins
(evaluations per second reported)."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import Row, median, repeat
from flowtime.domain.observed.resample import resample
from flowtime.domain.observed.samples import GridSpec, Samples, SeriesSpec


def _samples(count: int, bins: int) -> Samples:
    rng = np.random.default_rng(1)
    span = bins * 3600.0
    times = np.sort(rng.uniform(0, span, count))
    values = np.cumsum(rng.poisson(3.0, count)).astype(np.float64)
    values[count // 2:] -= values[count // 2]  # one reset
    return Samples(times, values)


def _pandas(samples: Samples) -> float | None:
    try:
        import pandas as pd
    except ImportError:
        return None
    index = pd.to_datetime(samples.times, unit="s")

    def go() -> None:
        series = pd.Series(samples.values, index=index)
        increase = series.diff()
        increase[increase < 0] = series[increase < 0]
        increase.resample("1h").sum()

    return median(repeat(go, 3))


def _calibration(quick: bool) -> Row:
    from flowtime.adapters.templates.directory import DirectoryTemplateSource, shipped_templates_dir
    from flowtime.domain.observed.calibrate import FitKnob, Observation, calibrate
    from flowtime.domain.services.analysis import Study

    bins = 48 if quick else 288
    demand = [40 + 25 * np.sin(i / bins * 2 * np.pi) ** 2 for i in range(bins)]
    template = DirectoryTemplateSource(shipped_templates_dir()).get("it-system")
    params = {"bins": bins, "demandProfile": demand}
    truth = {"billingCapacity": 47.0, "errorRate": 0.05, "replayRate": 1.5}
    made = Study(template, params, pmf_mode="expected").evaluate(truth)
    observed = [Observation(name, np.asarray(made[name])) for name in
                ("billed", "billingBacklog", "failed_orders_queue") if name in made]
    knobs = [FitKnob("billingCapacity", 10, 100, 30), FitKnob("errorRate", 0, 0.2, 0.1),
             FitKnob("replayRate", 0, 10, 5)]
    study = Study(template, params, pmf_mode="expected")
    start = time.perf_counter()
    result = calibrate(study, knobs, observed, max_evaluations=400)
    seconds = time.perf_counter() - start
    error = max(abs(result.values[k] - v) / v for k, v in truth.items())
    return Row(f"calibrate it-system, 3 knobs, {bins} observed bins", "s", seconds, None,
               "≤ 5 s", quick or seconds <= 5.0,
               note=f"{result.evaluations} evaluations, {result.evaluations / seconds:.0f}/s; "
                    f"loss {result.loss:.2g}; worst knob error {error:.1e}")


def run(quick: bool = False) -> list[Row]:
    count, bins = (50_000, 876) if quick else (1_000_000, 8760)
    samples = _samples(count, bins)
    grid = GridSpec(0.0, bins, 3600.0)
    counter = median(repeat(lambda: resample(samples, grid, SeriesSpec("counter")), 5))
    gauge = median(repeat(lambda: resample(samples, grid, SeriesSpec("gauge")), 5))
    baseline = _pandas(samples)
    return [
        Row(f"resample {count:,} counter samples → {bins:,} bins", "ms", counter, baseline,
            "≤ 1000 ms", quick or counter <= 1000,
            note="baseline: pandas diff + resample('1h').sum() of the same samples"),
        Row(f"resample {count:,} gauge samples (time-weighted mean)", "ms", gauge, baseline,
            "≤ 1000 ms", quick or gauge <= 1000),
        _calibration(quick),
    ]
