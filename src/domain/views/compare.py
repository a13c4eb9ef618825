"""Comparing runs (`GET /v1/runs/compare`, `flowtime runs compare`): which parameters
differ, and per series the mean, max, p95 and last value in each run, with the series
aligned on the common grid."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowtime.domain.errors import Problem, invalid

MAX_RUNS = 5
SETTINGS = (("seed", "seed"), ("rng", "rng_kind"), ("pmfMode", "pmf_mode"))


@dataclass(frozen=True, slots=True)
class Summary:
    mean: float | None
    max: float | None
    p95: float | None
    last: float | None


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def summarise(values: np.ndarray) -> Summary:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Summary(None, None, None, _number(values[-1]) if values.size else None)
    return Summary(_number(finite.mean()), _number(finite.max()),
                   _number(float(np.percentile(finite, 95))), _number(values[-1]))


@dataclass(frozen=True, slots=True)
class SeriesComparison:
    id: str
    differs: bool
    summaries: dict[str, Summary]  # run id -> summary
    values: dict[str, list[float | None]] | None  # run id -> aligned values


@dataclass(frozen=True, slots=True)
class Comparison:
    runs: list[dict[str, Any]]  # run id, template id, created
    parameters: dict[str, dict[str, Any]]  # name -> run id -> value (absent: not set)
    differing_parameters: list[str]
    series: list[SeriesComparison]
    only_in: dict[str, list[str]]  # run id -> series no other run has
    # how each run drew its random numbers: seed, rng, pmfMode -> run id -> value
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    differing_settings: list[str] = field(default_factory=list)


def distinct_ids(ids: list[str]) -> list[str]:
    """The ids as given, trimmed, blanks dropped, a repeated id kept once."""
    return list(dict.fromkeys(i.strip() for i in ids if i.strip()))


def check_ids(ids: list[str]) -> list[str]:
    """2–5 run ids as given (a repeated id is compared once)."""
    given = distinct_ids(ids)
    if not 2 <= len(given) <= MAX_RUNS:
        raise invalid([Problem("ids", f"give 2 to {MAX_RUNS} different run ids, "
                               f"comma-separated (got {len(given)} different)")])
    return given


def compare(runs: list[tuple[Any, dict[str, np.ndarray]]], with_values: bool = True,
            only: list[str] | None = None) -> Comparison:
    """`runs`: (RunRecord, series by node id) per run, in the order asked."""
    bins = {r.grid.bins for r, _ in runs}
    sizes = {(r.grid.bin_size, r.grid.bin_unit) for r, _ in runs}
    if len(sizes) > 1:
        raise invalid([Problem("ids", "the runs use different bin sizes; they cannot be "
                               "aligned")])
    length = min(bins)
    names = sorted({n for r, _ in runs for n in r.parameters})
    parameters = {n: {r.run_id: r.parameters[n] for r, _ in runs if n in r.parameters}
                  for n in names}
    differing = [n for n, by_run in parameters.items()
                 if len(by_run) != len(runs) or len({repr(v) for v in by_run.values()}) > 1]
    shared = set.intersection(*(set(s) for _, s in runs))
    wanted = [n for n in runs[0][1] if n in shared and (only is None or n in only)]
    series = []
    for name in wanted:
        aligned = {r.run_id: s[name][:length] for r, s in runs}
        first = next(iter(aligned.values()))
        differs = any(not np.array_equal(first, v, equal_nan=True) for v in aligned.values())
        series.append(SeriesComparison(
            name, differs, {k: summarise(v) for k, v in aligned.items()},
            {k: [_number(x) for x in v.tolist()] for k, v in aligned.items()}
            if with_values else None))
    settings = {name: {r.run_id: getattr(r, attribute) for r, _ in runs}
                 for name, attribute in SETTINGS}
    differing_settings = [n for n, by_run in settings.items()
                          if len({repr(v) for v in by_run.values()}) > 1]
    only_in = {r.run_id: sorted(set(s) - set.union(*(set(o) for q, o in runs if q is not r)))
               for r, s in runs}
    return Comparison([{"runId": r.run_id, "templateId": r.template_id,
                        "createdUtc": r.created_utc, "bins": r.grid.bins} for r, _ in runs],
                      parameters, differing, series, {k: v for k, v in only_in.items() if v},
                      settings, differing_settings)
