"""Calibration (MODELING §8): knob values that make model series match observed ones.

The loss is computed on the bins kept for fitting (all but the last `holdout`) where the
observation is known. `rmse` minimises the (weighted) residual vector with scipy's bounded
trust-region least squares (`least_squares`, trf), which uses the residuals' structure and
converges in a handful of evaluations; `mae` and `mape` (percent; bins observed as 0 are
skipped) use scipy's bounded Nelder–Mead. scipy is a dependency already and both methods
are well kept, so nothing here is a hand-written optimiser. Every evaluation goes through
the analysis `Study`, so a knob is anything §6 can change (a parameter, a const node, a WIP
limit, a class rate) and the work budget and cancellation apply.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowtime.domain.errors import FlowTimeError, Problem, invalid
from flowtime.domain.services.analysis import Study

LOSSES = ("rmse", "mae", "mape")
DEFAULT_EVALUATIONS = 200
MAX_EVALUATIONS = 5000
MAX_TRACE = 1000


@dataclass(frozen=True, slots=True)
class FitKnob:
    id: str
    lo: float
    hi: float
    start: float | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    series: str  # a model series (MODELING §0 name or bundle id)
    values: np.ndarray  # one per bin; NaN where unknown
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class SeriesFit:
    series: str
    rmse: float | None
    mae: float | None
    mape: float | None
    residuals: list[float | None] = field(default_factory=list)  # model − observed


@dataclass(frozen=True, slots=True)
class HoldoutFit:
    loss: float | None
    per_series: list[SeriesFit]


@dataclass(frozen=True, slots=True)
class TraceStep:
    values: dict[str, float]
    loss: float


@dataclass(frozen=True, slots=True)
class Calibration:
    values: dict[str, float]
    loss: float
    per_series: list[SeriesFit]
    holdout: HoldoutFit | None
    iterations: int
    evaluations: int
    converged: bool
    trace: list[TraceStep]


def _errors(residual: np.ndarray, observed: np.ndarray) -> tuple[float | None, ...]:
    if residual.size == 0:
        return None, None, None
    rmse = float(np.sqrt(np.mean(residual ** 2)))
    mae = float(np.mean(np.abs(residual)))
    nonzero = observed != 0
    mape = float(np.mean(np.abs(residual[nonzero] / observed[nonzero])) * 100) \
        if nonzero.any() else None
    return rmse, mae, mape


def _loss(kind: str, residuals: Sequence[np.ndarray], observed: Sequence[np.ndarray],
          weights: Sequence[float]) -> float | None:
    """The weighted loss over every series' kept bins (rmse, mae, or mape in percent)."""
    total = 0.0
    count = 0.0
    for r, o, w in zip(residuals, observed, weights, strict=True):
        if kind == "mape":
            keep = o != 0
            r, o = r[keep], o[keep]
            total += w * float(np.sum(np.abs(r / o))) * 100
        elif kind == "mae":
            total += w * float(np.sum(np.abs(r)))
        else:
            total += w * float(np.sum(r ** 2))
        count += w * r.size
    if count == 0:
        return None
    return math.sqrt(total / count) if kind == "rmse" else total / count


def calibrate(study: Study, knobs: Sequence[FitKnob], observed: Sequence[Observation],
              loss: str = "rmse", holdout: int = 0,
              max_evaluations: int = DEFAULT_EVALUATIONS) -> Calibration:
    from scipy.optimize import least_squares, minimize  # the CLI starts faster without it

    bins = study.model.grid.bins
    problems: list[Problem] = []
    if loss not in LOSSES:
        problems.append(Problem("loss", f"must be one of {', '.join(LOSSES)}"))
    if not knobs:
        problems.append(Problem("knobs", "name at least one knob"))
    if not observed:
        problems.append(Problem("observed", "bind at least one observed series"))
    if not 0 <= holdout < bins:
        problems.append(Problem("holdout", f"must be 0…{bins - 1} (the grid has {bins} bins)"))
    if not 1 <= max_evaluations <= MAX_EVALUATIONS:
        problems.append(Problem("maxEvaluations", f"must be 1…{MAX_EVALUATIONS}"))
    chosen = []
    for i, knob in enumerate(knobs):
        try:
            found = study.knob(knob.id, f"knobs[{i}].id")
        except FlowTimeError as exc:
            problems.extend(exc.problems)
            continue
        if not (math.isfinite(knob.lo) and math.isfinite(knob.hi)) or knob.lo >= knob.hi:
            problems.append(Problem(f"knobs[{i}]", f"lo ({knob.lo:g}) must be below hi "
                                    f"({knob.hi:g})"))
            continue
        if knob.start is not None and not knob.lo <= knob.start <= knob.hi:
            problems.append(Problem(f"knobs[{i}].start", f"{knob.start:g} is outside "
                                    f"[{knob.lo:g}, {knob.hi:g}]"))
        chosen.append(found)
    if len({k.id for k in knobs}) != len(knobs):
        problems.append(Problem("knobs", "each knob at most once"))
    for i, item in enumerate(observed):
        if item.values.shape != (bins,):
            problems.append(Problem(f"observed[{i}].values", f"{item.values.size} values; the "
                                    f"grid has {bins} bins"))
        if not (math.isfinite(item.weight) and item.weight > 0):
            problems.append(Problem(f"weights.{item.series}", "must be a number > 0"))
    if problems:
        raise invalid(problems, "invalid calibration")
    for knob, found in zip(knobs, chosen, strict=True):
        study.check(found, knob.lo, f"knobs.{knob.id}.lo")
        study.check(found, knob.hi, f"knobs.{knob.id}.hi")
    base = study.evaluate({})
    names = []
    for i, item in enumerate(observed):
        try:
            names.append(study.series_name(item.series, base))
        except FlowTimeError as exc:
            raise invalid([Problem(f"observed[{i}].series", p.msg) for p in exc.problems],
                          "invalid calibration") from None
    fit_end = bins - holdout
    masks = [np.isfinite(o.values) for o in observed]
    fit_masks = [m & (np.arange(bins) < fit_end) for m in masks]
    if not any(m.any() for m in fit_masks):
        raise invalid([Problem("observed", "no observed value falls in the fitted bins")])
    weights = [o.weight for o in observed]
    lows = np.array([k.lo for k in knobs])
    highs = np.array([k.hi for k in knobs])
    trace: list[TraceStep] = []
    cache: dict[tuple[float, ...], list[np.ndarray]] = {}

    def settings(x: np.ndarray) -> dict[str, float]:
        clipped = np.clip(x, lows, highs)
        return {k.id: float(round(v)) if f.type == "integer" else float(v)
                for k, f, v in zip(knobs, chosen, clipped, strict=True)}

    def model_series(x: np.ndarray) -> list[np.ndarray]:
        chosen_settings = settings(x)
        key = tuple(chosen_settings.values())
        if key not in cache:
            values = study.evaluate(chosen_settings)
            cache[key] = [np.asarray(values[n], dtype=np.float64) for n in names]
            fit = _loss(loss, [s[m] - o.values[m] for s, o, m in
                               zip(cache[key], observed, fit_masks, strict=True)],
                        [o.values[m] for o, m in zip(observed, fit_masks, strict=True)],
                        weights)
            if len(trace) < MAX_TRACE:
                trace.append(TraceStep(chosen_settings, float("nan") if fit is None else fit))
        return cache[key]

    def residual_vector(x: np.ndarray) -> np.ndarray:
        series = model_series(x)
        parts = [math.sqrt(w) * (s[m] - o.values[m])
                 for s, o, m, w in zip(series, observed, fit_masks, weights, strict=True)]
        return np.concatenate(parts)

    def scalar_loss(x: np.ndarray) -> float:
        series = model_series(x)
        value = _loss(loss, [s[m] - o.values[m] for s, o, m in
                             zip(series, observed, fit_masks, strict=True)],
                      [o.values[m] for o, m in zip(observed, fit_masks, strict=True)], weights)
        return math.inf if value is None else value

    before = study.evaluations
    starts = _starts(knobs, scalar_loss, max_evaluations)

    def left() -> int:
        return max_evaluations - (study.evaluations - before)

    if loss == "rmse":
        # least squares from the best few probes (a model can have false valleys), then a
        # derivative-free polish: a model is piecewise (MIN, MAX, ROUND, queues filling and
        # draining) and the least-squares step can stop on a kink
        best_x, best_loss, iterations, converged = starts[0], scalar_loss(starts[0]), 0, False
        for i, x0 in enumerate(starts):
            share = left() // (len(starts) - i)
            if share < 2 * (len(knobs) + 1):
                break
            result = least_squares(residual_vector, x0, bounds=(lows, highs), method="trf",
                                   max_nfev=share, x_scale="jac")
            iterations += int(result.nfev)
            value = scalar_loss(result.x)
            if value < best_loss or i == 0:
                best_x, best_loss, converged = result.x, value, bool(result.status > 0)
        if left() > 4 * len(knobs) and best_loss > 0:
            polished = _nelder_mead(minimize, scalar_loss, best_x, lows, highs, left(),
                                    span=0.05)
            iterations += int(polished.nit)
            if polished.fun < best_loss:
                best_x = polished.x
    else:
        result = _nelder_mead(minimize, scalar_loss, starts[0], lows, highs, left())
        best_x, iterations, converged = result.x, int(result.nit), bool(result.success)
    best = settings(best_x)
    series = model_series(best_x)
    per_series = [_series_fit(n, s, o.values, m, True)
                  for n, s, o, m in zip(names, series, observed, fit_masks, strict=True)]
    fitted = _loss(loss, [s[m] - o.values[m] for s, o, m in
                          zip(series, observed, fit_masks, strict=True)],
                   [o.values[m] for o, m in zip(observed, fit_masks, strict=True)], weights)
    held: HoldoutFit | None = None
    if holdout:
        hold_masks = [m & (np.arange(bins) >= fit_end) for m in masks]
        held = HoldoutFit(
            _loss(loss, [s[m] - o.values[m] for s, o, m in
                         zip(series, observed, hold_masks, strict=True)],
                  [o.values[m] for o, m in zip(observed, hold_masks, strict=True)], weights),
            [_series_fit(n, s, o.values, m, False)
             for n, s, o, m in zip(names, series, observed, hold_masks, strict=True)])
    return Calibration(best, float("nan") if fitted is None else fitted, per_series, held,
                       iterations, study.evaluations, converged, trace)


def _nelder_mead(minimize: Any, scalar_loss: Callable[[np.ndarray], float], start: np.ndarray,
                 lows: np.ndarray, highs: np.ndarray, budget: int, span: float = 0.25) -> Any:
    """Bounded Nelder–Mead from `start`, its first simplex reaching `span` of each range."""
    simplex = [start.copy()]
    for i in range(len(start)):
        point = start.copy()
        step = (highs[i] - lows[i]) * span
        point[i] = start[i] + step if start[i] + step <= highs[i] else start[i] - step
        simplex.append(point)
    return minimize(scalar_loss, start, method="Nelder-Mead",
                    bounds=list(zip(lows, highs, strict=True)),
                    options={"maxfev": budget, "xatol": 1e-9, "fatol": 1e-12,
                             "initial_simplex": np.array(simplex)})


def _starts(knobs: Sequence[FitKnob], scalar_loss: Callable[[np.ndarray], float],
            budget: int, keep: int = 3) -> list[np.ndarray]:
    """Where the optimiser starts, best first: the given start (else the middle of the
    bounds) and the best points of a small space-filling probe of the bounds. A model's
    response is often flat in places (a capacity above every arrival changes nothing) or
    has false valleys, where a local method cannot move or stops; probing finds the right
    basins. The probe uses at most a quarter of the budget: 16 points per knob (evenly
    spaced for one knob, a Latin hypercube otherwise)."""
    lows = np.array([k.lo for k in knobs])
    highs = np.array([k.hi for k in knobs])
    given = np.array([k.start if k.start is not None else (k.lo + k.hi) / 2 for k in knobs])
    count = min(16 * len(knobs), budget // 4)
    points = [(scalar_loss(given), 0, given)]
    if count >= 2:
        if len(knobs) == 1:
            design = (np.arange(count) + 0.5)[:, None] / count
        else:
            from scipy.stats import qmc

            design = qmc.LatinHypercube(len(knobs), seed=0).random(count)
        for i, row in enumerate(design, start=1):
            point = lows + row * (highs - lows)
            points.append((scalar_loss(point), i, point))
    points.sort(key=lambda p: (p[0], p[1]))
    return [p[2] for p in points[:keep]]


def _series_fit(name: str, model: np.ndarray, observed: np.ndarray, mask: np.ndarray,
                with_residuals: bool) -> SeriesFit:
    rmse, mae, mape = _errors(model[mask] - observed[mask], observed[mask])
    residuals: list[float | None] = []
    if with_residuals:
        known = np.isfinite(observed)
        residuals = [float(m - o) if k else None
                     for m, o, k in zip(model.tolist(), observed.tolist(), known.tolist(),
                                        strict=True)]
    return SeriesFit(name, rmse, mae, mape, residuals)
