"""`/v1/sensitivity`, `/v1/goal-seek`, `/v1/optimize`, `/v1/validate`: thin drivers over
the analysis service (docs/analysis.md). Bodies are closed msgspec Structs
(adapters/analysis_wire.py, shared with the CLI); every domain problem becomes a 400 with
the field's location."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request, get, post
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
from flowtime.domain.artifacts.hashing import RUN_ID_PATTERN
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem
from flowtime.domain.evaluate.work import WorkGuard
from flowtime.domain.runs import MAX_PAGE
from flowtime.domain.services.analysis_service import AnalysisService

Analysis = NamedDependency[SkipValidation[AnalysisService]]
T = TypeVar("T")

async def guarded(request: Request[Any, Any, Any], offload: Any,
                  fn: Callable[..., T], *args: Any) -> T:
    """Run one analysis within its budget: a slot among the process's concurrent analyses
    (429 with Retry-After when none is free, so list and get routes keep answering), a
    deadline, and cancellation when the client disconnects — the evaluation loop checks
    the guard between evaluations, so the worker thread is freed soon after."""
    slots: threading.BoundedSemaphore = request.app.state.analysis_slots
    settings = request.app.state.container.settings()
    if not slots.acquire(blocking=False):
        raise FlowTimeError(ErrorKind.BUSY, "too many analyses are running; try again shortly",
                            [Problem("request", f"at most {settings.max_concurrent_analyses} "
                                     "at once (FLOWTIME_MAX_CONCURRENT_ANALYSES)")])
    guard = WorkGuard(time.monotonic, settings.analysis_timeout_seconds)
    watcher = asyncio.create_task(_cancel_on_disconnect(request, guard))
    try:
        return await offload(fn, *args, guard)  # type: ignore[no-any-return]
    finally:
        watcher.cancel()
        slots.release()


async def _cancel_on_disconnect(request: Request[Any, Any, Any], guard: WorkGuard) -> None:
    """The body is read: the next ASGI message is the client going away."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            guard.cancel()
            return


def analysis_routes(problems: Any, offload: Any) -> list[Any]:
    guards = [require_api_key]
    errors = problems(400, 401, 404, 413, 415)

    @post("/v1/sensitivity", tags=["analysis"], summary="Which knobs move a metric",
          status_code=200, guards=guards, responses=errors)
    async def post_sensitivity(request: Request[Any, Any, Any], data: JSONBody[SensitivityBody],
                               analysis: Analysis) -> SensitivityOut:
        out = await guarded(request, offload, aw.sensitivity, analysis, data)
        return await offload(aw.save, analysis, "sensitivity", data, out)

    @post("/v1/goal-seek", tags=["analysis"], summary="The knob value that hits a target",
          status_code=200, guards=guards, responses=errors)
    async def post_goal_seek(request: Request[Any, Any, Any], data: JSONBody[GoalSeekBody],
                             analysis: Analysis) -> GoalSeekOut:
        out = await guarded(request, offload, aw.goal_seek, analysis, data)
        return await offload(aw.save, analysis, "goal-seek", data, out)

    @post("/v1/optimize", tags=["analysis"], summary="Best knob values within ranges",
          status_code=200, guards=guards, responses=errors)
    async def post_optimize(request: Request[Any, Any, Any], data: JSONBody[OptimizeBody],
                            analysis: Analysis) -> OptimizeOut:
        out = await guarded(request, offload, aw.optimize, analysis, data)
        return await offload(aw.save, analysis, "optimize", data, out)

    @post("/v1/validate", tags=["analysis"], summary="Check a template without running it",
          status_code=200, guards=guards, responses=errors)
    async def post_validate(request: Request[Any, Any, Any], data: JSONBody[ValidateBody],
                            analysis: Analysis) -> ValidateOut:
        return await guarded(request, offload, aw.validate, analysis, data)

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
        return AnalysisList([AnalysisListItem(
            i.id, i.kind, i.created_utc,
            i.request.get("templateId") or i.template_name or "inline", i.request.get("metric"))
            for i in chosen], len(saved), page, page_size)

    @get("/v1/analyses/{analysis_id:str}", tags=["analysis"], summary="A saved analysis",
         responses=problems(400, 404))
    async def get_analysis(analysis: Analysis, analysis_id: Annotated[str, PathParameter(
            pattern=RUN_ID_PATTERN.pattern)]) -> dict[str, Any]:
        saved = await offload(analysis.saved, analysis_id)
        return msgspec.to_builtins(saved)  # type: ignore[no-any-return]

    return [post_sensitivity, post_goal_seek, post_optimize, post_validate, list_analyses,
            get_analysis]
