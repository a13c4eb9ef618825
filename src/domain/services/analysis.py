"""Questions asked of a model many times (MODELING §6): sensitivity, goal-seek, optimize.

A `Study` holds one compiled model and evaluates it under knob settings without
re-parsing, re-validating or re-planning:

- a const node id, or an expression node that reads no other node (`expr: "40"`), sets
  that node in every bin (an override of its step);
- `Node.wipLimit` sets the node's WIP-limit series (`{s}_wip_limit`) the same way;
- `node.classId` changes one declared class rate, so the source's class shares;
- a template parameter that stands alone as an expression (`expr: "${cap}"`) and nowhere
  else sets those nodes the same way; any other parameter rebuilds the model from the
  template (typed and bounds-checked like a run; the last few builds are kept).

A metric is any series of the evaluated model (MODELING §0 names, class series as
`x__class_c`; bundle ids `x@X@DEFAULT` / `x@X@c` are accepted too). The statistic is the
mean over bins by default — the only one the reference supports; `sum`, `max`, `p95` and
`last:N` (mean over the last N bins) are ours. With `samples` > 1 every evaluation runs
seeds seed … seed + samples − 1 and the objective is the mean of the statistic over them,
with its standard error (ours).

Optimization uses scipy's bounded Nelder–Mead (a well-kept implementation rather than a
hand-written simplex); constraints are a quadratic penalty added to the objective.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowtime.domain.compile.classes import normalised
from flowtime.domain.errors import FlowTimeError, Problem, invalid
from flowtime.domain.evaluate.batch import evaluate_batches
from flowtime.domain.evaluate.budget import DEFAULT_BUDGET, ModelBudget
from flowtime.domain.evaluate.engine import evaluate_model, reevaluate
from flowtime.domain.evaluate.work import WorkGuard
from flowtime.domain.expressions.ast import references
from flowtime.domain.expressions.vector import as_series, evaluate
from flowtime.domain.modeling.model import ConstNode, ExprNode, Model
from flowtime.domain.modeling.names import class_series_name, is_series_id, model_series_name, snake
from flowtime.domain.modeling.parameters import check_value
from flowtime.domain.modeling.templates import Template, build_model

DEFAULT_PERTURBATION = 0.05
MAX_SAMPLES = 1000
MODEL_CACHE = 8
PENALTY = 1e6


@dataclass(frozen=True, slots=True)
class Knob:
    """Something a question may change. `nodes`: the series a value is written to."""

    id: str
    kind: str  # parameter | node | wipLimit | classRate
    type: str  # number | integer
    minimum: float | None
    maximum: float | None
    base: float
    nodes: tuple[str, ...] = ()
    rebuild: bool = False  # a parameter that needs the model rebuilt
    source: str | None = None  # classRate: the source node
    class_id: str | None = None


@dataclass(frozen=True, slots=True)
class Measure:
    value: float
    stderr: float | None  # None for a single sample
    samples: tuple[float, ...]


def statistic_of(name: str) -> Callable[[np.ndarray], float]:
    """`mean` (default), `sum`, `max`, `p95`, `last:N`."""
    if name == "mean":
        return lambda v: float(np.mean(v))
    if name == "sum":
        return lambda v: float(np.sum(v))
    if name == "max":
        return lambda v: float(np.max(v))
    if name == "p95":
        return lambda v: float(np.percentile(v, 95))
    match = re.fullmatch(r"last:(\d+)", name)
    if match and int(match.group(1)) > 0:
        n = int(match.group(1))
        return lambda v: float(np.mean(v[-n:]))
    raise invalid([Problem("statistic", f"unknown statistic '{name}' (mean, sum, max, p95 or "
                           "last:N with N ≥ 1)")])


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One evaluation of a study and what it was made from (the next one starts here)."""

    model: Model
    overrides: dict[str, np.ndarray]
    shares: dict[str, float]
    values: dict[str, np.ndarray]
    rerun: tuple[str, ...] | None = None  # the series re-run; None: a full evaluation


def _same_series(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return a is b or (a is not None and b is not None and np.array_equal(a, b))


class Study:
    """One model, compiled once, evaluated under many knob settings."""

    def __init__(self, template: Template, parameters: Mapping[str, Any] | None = None,
                 seed: int = 1, pmf_mode: str = "sample", samples: int = 1,
                 budget: ModelBudget = DEFAULT_BUDGET):
        if not 1 <= samples <= MAX_SAMPLES:
            raise invalid([Problem("samples", f"must be 1…{MAX_SAMPLES}, got {samples}")])
        self.template = template
        self.parameters = dict(parameters or {})
        self.seed = seed
        self.pmf_mode = pmf_mode
        self.samples = samples
        self.budget = budget
        self.guard: WorkGuard | None = None  # checked before every evaluation
        self.model = build_model(template, self.parameters, budget)
        self._models: OrderedDict[tuple[Any, ...], Model] = OrderedDict()
        self.last_model = self.model  # the model of the latest evaluation
        self.knobs = self._knobs()
        self.evaluations = 0
        # series that drive every evaluation (observed inputs of a calibration): node → values
        self.inputs: dict[str, np.ndarray] = {}

    # -- knobs --------------------------------------------------------------------------
    def _knobs(self) -> dict[str, Knob]:
        knobs: dict[str, Knob] = {}
        definition = self.model.definition
        resolved = self.model.parameters
        text = self.template.text
        raw_nodes = [n for n in self.template.tree.get("nodes") or [] if isinstance(n, dict)]
        for p in self.template.parameters:
            if p.type not in ("number", "integer"):
                continue
            token = "${" + p.name + "}"
            alone = tuple(str(n.get("id")) for n in raw_nodes if n.get("expr") == token)
            fast = bool(alone) and text.count(token) == len(alone)
            knobs[p.name] = Knob(p.name, "parameter", p.type, p.lower, p.upper,
                                 float(resolved[p.name]), alone if fast else (),
                                 rebuild=not fast)
        asts = self.model.plan.asts
        bins = self.model.grid.bins
        for node in definition.nodes:
            # const nodes, and expressions that read no other node (`expr: "40"`); the base
            # value is the node's mean, computed from the node alone
            if node.id in knobs:
                continue
            if isinstance(node, ConstNode):
                base = float(np.mean(node.values)) if node.values else 0.0
            elif (isinstance(node, ExprNode) and node.id in asts
                  and not references(asts[node.id])):
                with np.errstate(all="ignore"):
                    base = float(np.mean(as_series(evaluate(asts[node.id], {}, bins, {}), bins)))
            else:
                continue
            knobs[node.id] = Knob(node.id, "node", "number", None, None, base, (node.id,))
        for tnode in definition.topology.nodes:
            name = f"{snake(tnode.id)}_wip_limit"
            if tnode.wip_limit is not None and name in self.model.plan.node_ids:
                knobs[f"{tnode.id}.wipLimit"] = Knob(
                    f"{tnode.id}.wipLimit", "wipLimit", "number", 0.0, None,
                    float(tnode.wip_limit), (name,))
        for source, rates in self.model.plan.class_rates.items():
            for class_id, rate in rates.items():
                knobs[f"{source}.{class_id}"] = Knob(
                    f"{source}.{class_id}", "classRate", "number", 0.0, None, rate,
                    source=source, class_id=class_id)
        return knobs

    def knob(self, knob_id: str, loc: str = "knob") -> Knob:
        found = self.knobs.get(knob_id)
        if found is None:
            known = ", ".join(sorted(self.knobs)) or "none"
            raise invalid([Problem(loc, f"unknown knob '{knob_id}' (known: {known})")])
        return found

    def check(self, knob: Knob, value: float, loc: str) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool) \
                or not math.isfinite(value):
            raise invalid([Problem(loc, f"{knob.id}: must be a finite number")])
        if knob.kind == "parameter":
            definition = next(p for p in self.template.parameters if p.name == knob.id)
            _, found = check_value(definition, round(value) if knob.type == "integer"
                                   else value, loc)
            if found:
                raise invalid(found)
        elif knob.minimum is not None and value < knob.minimum:
            raise invalid([Problem(loc, f"{knob.id}: must be ≥ {knob.minimum:g}, got {value:g}")])
        return float(round(value)) if knob.type == "integer" else float(value)

    # -- evaluation ---------------------------------------------------------------------
    def evaluate(self, settings: Mapping[str, float], seed: int | None = None
                 ) -> dict[str, np.ndarray]:
        """Every series under `settings` (knob id → value, checked) for one seed."""
        if self.guard is not None:
            self.guard.check()
        model, overrides, shares = self._inputs(settings)
        self.evaluations += 1
        self.last_model = model
        return evaluate_model(model, self.seed if seed is None else seed, overrides,
                              pmf_mode=self.pmf_mode, shares=shares)

    def evaluate_after(self, settings: Mapping[str, float], previous: Evaluation | None
                       ) -> Evaluation:
        """As `evaluate`, re-running only what `settings` changed since `previous` (an
        evaluation of this study): a moved knob re-runs the steps downstream of the nodes
        it sets; a knob that rebuilds the model, or no previous, evaluates everything."""
        if self.guard is not None:
            self.guard.check()
        model, overrides, shares = self._inputs(settings)
        self.evaluations += 1
        self.last_model = model
        if previous is None or previous.model is not model:
            values = evaluate_model(model, self.seed, overrides, pmf_mode=self.pmf_mode,
                                    shares=shares)
            return Evaluation(model, overrides, shares, values)
        changed = {k for k in overrides.keys() | previous.overrides.keys()
                   if not _same_series(overrides.get(k), previous.overrides.get(k))}
        changed |= {k for k in shares.keys() | previous.shares.keys()
                    if shares.get(k) != previous.shares.get(k)}
        ran: list[str] = []
        values = reevaluate(model, self.seed, overrides, previous.values, changed,
                            pmf_mode=self.pmf_mode, shares=shares, ran=ran)
        return Evaluation(model, overrides, shares, values, tuple(ran))

    def evaluate_samples(self, settings: Mapping[str, float]) -> Iterator[dict[str, np.ndarray]]:
        """Every series under `settings` for the study's seeds seed … seed + samples − 1,
        in batches (`batch.py`, each within its memory bound): name -> rows × bins, row i
        of the whole bit-identical to `evaluate(settings, seed + i)`."""
        if self.guard is not None:
            self.guard.check()
        model, overrides, shares = self._inputs(settings)
        self.evaluations += self.samples
        self.last_model = model
        seeds = [self.seed + i for i in range(self.samples)]
        for batch in evaluate_batches(model, seeds, overrides, self.pmf_mode, shares):
            yield batch
            if self.guard is not None:
                self.guard.check()

    def cells(self) -> int:
        """Series × bins of one evaluation (class series included): the unit of work."""
        plan = self.model.plan
        series = len(plan.node_ids) + sum(len(v) for v in plan.class_series.values())
        return series * self.model.grid.bins

    def _inputs(self, settings: Mapping[str, float]
                ) -> tuple[Model, dict[str, np.ndarray], dict[str, float]]:
        """The model, node overrides and class shares that `settings` amount to."""
        model = self.model
        rebuild = {k: v for k, v in settings.items() if self.knobs[k].rebuild}
        if rebuild:
            model = self._model_for(rebuild)
        overrides: dict[str, np.ndarray] = dict(self.inputs)
        shares: dict[str, float] = {}
        bins = model.grid.bins
        rates = {s: dict(r) for s, r in model.plan.class_rates.items()}
        for knob_id, value in settings.items():
            knob = self.knobs[knob_id]
            for node in knob.nodes:
                overrides[node] = np.full(bins, float(value))
            if knob.kind == "classRate":
                assert knob.source is not None and knob.class_id is not None
                rates[knob.source][knob.class_id] = float(value)
        for source, source_rates in rates.items():
            if source_rates != model.plan.class_rates.get(source):
                split = normalised([source_rates.get(c, 0.0) for c in model.plan.classes])
                for class_id, share in zip(model.plan.classes, split, strict=True):
                    shares[class_series_name(source, class_id)] = share
        return model, overrides, shares

    def _model_for(self, values: Mapping[str, float]) -> Model:
        key = tuple(sorted(values.items()))
        cached = self._models.get(key)
        if cached is not None:
            self._models.move_to_end(key)
            return cached
        parameters = {**self.parameters}
        for name, value in values.items():
            parameters[name] = int(value) if self.knobs[name].type == "integer" else value
        model = build_model(self.template, parameters, self.budget)
        self._models[key] = model
        while len(self._models) > MODEL_CACHE:
            self._models.popitem(last=False)
        return model

    def series_name(self, metric: str, values: Mapping[str, np.ndarray]) -> str:
        if metric in values:
            return metric
        if is_series_id(metric):
            name = model_series_name(metric)
            if name in values:
                return name
        known = sorted(values)
        close = [k for k in known if metric.lower() in k.lower()][:8] or known[:8]
        raise invalid([Problem("metric", f"unknown series '{metric}' (for example: "
                               f"{', '.join(close)})")])

    def measure(self, settings: Mapping[str, float], metric: str, statistic: str = "mean"
                ) -> Measure:
        stat = statistic_of(statistic)
        if self.samples == 1:
            values = self.evaluate(settings, self.seed)
            found = [stat(values[self.series_name(metric, values)])]
        else:  # the samples in batches
            found = []
            for batch in self.evaluate_samples(settings):
                found.extend(stat(row) for row in batch[self.series_name(metric, batch)])
        mean = float(np.mean(found))
        stderr = float(np.std(found, ddof=1) / math.sqrt(len(found))) if len(found) > 1 else None
        return Measure(mean, stderr, tuple(found))


# -- operations ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SensitivityPoint:
    knob: str
    base_value: float
    gradient: float


def sensitivity(study: Study, knobs: list[str], metric: str, statistic: str = "mean",
                perturbation: float = DEFAULT_PERTURBATION) -> list[SensitivityPoint]:
    """Central difference of the statistic at base × (1 ± p); base 0 → gradient 0; sorted
    by |gradient|, largest first."""
    if not 0 < perturbation < 1:
        raise invalid([Problem("perturbation", f"must be in (0, 1), got {perturbation:g}")])
    if not knobs:
        raise invalid([Problem("knobs", "name at least one knob")])
    chosen = [study.knob(k, f"knobs[{i}]") for i, k in enumerate(knobs)]
    study.measure({}, metric, statistic)  # the metric and statistic exist
    points = []
    for knob in chosen:
        base = knob.base
        if base == 0:
            points.append(SensitivityPoint(knob.id, base, 0.0))
            continue
        up = study.measure({knob.id: base * (1 + perturbation)}, metric, statistic).value
        down = study.measure({knob.id: base * (1 - perturbation)}, metric, statistic).value
        points.append(SensitivityPoint(knob.id, base, (up - down) / (2 * base * perturbation)))
    return sorted(points, key=lambda p: -abs(p.gradient))


@dataclass(frozen=True, slots=True)
class SeekStep:
    iteration: int
    value: float
    achieved: float
    lo: float
    hi: float


@dataclass(frozen=True, slots=True)
class SeekResult:
    value: float
    achieved: float
    converged: bool
    iterations: int
    trace: list[SeekStep]
    stderr: float | None = None


def goal_seek(study: Study, knob_id: str, metric: str, target: float, lo: float, hi: float,
              statistic: str = "mean", tolerance: float = 1e-6, max_iterations: int = 50
              ) -> SeekResult:
    """Bisection on [lo, hi] until |achieved − target| ≤ tolerance. When the target is not
    between the ends' results: the closer end, not converged."""
    knob = study.knob(knob_id, "knob")
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise invalid([Problem("lo", f"lo ({lo:g}) must be below hi ({hi:g})")])
    if not tolerance > 0:
        raise invalid([Problem("tolerance", "must be > 0")])
    if not 1 <= max_iterations <= 1000:
        raise invalid([Problem("maxIterations", "must be 1…1000")])
    lo = study.check(knob, lo, "lo")
    hi = study.check(knob, hi, "hi")
    f_lo = study.measure({knob.id: lo}, metric, statistic)
    f_hi = study.measure({knob.id: hi}, metric, statistic)
    trace: list[SeekStep] = []
    for end, f in ((lo, f_lo), (hi, f_hi)):
        if abs(f.value - target) <= tolerance:
            return SeekResult(end, f.value, True, 0, trace, f.stderr)
    if (f_lo.value - target) * (f_hi.value - target) > 0:
        end, f = (lo, f_lo) if abs(f_lo.value - target) <= abs(f_hi.value - target) else (hi, f_hi)
        return SeekResult(end, f.value, False, 0, trace, f.stderr)
    low_sign = f_lo.value - target
    a, b = lo, hi
    best = (lo, f_lo)
    for iteration in range(1, max_iterations + 1):
        mid = (a + b) / 2
        if knob.type == "integer":
            mid = float(round(mid))
        f = study.measure({knob.id: mid}, metric, statistic)
        trace.append(SeekStep(iteration, mid, f.value, a, b))
        if abs(f.value - target) < abs(best[1].value - target):
            best = (mid, f)
        if abs(f.value - target) <= tolerance:
            return SeekResult(mid, f.value, True, iteration, trace, f.stderr)
        if (f.value - target) * low_sign > 0:
            a = mid
        else:
            b = mid
        if knob.type == "integer" and b - a <= 1:
            break
    value, f = best
    return SeekResult(value, f.value, False, len(trace), trace, f.stderr)


@dataclass(frozen=True, slots=True)
class OptimizeStep:
    iteration: int
    values: dict[str, float]
    achieved: float


@dataclass(frozen=True, slots=True)
class Constraint:
    metric: str
    statistic: str = "mean"
    max: float | None = None
    min: float | None = None


@dataclass(frozen=True, slots=True)
class OptimizeResult:
    values: dict[str, float]
    achieved: float
    converged: bool
    iterations: int
    trace: list[OptimizeStep]
    rounded: list[str] = field(default_factory=list)  # integer knobs, rounded
    violations: dict[str, float] = field(default_factory=dict)  # constraint -> amount


def optimize(study: Study, knobs: list[str], ranges: Mapping[str, tuple[float, float]],
             metric: str, objective: str = "minimize", statistic: str = "mean",
             tolerance: float = 1e-4, max_iterations: int = 200,
             constraints: list[Constraint] | None = None) -> OptimizeResult:
    """Bounded Nelder–Mead from the middle of the ranges (scipy). Constraints add
    PENALTY × violation² to the objective."""
    from scipy.optimize import minimize  # imported here: the CLI starts faster without it

    if objective not in ("minimize", "maximize"):
        raise invalid([Problem("objective", "must be minimize or maximize")])
    if not knobs:
        raise invalid([Problem("knobs", "name at least one knob")])
    if not 1 <= max_iterations <= 10_000:
        raise invalid([Problem("maxIterations", "must be 1…10000")])
    chosen = [study.knob(k, f"knobs[{i}]") for i, k in enumerate(knobs)]
    bounds: list[tuple[float, float]] = []
    for knob in chosen:
        if knob.id not in ranges:
            raise invalid([Problem(f"ranges.{knob.id}", "give {lo, hi} for every knob")])
        lo, hi = ranges[knob.id]
        if not lo < hi:
            raise invalid([Problem(f"ranges.{knob.id}", f"lo ({lo:g}) must be below hi "
                                   f"({hi:g})")])
        bounds.append((study.check(knob, lo, f"ranges.{knob.id}.lo"),
                       study.check(knob, hi, f"ranges.{knob.id}.hi")))
    sign = 1.0 if objective == "minimize" else -1.0
    trace: list[OptimizeStep] = []
    rules = constraints or []

    def settings(x: np.ndarray) -> dict[str, float]:
        return {k.id: float(round(v)) if k.type == "integer" else float(v)
                for k, v in zip(chosen, x, strict=True)}

    def violations(chosen_settings: dict[str, float]) -> dict[str, float]:
        found = {}
        for i, rule in enumerate(rules):
            got = study.measure(chosen_settings, rule.metric, rule.statistic).value
            over = 0.0
            if rule.max is not None:
                over = max(over, got - rule.max)
            if rule.min is not None:
                over = max(over, rule.min - got)
            if over > 0:
                found[f"constraints[{i}]"] = over
        return found

    cache: dict[tuple[float, ...], float] = {}

    def score(x: np.ndarray) -> float:
        chosen_settings = settings(np.clip(x, [b[0] for b in bounds], [b[1] for b in bounds]))
        key = tuple(chosen_settings.values())
        if key not in cache:
            achieved = study.measure(chosen_settings, metric, statistic).value
            penalty = sum(v * v for v in violations(chosen_settings).values()) * PENALTY
            cache[key] = sign * achieved + penalty
            trace.append(OptimizeStep(len(trace) + 1, chosen_settings, achieved))
        return cache[key]

    start = np.array([(lo + hi) / 2 for lo, hi in bounds])
    result = minimize(score, start, method="Nelder-Mead", bounds=bounds,
                      options={"xatol": tolerance, "fatol": tolerance,
                               "maxiter": max_iterations, "initial_simplex": _simplex(start,
                                                                                   bounds)})
    best = settings(np.clip(result.x, [b[0] for b in bounds], [b[1] for b in bounds]))
    achieved = study.measure(best, metric, statistic).value
    return OptimizeResult(best, achieved, bool(result.success), int(result.nit), trace,
                          [k.id for k in chosen if k.type == "integer"], violations(best))


def _simplex(start: np.ndarray, bounds: list[tuple[float, float]]) -> np.ndarray:
    """A starting simplex spanning a quarter of each range (scipy's default 5 % step is
    tiny on wide ranges and zero-sized at 0)."""
    points = [start.copy()]
    for i, (lo, hi) in enumerate(bounds):
        point = start.copy()
        point[i] = min(hi, start[i] + (hi - lo) / 4)
        points.append(point)
    return np.array(points)


def require_known(study: Study, settings: Mapping[str, Any], loc: str = "set"
                  ) -> dict[str, float]:
    """Check a set of knob values (unknown ids, types, bounds) and return them as floats."""
    checked = {}
    problems = []
    for knob_id, value in settings.items():
        try:
            checked[knob_id] = study.check(study.knob(knob_id, f"{loc}.{knob_id}"), value,
                                           f"{loc}.{knob_id}")
        except FlowTimeError as exc:
            problems.extend(exc.problems)
    if problems:
        raise invalid(problems)
    return checked
