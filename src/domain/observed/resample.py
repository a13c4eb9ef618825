"""Raw samples onto the grid (MODELING §8), vectorised with numpy (1 M samples in well under
a second; benchmarks/).

- Counter: every increase between consecutive samples (later − earlier, or the later value
  itself when it dropped: a reset) belongs to the bin holding the later sample; the first
  sample only sets the base, so the bins sum to the total increase. A bin holding no
  sample is a gap.
- Gauge: each sample holds until the next one or for at most five minutes, whichever is
  first. `mean` is the time-weighted mean over the covered part of the bin (cumulative
  integrals read at the bin edges); `last`, `max`, `sum` take the samples inside the bin.
  A bin with nothing held (mean) or no sample (the others) is a gap.
- Gaps are NaN, then filled by the policy (`none | zero | previous | linear`); one
  `data_gap` warning per run of gap bins names them and says how they were filled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowtime.domain.errors import Problem, invalid
from flowtime.domain.observed.samples import LOOKBACK_SECONDS, GridSpec, Samples, SeriesSpec
from flowtime.domain.runs import RunWarning

MAX_GAP_WARNINGS = 20  # the rest are summarised in one more warning


@dataclass(frozen=True, slots=True)
class Resampled:
    values: np.ndarray  # one per bin; NaN where a gap was left unfilled
    warnings: list[RunWarning]


GAUGE_MEAN = SeriesSpec()


def resample(samples: Samples, grid: GridSpec, spec: SeriesSpec = GAUGE_MEAN,
             name: str = "series") -> Resampled:
    spec = spec.checked()
    if samples.on_grid:
        if len(samples.values) < grid.bins:
            raw = np.full(grid.bins, np.nan)
            raw[:len(samples.values)] = samples.values
        else:
            raw = samples.values[:grid.bins].astype(np.float64, copy=True)
        raw[~np.isfinite(raw)] = np.nan
    else:
        times, values = _clean(samples)
        if spec.type == "counter":
            raw = _counter(times, values, grid)
        elif spec.aggregation == "mean":
            raw = _gauge_mean(times, values, grid)
        else:
            raw = _gauge_inside(times, values, grid, spec.aggregation)
    return fill_gaps(raw, spec.fill, name)


def _clean(samples: Samples) -> tuple[np.ndarray, np.ndarray]:
    """Finite samples in time order; of samples at the same instant the last one counts."""
    t, v = samples.times, samples.values
    keep = np.isfinite(t) & np.isfinite(v)
    t, v = t[keep], v[keep]
    if len(t) > 1 and np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
    if len(t) > 1:
        last = np.r_[t[1:] != t[:-1], True]
        t, v = t[last], v[last]
    return t, v


def _bin_of(times: np.ndarray, grid: GridSpec) -> np.ndarray:
    """Each time's bin index (−1 or ≥ bins outside the grid)."""
    return np.floor((times - grid.start) / grid.bin_seconds).astype(np.int64)


def _counts(index: np.ndarray, bins: int) -> np.ndarray:
    inside = (index >= 0) & (index < bins)
    return np.bincount(index[inside], minlength=bins)


def _counter(times: np.ndarray, values: np.ndarray, grid: GridSpec) -> np.ndarray:
    bins = grid.bins
    index = _bin_of(times, grid)
    held = _counts(index, bins)
    out = np.zeros(bins)
    if len(values) > 1:
        increase = np.diff(values)
        reset = increase < 0
        increase[reset] = values[1:][reset]
        later = index[1:]
        inside = (later >= 0) & (later < bins)
        out = np.bincount(later[inside], weights=increase[inside], minlength=bins)
    out = out.astype(np.float64)
    out[held == 0] = np.nan
    return out


def _gauge_mean(times: np.ndarray, values: np.ndarray, grid: GridSpec) -> np.ndarray:
    if len(times) == 0:
        return np.full(grid.bins, np.nan)
    t = times - grid.start  # relative times keep the cumulative sums small
    ends = np.minimum(np.r_[t[1:], np.inf], t + LOOKBACK_SECONDS)
    held = ends - t
    covered = np.cumsum(held)
    integral = np.cumsum(held * values)
    points = np.empty(2 * len(t))
    points[0::2], points[1::2] = t, ends
    cum_c = np.empty_like(points)
    cum_f = np.empty_like(points)
    cum_c[0::2], cum_c[1::2] = covered - held, covered
    cum_f[0::2], cum_f[1::2] = integral - held * values, integral
    edges = np.arange(grid.bins + 1, dtype=np.float64) * grid.bin_seconds
    c = np.diff(np.interp(edges, points, cum_c))
    f = np.diff(np.interp(edges, points, cum_f))
    out = np.full(grid.bins, np.nan)
    some = c > 1e-9 * grid.bin_seconds
    out[some] = f[some] / c[some]
    return out


def _gauge_inside(times: np.ndarray, values: np.ndarray, grid: GridSpec,
                  aggregation: str) -> np.ndarray:
    bins = grid.bins
    index = _bin_of(times, grid)
    inside = (index >= 0) & (index < bins)
    index, values = index[inside], values[inside]
    out = np.full(bins, np.nan)
    if len(index) == 0:
        return out
    if aggregation == "sum":
        total = np.bincount(index, weights=values, minlength=bins)
        held = np.bincount(index, minlength=bins) > 0
        out[held] = total[held]
        return out
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    chosen = index[starts]
    if aggregation == "max":
        out[chosen] = np.maximum.reduceat(values, starts)
    else:  # last
        ends = np.r_[starts[1:], len(index)] - 1
        out[chosen] = values[ends]
    return out


def gap_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """[(first, last)] of each run of NaN bins."""
    missing = np.isnan(values).astype(np.int8)
    change = np.diff(np.r_[0, missing, 0])
    starts = np.flatnonzero(change == 1)
    stops = np.flatnonzero(change == -1) - 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def fill_gaps(values: np.ndarray, fill: str, name: str) -> Resampled:
    runs = gap_runs(values)
    out = values.copy()
    if not runs:
        return Resampled(out, [])
    known = np.flatnonzero(~np.isnan(values))
    if fill == "zero":
        out[np.isnan(out)] = 0.0
    elif fill == "previous" and len(known):
        # the last known value at or before each bin (bins before the first stay empty)
        last = np.maximum.accumulate(np.where(np.isnan(values), -1, np.arange(len(values))))
        has = last >= 0
        out[has] = values[last[has]]
    elif fill == "linear" and len(known):
        # straight lines between known bins; before the first / after the last, held flat
        missing = np.isnan(values)
        out[missing] = np.interp(np.flatnonzero(missing), known, values[known])
    elif fill not in ("none", "previous", "linear", "zero"):
        raise invalid([Problem("fill", f"unknown fill '{fill}'")])
    warnings = []
    shown = runs if len(runs) <= MAX_GAP_WARNINGS else runs[:MAX_GAP_WARNINGS - 1]
    for first, last in shown:
        span = f"bin {first}" if first == last else f"bins {first}–{last}"
        left = bool(np.isnan(out[first:last + 1]).any())
        how = "left empty" if fill == "none" or left else f"filled ({fill})"
        warnings.append(RunWarning(
            "data_gap", f"{name}: {span} have no samples; {how}" if first != last
            else f"{name}: {span} has no samples; {how}", node_id=name,
            bins=tuple(range(first, last + 1))))
    if len(shown) < len(runs):
        rest = runs[len(shown):]
        count = sum(b - a + 1 for a, b in rest)
        warnings.append(RunWarning(
            "data_gap", f"{name}: {len(rest)} more gap ranges ({count} bins) from bin "
            f"{rest[0][0]}", node_id=name, bins=tuple(a for a, _ in rest)))
    return Resampled(out, warnings)
