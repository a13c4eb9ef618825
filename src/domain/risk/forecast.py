"""A forecast (MODELING §9): many samples of one compiled model — PMF nodes sampled as a run
with seed + i would, knob priors drawn per sample, demand paths from a Holt–Winters
forecast — evaluated as batches (`batch.evaluate_batch`, one knob value per row through a
(rows × bins) override), and summarised without keeping more than the quantiles need:

- per series and bin, the quantiles asked (numpy's linear method);
- per node with an SLA, the probability per bin that latency (queue / served × bin) exceeds
  it — work waiting while nothing is served counts as a breach — the probability of any
  breach, and the p10/p50/p90 of the first breach bin over **all** samples (numpy's
  inverted-CDF method: always a bin that happened), a sample that never breaches counting
  as "after the horizon" (a quantile that lands there is null; `neverCount` says how many),
  and `breachedBy` — the probability that the first breach came by each bin;
- per node with a WIP limit, the probability per bin that work overflows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowtime.domain.compile import derived
from flowtime.domain.errors import FlowTimeError, Problem, invalid
from flowtime.domain.evaluate.batch import evaluate_batch, samples_per_batch
from flowtime.domain.risk.demand import DemandForecast, forecast_demand
from flowtime.domain.risk.priors import Prior, draw, prior_from
from flowtime.domain.services.analysis import Study

MAX_SAMPLES = 100_000
MAX_QUANTILE_VALUES = 50_000_000  # samples × bins × series kept for the quantiles
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)
CHUNK = 250  # samples per progress step (a batch is at most this, and within its memory bound)


@dataclass(frozen=True, slots=True)
class DemandSpec:
    node: str  # the const node (or expression reading nothing) the forecast feeds
    history: np.ndarray
    season: int | None = None  # bins per season; default: the bins of one day


@dataclass(frozen=True, slots=True)
class SlaRisk:
    sla_minutes: float
    breach_probability: list[float]
    any_breach: float
    first_breach: dict[str, int | None]  # "p10" … → bin, None when after the horizon
    never_count: int
    breached_by: list[float] = field(default_factory=list)  # P(first breach ≤ bin t)


@dataclass(frozen=True, slots=True)
class ForecastResult:
    samples: int
    quantiles: dict[str, dict[str, list[float | None]]]
    sla: dict[str, SlaRisk]
    overflow: dict[str, list[float]]
    demand: dict[str, Any] | None = None
    priors: dict[str, dict[str, float]] = field(default_factory=dict)  # knob → mean/p10/p90
    bin_seconds: float = 0.0  # the grid's bin (first-breach bins → seconds)


def quantile_key(q: float) -> str:
    """`p` + the percent: 0.1 → p10, 0.975 → p97.5."""
    percent = round(q * 100, 6)
    return f"p{int(percent)}" if percent == int(percent) else f"p{percent:g}"


def checked(study: Study, priors: Sequence[tuple[str, Mapping[str, Any]]], samples: int,
            quantiles: Sequence[float], series: Sequence[str] | None,
            demand: DemandSpec | None = None) -> tuple[list[tuple[Prior, Any]], list[str]]:
    """The request's priors (with their knobs) and the series kept, or every problem."""
    model = study.model
    bins = model.grid.bins
    problems: list[Problem] = []
    if not 1 <= samples <= MAX_SAMPLES:
        problems.append(Problem("samples", f"must be 1…{MAX_SAMPLES}"))
    if not quantiles or len(quantiles) > 20 or any(not 0 <= q <= 1 for q in quantiles):
        problems.append(Problem("quantiles", "1…20 numbers in [0, 1]"))
    chosen: list[tuple[Prior, Any]] = []
    for i, (knob_id, dist) in enumerate(priors):
        try:
            knob = study.knob(knob_id, f"priors[{i}].knob")
            prior = prior_from(knob_id, dist, f"priors[{i}].dist")
        except FlowTimeError as exc:
            problems.extend(exc.problems)
            continue
        if knob.rebuild or knob.kind == "classRate" or not knob.nodes:
            problems.append(Problem(f"priors[{i}].knob", f"'{knob_id}' changes the model's "
                                    "structure, so it cannot vary within one batch: give the "
                                    "parameter a node of its own (expr: \"${" + knob_id +
                                    "}\") or put the prior on a const node"))
            continue
        chosen.append((prior, knob))
    if len({p.knob for p, _ in chosen}) != len(chosen):
        problems.append(Problem("priors", "each knob at most once"))
    if problems:
        raise invalid(problems, "invalid forecast")
    base = study.evaluate({})
    names = _series(study, base, series, demand)
    if samples * bins * max(len(names), 1) > MAX_QUANTILE_VALUES:
        raise FlowTimeError(_too_large(), "forecast too large", [Problem(
            "samples", f"{samples} samples × {bins} bins × {len(names)} series is over "
            f"{MAX_QUANTILE_VALUES:,} values: ask fewer series or samples")])
    return chosen, names


@dataclass(frozen=True)
class Prepared:
    """What every chunk of samples needs, decided once (and picklable, so a chunk can run
    in another process or on a Dask worker that builds the same model)."""

    priors: list[tuple[Prior, Any]]  # (prior, its knob)
    names: list[str]  # the series whose quantiles are kept
    slas: list[tuple[str, float, str, str]]  # (node, SLA minutes, queue, served)
    overflows: list[tuple[str, str]]  # (node, its overflow series)
    bins: int
    bin_ms: float
    seed: int
    samples: int
    quantiles: tuple[float, ...]
    forecast: DemandForecast | None = None
    demand_node: str = ""
    demand_nodes: tuple[str, ...] = ()


@dataclass
class Chunk:
    """The evaluation of samples `start` … `start + n − 1`, summarised."""

    start: int
    count: int
    kept: dict[str, np.ndarray]  # series → count × bins
    breach_counts: dict[str, np.ndarray]
    first_breach: dict[str, np.ndarray]
    overflow_counts: dict[str, np.ndarray]
    drawn: dict[str, np.ndarray]


def prepare(study: Study, priors: Sequence[tuple[str, Mapping[str, Any]]], samples: int,
            seed: int = 1, quantiles: Sequence[float] = DEFAULT_QUANTILES,
            series: Sequence[str] | None = None, demand: DemandSpec | None = None) -> Prepared:
    model = study.model
    bins = model.grid.bins
    chosen, names = checked(study, priors, samples, quantiles, series, demand)
    forecast: DemandForecast | None = None
    demand_nodes: tuple[str, ...] = ()
    if demand is not None:
        knob = study.knobs.get(demand.node)
        if knob is None or knob.kind != "node":
            raise invalid([Problem("demand.node", f"'{demand.node}' is not a const node (or "
                                   "an expression reading nothing) the forecast can feed")])
        season = demand.season or max(2, round(1440 / model.grid.bin_minutes))
        forecast = forecast_demand(demand.history, season, bins)
        demand_nodes = knob.nodes
    slas = [(c.id, float(c.sla_minutes), str(c.metrics["queue"]), str(c.metrics["served"]))
            for c in model.plan.components
            if c.sla_minutes and c.sla_minutes > 0 and c.metrics.get("queue")
            and c.metrics.get("served")]
    overflows = [(c.id, str(c.overflow)) for c in model.plan.components if c.overflow]
    return Prepared(chosen, names, slas, overflows, bins, model.grid.bin_minutes * 60_000.0,
                    seed, samples, tuple(quantiles), forecast,
                    demand.node if demand else "", demand_nodes)


def chunks(prepared: Prepared, model: Any) -> list[tuple[int, int]]:
    """(start, count) of each chunk of samples: at most CHUNK, within a batch's memory."""
    size = max(1, min(CHUNK, samples_per_batch(model)))
    return [(start, min(size, prepared.samples - start))
            for start in range(0, prepared.samples, size)]


def evaluate_rows(study: Study, prepared: Prepared, start: int, count: int) -> Chunk:
    """Samples start … start + count − 1 as one batch, summarised."""
    if study.guard is not None:
        study.guard.check()
    bins, seed = prepared.bins, prepared.seed
    rows = list(range(start, start + count))
    overrides: dict[str, np.ndarray] = {}
    drawn: dict[str, np.ndarray] = {}
    for prior, knob in prepared.priors:
        values = draw(prior, seed, rows, knob.minimum, knob.maximum)
        if knob.type == "integer":
            values = np.round(values)
        drawn[prior.knob] = values
        for node in knob.nodes:
            overrides[node] = np.repeat(values[:, None], bins, axis=1)
    if prepared.forecast is not None:
        paths = prepared.forecast.paths(seed, rows, prepared.demand_node)
        for node in prepared.demand_nodes:
            overrides[node] = paths
    batch = evaluate_batch(study.model, [seed + i for i in rows], overrides,
                           pmf_mode=study.pmf_mode)
    study.evaluations += count
    kept = {name: batch[name] for name in prepared.names}
    breach_counts, first_breach = {}, {}
    for node_id, sla, queue_name, served_name in prepared.slas:
        queue, served = batch[queue_name], batch[served_name]
        latency = derived.latency_minutes(derived.queue_time_ms(queue, served,
                                                                prepared.bin_ms))
        assert latency is not None
        stuck = ~np.isfinite(latency) & (np.nan_to_num(queue) > 0)
        breach = (np.nan_to_num(latency, nan=0.0) > sla) | stuck
        breach_counts[node_id] = breach.sum(axis=0).astype(np.float64)
        first_breach[node_id] = np.where(breach.any(axis=1), np.argmax(breach, axis=1),
                                         np.inf)
    overflow_counts = {node_id: (np.nan_to_num(batch[name]) > 0).sum(axis=0).astype(np.float64)
                       for node_id, name in prepared.overflows}
    return Chunk(start, count, kept, breach_counts, first_breach, overflow_counts, drawn)


def merge(prepared: Prepared, parts: Sequence[Chunk]) -> ForecastResult:
    """One result from every chunk (in any order)."""
    ordered = sorted(parts, key=lambda c: c.start)
    samples, bins = prepared.samples, prepared.bins
    if sum(c.count for c in ordered) != samples:
        raise FlowTimeError(_internal(), "a forecast chunk is missing",
                            [Problem("samples", "not every sample was evaluated")])
    keys = [quantile_key(q) for q in prepared.quantiles]
    quantile_out: dict[str, dict[str, list[float | None]]] = {}
    for name in prepared.names:
        stacked = np.concatenate([c.kept[name] for c in ordered])
        with np.errstate(all="ignore"):
            values = np.nanquantile(stacked, list(prepared.quantiles), axis=0)
        quantile_out[name] = {k: [v if math.isfinite(v) else None for v in row.tolist()]
                              for k, row in zip(keys, values, strict=True)}
    sla_out = {}
    for node_id, sla, *_ in prepared.slas:
        firsts = np.concatenate([c.first_breach[node_id] for c in ordered])
        counts = np.sum([c.breach_counts[node_id] for c in ordered], axis=0)
        never = int(np.isinf(firsts).sum())
        marks = {}
        for q in (0.1, 0.5, 0.9):
            # a bin that happened (inverted CDF, no interpolation towards "never")
            value = float(np.quantile(firsts, q, method="inverted_cdf"))
            marks[quantile_key(q)] = math.floor(value) if math.isfinite(value) else None
        finite = firsts[np.isfinite(firsts)].astype(np.int64)
        by = np.cumsum(np.bincount(finite, minlength=bins)[:bins]) / samples
        sla_out[node_id] = SlaRisk(sla, (counts / samples).tolist(),
                                   float(np.mean(~np.isinf(firsts))), marks, never,
                                   by.tolist())
    demand_out = None
    if prepared.forecast is not None:
        forecast = prepared.forecast
        low, high = forecast.band()
        demand_out = {"node": prepared.demand_node, "season": forecast.season,
                      "historyBins": forecast.history_bins, "sigma": forecast.sigma,
                      "mean": forecast.mean.tolist(), "p10": np.maximum(low, 0).tolist(),
                      "p90": high.tolist()}
    prior_out = {}
    for prior, _ in prepared.priors:
        drawn = np.concatenate([c.drawn[prior.knob] for c in ordered])
        prior_out[prior.knob] = {"mean": float(np.mean(drawn)),
                                 "p10": float(np.quantile(drawn, 0.1)),
                                 "p90": float(np.quantile(drawn, 0.9))}
    overflow = {node_id: (np.sum([c.overflow_counts[node_id] for c in ordered], axis=0)
                          / samples).tolist() for node_id, _ in prepared.overflows}
    return ForecastResult(samples, quantile_out, sla_out, overflow, demand_out, prior_out,
                          prepared.bin_ms / 1000.0)


def run_forecast(study: Study, priors: Sequence[tuple[str, Mapping[str, Any]]], samples: int,
                 seed: int = 1, quantiles: Sequence[float] = DEFAULT_QUANTILES,
                 series: Sequence[str] | None = None, demand: DemandSpec | None = None,
                 progress: Callable[[int, int], None] | None = None) -> ForecastResult:
    """The whole forecast here, chunk after chunk (see ForecastService for other places)."""
    prepared = prepare(study, priors, samples, seed, quantiles, series, demand)
    parts = []
    for start, count in chunks(prepared, study.model):
        parts.append(evaluate_rows(study, prepared, start, count))
        if progress is not None:
            progress(start + count, samples)
    return merge(prepared, parts)


def _internal() -> Any:
    from flowtime.domain.errors import ErrorKind

    return ErrorKind.INTERNAL


def _too_large() -> Any:
    from flowtime.domain.errors import ErrorKind

    return ErrorKind.TOO_LARGE


def _series(study: Study, base: Mapping[str, np.ndarray], asked: Sequence[str] | None,
            demand: DemandSpec | None) -> list[str]:
    """The series whose quantiles are kept: those asked, else each node's queue and
    served (and the demand node)."""
    if asked:
        found = []
        for i, name in enumerate(asked):
            try:
                found.append(study.series_name(name, base))
            except FlowTimeError as exc:
                raise invalid([Problem(f"series[{i}]", p.msg) for p in exc.problems]) from None
        return list(dict.fromkeys(found))
    names = [demand.node] if demand is not None else []
    for component in study.model.plan.components:
        for metric in ("queue", "served"):
            name = component.metrics.get(metric)
            if name and name in base:
                names.append(name)
    return list(dict.fromkeys(names))
