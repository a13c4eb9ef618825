"""`/v1/sensitivity`, `/v1/goal-seek`, `/v1/optimize`, `/v1/validate`: thin drivers over
the analysis service (docs/analysis.md). Bodies are closed msgspec Structs; every domain
problem becomes a 400 with the field's location."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, SkipValidation

from flowtime.adapters.http.security import require_api_key
from flowtime.adapters.wire import WarningOut, Wire, warning_out
from flowtime.domain.analysis import Constraint
from flowtime.domain.analysis_service import AnalysisService, StudySource
from flowtime.domain.hashing import RUN_ID_PATTERN

Analysis = NamedDependency[SkipValidation[AnalysisService]]
Number = Annotated[float, msgspec.Meta(description="a finite number")]


class StudyBody(Wire, kw_only=True, forbid_unknown_fields=True):
    """Which model: `templateId` or `template` (YAML text), with parameters and how each
    evaluation runs (seed; `samples` > 1 averages that many seeds)."""

    template_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    template: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    # ≤ 2^53: every such integer survives a trip through a JSON double
    seed: Annotated[int, msgspec.Meta(gt=-1, le=2**53)] = 1
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
    constraints: list[ConstraintBody] = msgspec.field(default_factory=list)


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


def analysis_routes(problems: Any, offload: Any) -> list[Any]:
    guards = [require_api_key]
    errors = problems(400, 401, 404, 413, 415)

    @post("/v1/sensitivity", tags=["analysis"], summary="Which knobs move a metric",
          status_code=200, guards=guards, responses=errors)
    async def post_sensitivity(data: JSONBody[SensitivityBody], analysis: Analysis
                               ) -> SensitivityOut:
        points = await offload(analysis.sensitivity, data.source(), data.knobs, data.metric,
                               data.statistic, data.perturbation)
        out = SensitivityOut(data.metric, data.statistic, [
            SensitivityPointOut(p.knob, p.base_value, p.gradient) for p in points])
        return await _saved(analysis, offload, "sensitivity", data, out)

    @post("/v1/goal-seek", tags=["analysis"], summary="The knob value that hits a target",
          status_code=200, guards=guards, responses=errors)
    async def post_goal_seek(data: JSONBody[GoalSeekBody], analysis: Analysis) -> GoalSeekOut:
        result = await offload(analysis.goal_seek, data.source(), data.knob, data.metric,
                               data.target, data.lo, data.hi, data.statistic, data.tolerance,
                               data.max_iterations)
        out = GoalSeekOut(result.value, result.achieved, result.converged, result.iterations,
                          [SeekStepOut(s.iteration, s.value, s.achieved, s.lo, s.hi)
                           for s in result.trace], result.stderr)
        return await _saved(analysis, offload, "goal-seek", data, out)

    @post("/v1/optimize", tags=["analysis"], summary="Best knob values within ranges",
          status_code=200, guards=guards, responses=errors)
    async def post_optimize(data: JSONBody[OptimizeBody], analysis: Analysis) -> OptimizeOut:
        ranges = {k: (r.lo, r.hi) for k, r in data.ranges.items()}
        rules = [Constraint(c.metric, c.statistic, c.max, c.min) for c in data.constraints]
        result = await offload(analysis.optimize, data.source(), data.knobs, ranges,
                               data.metric, data.objective, data.statistic, data.tolerance,
                               data.max_iterations, rules)
        out = OptimizeOut(result.values, result.achieved, result.converged, result.iterations,
                          [OptimizeStepOut(s.iteration, s.values, s.achieved)
                           for s in result.trace], result.rounded, result.violations)
        return await _saved(analysis, offload, "optimize", data, out)

    @post("/v1/validate", tags=["analysis"], summary="Check a template without running it",
          status_code=200, guards=guards, responses=errors)
    async def post_validate(data: JSONBody[ValidateBody], analysis: Analysis) -> ValidateOut:
        report = await offload(analysis.validate, data.source(), data.tier)
        return ValidateOut(report.valid, report.tier,
                           [ProblemOut(p.loc, p.msg) for p in report.problems],
                           [warning_out(w) for w in report.warnings])

    @get("/v1/analyses", tags=["analysis"], summary="Saved analysis results, newest first",
         responses=problems())
    async def list_analyses(analysis: Analysis) -> list[dict[str, Any]]:
        return await offload(analysis.list_saved)

    @get("/v1/analyses/{analysis_id:str}", tags=["analysis"], summary="A saved analysis",
         responses=problems(400, 404))
    async def get_analysis(analysis: Analysis, analysis_id: Annotated[str, PathParameter(
            pattern=RUN_ID_PATTERN.pattern)]) -> dict[str, Any]:
        return await offload(analysis.saved, analysis_id)

    return [post_sensitivity, post_goal_seek, post_optimize, post_validate, list_analyses,
            get_analysis]


async def _saved(analysis: AnalysisService, offload: Any, kind: str, body: StudyBody,
                 out: Any) -> Any:
    """With `save`, keep the result as an analysis record and name it in the answer."""
    if not body.save:
        return out
    request = msgspec.to_builtins(body)
    request.pop("save", None)
    result = msgspec.to_builtins(out)
    analysis_id = await offload(analysis.save, kind, request, result)
    return msgspec.structs.replace(out, analysis_id=analysis_id)
