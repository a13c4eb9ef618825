"""The analysis questions' bodies and answers (camelCase, closed msgspec Structs) and the
one conversion from the analysis service's results to them, shared by HTTP
(`/v1/sensitivity`, …) and the CLI (`flowtime analyze …`, whose `--spec` takes the same
JSON body and whose `--json` prints the same answer)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from flowtime.adapters.wire import WarningOut, Wire, warning_out
from flowtime.domain.evaluate.work import WorkGuard
from flowtime.domain.runs import MAX_SEED
from flowtime.domain.services.analysis import Constraint
from flowtime.domain.services.analysis_service import AnalysisService, StudySource

Number = Annotated[float, msgspec.Meta(description="a finite number")]


class StudyBody(Wire, kw_only=True, forbid_unknown_fields=True):
    """Which model: `templateId` or `template` (YAML text), with parameters and how each
    evaluation runs (seed; `samples` > 1 averages that many seeds)."""

    template_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    template: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    # ≤ 2^53: every such integer survives a trip through a JSON double
    seed: Annotated[int, msgspec.Meta(gt=-1, le=MAX_SEED)] = 1
    pmf_mode: Literal["sample", "expected"] = "sample"
    samples: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    statistic: Annotated[str, msgspec.Meta(
        description="mean (default; the reference's only one), sum, max, p95, last:N")] = "mean"
    save: Annotated[bool, msgspec.Meta(
        description="keep the result as an analysis record (GET /v1/analyses/{id})")] = False

    def source(self) -> StudySource:
        return StudySource(self.template_id, self.template, dict(self.parameters), self.seed,
                           self.pmf_mode, self.samples)


class SensitivityBody(StudyBody, kw_only=True, forbid_unknown_fields=True):
    knobs: Annotated[list[str], msgspec.Meta(min_length=1, max_length=100)]
    metric: str
    perturbation: float = 0.05


class GoalSeekBody(StudyBody, kw_only=True, forbid_unknown_fields=True):
    knob: str
    metric: str
    target: float
    lo: float
    hi: float
    tolerance: float = 1e-6
    max_iterations: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50


class RangeBody(Wire, forbid_unknown_fields=True):
    lo: float
    hi: float


class ConstraintBody(Wire, forbid_unknown_fields=True):
    metric: str
    statistic: str = "mean"
    max: float | None = None
    min: float | None = None


class OptimizeBody(StudyBody, kw_only=True, forbid_unknown_fields=True):
    knobs: Annotated[list[str], msgspec.Meta(min_length=1, max_length=20)]
    ranges: dict[str, RangeBody]
    metric: str
    objective: Literal["minimize", "maximize"] = "minimize"
    tolerance: float = 1e-4
    max_iterations: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200
    constraints: Annotated[list[ConstraintBody], msgspec.Meta(max_length=50)] = \
        msgspec.field(default_factory=list)


class ValidateBody(StudyBody, kw_only=True, forbid_unknown_fields=True):
    tier: Literal["schema", "compile", "analyse"] = "compile"


class SensitivityPointOut(Wire):
    knob: str
    base_value: float
    gradient: float


class SensitivityOut(Wire):
    metric: str
    statistic: str
    points: list[SensitivityPointOut]
    analysis_id: str | None = None


class SeekStepOut(Wire):
    iteration: int
    value: float
    achieved: float
    lo: float
    hi: float


class GoalSeekOut(Wire):
    value: float
    achieved: float
    converged: bool
    iterations: int
    trace: list[SeekStepOut]
    standard_error: float | None = None
    analysis_id: str | None = None


class OptimizeStepOut(Wire):
    iteration: int
    values: dict[str, float]
    achieved: float


class OptimizeOut(Wire):
    values: dict[str, float]
    achieved: float
    converged: bool
    iterations: int
    trace: list[OptimizeStepOut]
    rounded: list[str]  # integer knobs: their values were rounded
    violations: dict[str, float]  # constraints still violated at the answer, by how much
    analysis_id: str | None = None


class ProblemOut(Wire):
    loc: str
    msg: str


class ValidateOut(Wire):
    valid: bool
    tier: str
    problems: list[ProblemOut]
    warnings: list[WarningOut]


REQUEST_BODIES = (SensitivityBody, GoalSeekBody, OptimizeBody, ValidateBody, RangeBody,
                  ConstraintBody)
MODEL_BODIES = ("SensitivityBody", "GoalSeekBody", "OptimizeBody", "ValidateBody")



def sensitivity(analysis: AnalysisService, data: SensitivityBody,
                guard: WorkGuard | None = None) -> SensitivityOut:
    points = analysis.sensitivity(data.source(), data.knobs, data.metric, data.statistic,
                                  data.perturbation, guard)
    return SensitivityOut(data.metric, data.statistic, [
        SensitivityPointOut(p.knob, p.base_value, p.gradient) for p in points])


def goal_seek(analysis: AnalysisService, data: GoalSeekBody,
              guard: WorkGuard | None = None) -> GoalSeekOut:
    result = analysis.goal_seek(data.source(), data.knob, data.metric, data.target, data.lo,
                                data.hi, data.statistic, data.tolerance, data.max_iterations,
                                guard)
    return GoalSeekOut(result.value, result.achieved, result.converged, result.iterations,
                       [SeekStepOut(s.iteration, s.value, s.achieved, s.lo, s.hi)
                        for s in result.trace], result.stderr)


def optimize(analysis: AnalysisService, data: OptimizeBody,
             guard: WorkGuard | None = None) -> OptimizeOut:
    ranges = {k: (r.lo, r.hi) for k, r in data.ranges.items()}
    rules = [Constraint(c.metric, c.statistic, c.max, c.min) for c in data.constraints]
    result = analysis.optimize(data.source(), data.knobs, ranges, data.metric, data.objective,
                               data.statistic, data.tolerance, data.max_iterations, rules,
                               guard)
    return OptimizeOut(result.values, result.achieved, result.converged, result.iterations,
                       [OptimizeStepOut(s.iteration, s.values, s.achieved)
                        for s in result.trace], result.rounded, result.violations)


def validate(analysis: AnalysisService, data: ValidateBody,
             guard: WorkGuard | None = None) -> ValidateOut:
    report = analysis.validate(data.source(), data.tier)
    return ValidateOut(report.valid, report.tier,
                       [ProblemOut(p.loc, p.msg) for p in report.problems],
                       [warning_out(w) for w in report.warnings])


def save(analysis: AnalysisService, kind: str, body: StudyBody, out: Any) -> Any:
    """With `save`, keep the result as an analysis record and name it in the answer."""
    if not body.save:
        return out
    request = msgspec.to_builtins(body)
    request.pop("save", None)
    result = msgspec.to_builtins(out)
    name = body.template_id or analysis.template(body.source()).metadata.id or "inline"
    analysis_id = analysis.save(kind, request, result, name)
    return msgspec.structs.replace(out, analysis_id=analysis_id)


class AnalysisListItem(Wire):
    id: str
    kind: str | None
    created_utc: str | None
    template_id: str | None
    metric: str | None


class AnalysisList(Wire):
    items: list[AnalysisListItem]
    total_count: int
    page: int
    page_size: int
