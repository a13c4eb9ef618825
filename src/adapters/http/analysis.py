"""`/v1/sensitivity`, `/v1/goal-seek`, `/v1/optimize`, `/v1/validate`: thin drivers over
the analysis service (docs/analysis.md). Bodies are closed msgspec Structs
(adapters/analysis_wire.py, shared with the CLI); every domain problem becomes a 400 with
the field's location."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter, SkipValidation

from flowtime.adapters import analysis_wire as aw
from flowtime.adapters.analysis_wire import (
    AnalysisList,
    AnalysisListItem,
    GoalSeekBody,
    GoalSeekOut,
    OptimizeBody,
    OptimizeOut,
    SensitivityBody,
    SensitivityOut,
    ValidateBody,
    ValidateOut,
)
from flowtime.adapters.http.security import require_api_key
from flowtime.domain.analysis_service import AnalysisService
from flowtime.domain.hashing import RUN_ID_PATTERN
from flowtime.domain.runs import MAX_PAGE

Analysis = NamedDependency[SkipValidation[AnalysisService]]

def analysis_routes(problems: Any, offload: Any) -> list[Any]:
    guards = [require_api_key]
    errors = problems(400, 401, 404, 413, 415)

    @post("/v1/sensitivity", tags=["analysis"], summary="Which knobs move a metric",
          status_code=200, guards=guards, responses=errors)
    async def post_sensitivity(data: JSONBody[SensitivityBody], analysis: Analysis
                               ) -> SensitivityOut:
        out = await offload(aw.sensitivity, analysis, data)
        return await offload(aw.save, analysis, "sensitivity", data, out)

    @post("/v1/goal-seek", tags=["analysis"], summary="The knob value that hits a target",
          status_code=200, guards=guards, responses=errors)
    async def post_goal_seek(data: JSONBody[GoalSeekBody], analysis: Analysis) -> GoalSeekOut:
        out = await offload(aw.goal_seek, analysis, data)
        return await offload(aw.save, analysis, "goal-seek", data, out)

    @post("/v1/optimize", tags=["analysis"], summary="Best knob values within ranges",
          status_code=200, guards=guards, responses=errors)
    async def post_optimize(data: JSONBody[OptimizeBody], analysis: Analysis) -> OptimizeOut:
        out = await offload(aw.optimize, analysis, data)
        return await offload(aw.save, analysis, "optimize", data, out)

    @post("/v1/validate", tags=["analysis"], summary="Check a template without running it",
          status_code=200, guards=guards, responses=errors)
    async def post_validate(data: JSONBody[ValidateBody], analysis: Analysis) -> ValidateOut:
        return await offload(aw.validate, analysis, data)

    @get("/v1/analyses", tags=["analysis"], summary="Saved analysis results, newest first",
         responses=problems(400))
    async def list_analyses(
        analysis: Analysis,
        page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 1,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=200,
                                                 description="1…200")] = 50,
    ) -> AnalysisList:
        saved = await offload(analysis.list_saved)
        chosen = saved[(page - 1) * page_size:page * page_size]
        return AnalysisList([AnalysisListItem(i["id"], i.get("kind"), i.get("createdUtc"),
                                              i.get("templateId"), i.get("metric"))
                             for i in chosen], len(saved), page, page_size)

    @get("/v1/analyses/{analysis_id:str}", tags=["analysis"], summary="A saved analysis",
         responses=problems(400, 404))
    async def get_analysis(analysis: Analysis, analysis_id: Annotated[str, PathParameter(
            pattern=RUN_ID_PATTERN.pattern)]) -> dict[str, Any]:
        return await offload(analysis.saved, analysis_id)

    return [post_sensitivity, post_goal_seek, post_optimize, post_validate, list_analyses,
            get_analysis]
