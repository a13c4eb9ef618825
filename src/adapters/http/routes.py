"""HTTP route handlers: translate requests to service calls and results to wire models.

No orchestration logic lives here; every handler calls one service method.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from anyio import CapacityLimiter
from anyio.to_thread import run_sync
from litestar import Request, Response, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter, SkipValidation
from litestar.response import Stream

from flowtime.adapters.http import wire_docs
from flowtime.adapters.http.problems import PROBLEM_MEDIA_TYPE
from flowtime.adapters.http.security import require_api_key
from flowtime.adapters.wire import (
    CompareOut,
    CreateRunBody,
    Mode,
    ProblemOut,
    RunListResponse,
    RunResponse,
    TemplateDetailOut,
    TemplateSummaryOut,
    compare_out,
    page_response,
    record_response,
    result_response,
    template_detail,
    template_summary,
)
from flowtime.domain.artifacts.codec import SeriesIndexJson
from flowtime.domain.artifacts.hashing import RUN_ID_PATTERN
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem
from flowtime.domain.runs import DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE, RunFilter
from flowtime.domain.services.orchestration import RunOrchestrationService
from flowtime.domain.views.overview import DEFAULT_BUCKETS, MAX_BUCKETS, Overview
from flowtime.domain.views.queries import RunQueryService
from flowtime.domain.views.state import Graph, StateSnapshot
from flowtime.ports import ArtifactStore, TemplateSource

_DESCRIPTIONS = {
    400: "Malformed or invalid input; `errors[].loc` names each field",
    401: "Missing or wrong API key (only when FLOWTIME_API_KEY is set)",
    404: "Unknown template, run, series or file",
    409: "A run (or a saved template or capture) with this id already exists",
    429: "Too many such requests at once; retry after the Retry-After seconds",
    405: "The configured adapter cannot do this (e.g. a read-only template source)",
    413: "Request body or state window too large",
    503: "The artifact store cannot be used",
    415: "Request body is not JSON",
    422: "Telemetry capture files missing or unreadable, or a damaged run",
    500: "Unexpected server error (quote the request id)",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem+json responses a route can give (every route may
    meet an unavailable store: 503)."""
    return {
        status: ResponseSpec(ProblemOut, description=_DESCRIPTIONS[status],
                             media_type=PROBLEM_MEDIA_TYPE, generate_examples=False)
        for status in sorted({*statuses, 500, 503})
    }


def documented(model: Any, description: str) -> ResponseSpec:
    return ResponseSpec(model, description=description, generate_examples=False)


# Blocking work runs in a bounded pool of worker threads; /readyz reports the pool as
# exhausted (503) so a load balancer stops sending requests to a replica that cannot start
# new work. Readiness itself runs on the event loop's default pool, so it still answers.
WORK_THREADS = 32
_pools: weakref.WeakKeyDictionary[Any, CapacityLimiter] = weakref.WeakKeyDictionary()


def _work_pool() -> CapacityLimiter:
    """One pool per event loop (a server has one; tests start several)."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = CapacityLimiter(WORK_THREADS)
    return pool


async def offload(func: Any, *args: Any) -> Any:
    """Run blocking service code (disk, CPU) in a worker thread of the bounded pool."""
    return await run_sync(func, *args, limiter=_work_pool())


def work_pool_exhausted() -> bool:
    return _work_pool().available_tokens == 0


RunId = Annotated[str, PathParameter(description="Run id", pattern=RUN_ID_PATTERN.pattern)]
# Each part starts with neither '.' nor '/', so '..', hidden files and absolute paths are out.
BUNDLE_PATH = r"^/?[^/.\\\x00][^/\\\x00]*(/[^/.\\\x00][^/\\\x00]*)*$"
Store = NamedDependency[SkipValidation[ArtifactStore]]
Templates = NamedDependency[SkipValidation[TemplateSource]]
Queries = NamedDependency[SkipValidation[RunQueryService]]
Orchestration = NamedDependency[SkipValidation[RunOrchestrationService]]


def require_json(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """415 for bodies that are not JSON (a guard, so it runs before the body is decoded)."""
    media_type = connection.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(status_code=415, detail="request body must be application/json")


@get("/healthz", tags=["health"], summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", tags=["health"], summary="Readiness: the store can be used (503 when not); "
     "`degraded` while the run catalog is down or catching up",
     responses=problems(503))
async def readyz(store: Store, request: Request[Any, Any, Any]) -> dict[str, str]:
    if work_pool_exhausted():
        raise FlowTimeError(ErrorKind.UNAVAILABLE, "every worker thread is busy", [Problem(
            "server", f"all {WORK_THREADS} worker threads are busy; retry shortly")])
    await run_sync(store.check)
    container = request.app.state.container
    from flowtime.domain.services.catalog import backlog

    waiting = len(await run_sync(backlog, store))
    try:
        await run_sync(lambda: container.catalog().check())
    except FlowTimeError as exc:
        if exc.kind is not ErrorKind.UNAVAILABLE:
            raise
        # still ready: runs are created and read from the store; only listing waits
        return {"status": "degraded", "catalog": "unavailable: listing answers 503 until "
                f"it is back; {waiting} runs published meanwhile wait to be listed"}
    if waiting:  # ready, but the listing is catching up (the healer lists them shortly)
        return {"status": "degraded", "catalog": f"listing {waiting} runs published while "
                                                 "it was down"}
    return {"status": "ok"}


@get("/v1/templates", tags=["templates"], summary="List templates", responses=problems())
async def list_templates(templates: Templates) -> list[TemplateSummaryOut]:
    return [template_summary(t) for t in await offload(templates.list_templates)]


@get("/v1/templates/{template_id:str}", tags=["templates"], summary="Template detail",
     responses=problems(404))
async def get_template(templates: Templates, template_id: FromPath[str]) -> TemplateDetailOut:
    return template_detail(await offload(templates.get, template_id))


@post("/v1/runs", tags=["runs"], summary="Create a run (or a dry-run plan)",
      status_code=201, guards=[require_api_key, require_json],
      responses={200: ResponseSpec(RunResponse, description="Dry-run plan, or an existing "
                                   "deterministic run returned unchanged"),
                 **problems(400, 401, 404, 409, 413, 415, 422)})
async def create_run(
    data: JSONBody[CreateRunBody], orchestration: Orchestration
) -> Response[RunResponse]:
    result = await offload(orchestration.create_run, data.to_domain())
    body = result_response(result)
    if result.is_dry_run or not result.created:
        return Response(body, status_code=200)
    assert result.record is not None
    return Response(body, status_code=201,
                    headers={"Location": f"/v1/runs/{result.record.run_id}"})


@get("/v1/runs", tags=["runs"], summary="List runs, newest first", responses=problems(400))
async def list_runs(
    queries: Queries,
    request: Request[Any, Any, Any],
    mode: Annotated[Mode | None, QueryParameter(description="simulation or telemetry")] = None,
    template_id: Annotated[str | None, QueryParameter(name="templateId")] = None,
    has_warnings: Annotated[bool | None, QueryParameter(name="hasWarnings")] = None,
    page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, examples=[Example(value=1)])] = 1,
    page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE,
                                             description="1…200")] = DEFAULT_PAGE_SIZE,
    tag: Annotated[str | None, QueryParameter(
        description="key:value (or just key: any value); comma-separated to require "
        "several. `tag.<key>=<value>` works too")] = None,
    sweep_id: Annotated[str | None, QueryParameter(
        name="sweepId", description="Only the points of this sweep (runs it reused from "
        "earlier sweeps included)")] = None,
    sweep_members: Annotated[Literal["include", "exclude", "only"], QueryParameter(
        name="sweepMembers", description="Runs made by sweeps: listed (include), hidden "
        "(exclude) or alone (only)")] = "include",
    created_from: Annotated[str | None, QueryParameter(
        name="createdFrom", description="Created at or after (an RFC 3339 time)",
        schema_extra={"format": "date-time"})] = None,
    created_to: Annotated[str | None, QueryParameter(
        name="createdTo", description="Created before (an RFC 3339 time)",
        schema_extra={"format": "date-time"})] = None,
    sort: Annotated[Literal["-createdUtc", "createdUtc", "templateId", "-templateId", "runId",
                            "-runId"], QueryParameter(
        description="-createdUtc (newest first) by default")] = "-createdUtc",
    cursor: Annotated[str | None, QueryParameter(
        description="nextCursor of the previous page: continues after it even while new "
        "runs arrive")] = None,
    base_run_id: Annotated[str | None, QueryParameter(
        name="baseRunId", description="Only the scenarios derived from this run")] = None,
) -> RunListResponse:
    """Filters by parameter value go as `param.<name>=<value>` (numbers match by value:
    `param.capacity=40` finds 40 and 40.0) and by tag as `tag.<key>=<value>`."""
    from flowtime.domain.artifacts.tags import parse_filters

    tags = parse_filters([t for t in tag.split(",") if t]) if tag else {}
    parameters: dict[str, str] = {}
    for name, value in request.query_params.items():
        if name.startswith("param.") and len(name) > 6:
            parameters[name[6:]] = value
        elif name.startswith("tag.") and len(name) > 4:
            tags[name[4:]] = value
    run_filter = RunFilter(mode, template_id, has_warnings, tags, parameters, sweep_id,
                           _bound(created_from, "createdFrom"), _bound(created_to, "createdTo"),
                           sweep_members, base_run_id)
    return page_response(await offload(queries.list_runs, run_filter, page, page_size, sort,
                                       cursor))


def _bound(text: str | None, loc: str) -> str | None:
    """A created bound given as RFC 3339 (any offset), in the form listings compare."""
    import re
    from datetime import UTC

    from flowtime.domain.errors import invalid
    from flowtime.domain.runs import created_bound

    if text is None:
        return None
    rfc3339 = re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})",
                           text)
    try:
        if rfc3339 is None:
            raise ValueError(text)
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid([Problem(loc, "must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z")]
                      ) from None
    return created_bound(moment)


@patch("/v1/runs/{run_id:str}/tags", tags=["runs"], summary="Change a run's tags",
       description="Merges the given tags; a null value removes one. Tags are the only "
                   "mutable part of a run: bundle files and their hashes never change.",
       guards=[require_api_key, require_json], responses=problems(400, 401, 404, 415))
async def tag_run(queries: Queries, run_id: RunId,
                  data: JSONBody[dict[str, str | None]]) -> dict[str, str]:
    return await offload(queries.tag_run, run_id, data)


@delete("/v1/runs/compare", tags=["runs"], summary="Delete a run (none is called compare)",
        include_in_schema=False, guards=[require_api_key], status_code=204)
async def delete_reserved() -> None:
    """`compare` is an endpoint, never a run id: deleting it is a plain 404 (not a 405)."""
    from flowtime.domain.errors import not_found

    raise not_found("runId", "run 'compare' not found (the name is reserved)")


@get("/v1/runs/{run_id:str}", tags=["runs"], summary="Describe a run",
     responses=problems(400, 404))
async def get_run(queries: Queries, run_id: RunId) -> RunResponse:
    return record_response(await offload(queries.get_run, run_id))


@delete("/v1/runs/{run_id:str}", tags=["runs"], summary="Delete a run",
        guards=[require_api_key], responses=problems(400, 401, 404))
async def delete_run(queries: Queries, run_id: RunId) -> None:
    await offload(queries.delete_run, run_id)


@get("/v1/runs/{run_id:str}/index", tags=["runs"], summary="Series index",
     responses={200: documented(SeriesIndexJson, "The series catalogue (series/index.json)"),
                **problems(400, 404)})
async def series_index(queries: Queries, run_id: RunId) -> SeriesIndexJson:
    return await offload(queries.series_index, run_id)


@get("/v1/runs/{run_id:str}/series/{series_id:str}", tags=["runs"], summary="One series as CSV",
     media_type="text/csv", responses=problems(400, 404))
async def series_csv(queries: Queries, run_id: RunId, series_id: FromPath[str]) -> Response[bytes]:
    _, data = await offload(queries.series_csv, run_id, series_id)
    return Response(data, media_type="text/csv; charset=utf-8")


_MEDIA_TYPES = {".json": "application/json", ".csv": "text/csv; charset=utf-8",
                ".yaml": "application/yaml"}


@get("/v1/runs/{run_id:str}/files/{file_path:path}", tags=["runs"],
     summary="Any file of the bundle", media_type="application/octet-stream",
     responses=problems(400, 404))
async def bundle_file(queries: Queries, run_id: RunId,
                      file_path: Annotated[str, PathParameter(pattern=BUNDLE_PATH,
                                                              max_length=512)]) -> Response[bytes]:
    path = file_path.lstrip("/")
    data = await offload(queries.read_file, run_id, path)
    suffix = path[path.rfind("."):] if "." in path else ""
    return Response(data, media_type=_MEDIA_TYPES.get(suffix, "application/octet-stream"))


@get("/v1/runs/{run_id:str}/state", tags=["state"], summary="Snapshot at one bin",
     responses={200: documented(StateSnapshot, "Every topology node at one bin"),
                **problems(400, 404, 422)})
async def state(
    queries: Queries, run_id: RunId,
    bin_index: Annotated[int, QueryParameter(name="binIndex", description="0-based bin")],
) -> StateSnapshot:
    return await offload(queries.state, run_id, bin_index)


@get("/v1/runs/{run_id:str}/state_window", tags=["state"], summary="Series over a window",
     responses={200: documented(wire_docs.StateWindow, "Series of every topology node over bins "
                                "startBin..endBin (at most 500)"),
                **problems(400, 404, 413, 422)})
async def state_window(
    queries: Queries, run_id: RunId,
    start_bin: Annotated[int, QueryParameter(name="startBin", description="default 0")] = 0,
    end_bin: Annotated[int | None, QueryParameter(
        name="endBin", description="inclusive; default the last bin (at most 500 bins "
        "from startBin)")] = None,
) -> wire_docs.StateWindow:  # the domain StateWindow; this class documents its shape
    return await offload(queries.state_window, run_id, start_bin, end_bin)


@get("/v1/runs/{run_id:str}/overview", tags=["state"], summary="The whole run, reduced",
     description="Every topology node's series (arrivals, served, errors, queue, capacity, "
                 "externalDemand, utilization, latencyMinutes) and SLA descriptors over the "
                 "whole run, each reduced to at most `buckets` points: the largest value of "
                 "each `bucketBins` consecutive bins. Plus the run's warnings and the whole "
                 "run's window findings. What a viewer paints a large run from.",
     responses=problems(400, 404, 422))
async def run_overview(
    queries: Queries, run_id: RunId,
    buckets: Annotated[int, QueryParameter(ge=1, le=MAX_BUCKETS,
                                           description="1…2000; default 400")] = DEFAULT_BUCKETS,
) -> Overview:
    return await offload(queries.overview, run_id, buckets)


@get("/v1/runs/{run_id:str}/graph", tags=["state"], summary="The run's topology",
     responses={200: documented(Graph, "Nodes (kind, category, metrics) and edges (type, "
                                "measure, weight) of the compiled model"),
                **problems(400, 404, 422)})
async def graph(queries: Queries, run_id: RunId) -> Graph:
    return await offload(queries.graph, run_id)


@get("/v1/runs/compare", tags=["runs"], summary="Compare 2–5 runs",
     description="Which parameters differ; per series the mean, max, p95 and last value in "
                 "each run, and (unless values=false) the series aligned on the grid.",
     responses=problems(400, 404, 422))
async def compare_runs(
    queries: Queries,
    ids: Annotated[str, QueryParameter(
        description="2–5 run ids, comma-separated",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(,[A-Za-z0-9][A-Za-z0-9._-]*){1,4}$")],
    values: Annotated[bool, QueryParameter()] = True,
    series: Annotated[str | None, QueryParameter(description="Only these series "
                                                 "(comma-separated)")] = None,
) -> CompareOut:
    only = [s for s in series.split(",") if s] if series else None
    return compare_out(await offload(queries.compare, ids.split(","), values, only))


ExportFormat = Literal["csv", "json", "parquet", "arrow"]


@get("/v1/runs/{run_id:str}/export", tags=["runs"], summary="Every series as one table",
     description="time, bin (and class with `classes=true`), one column per series: CSV, "
                 "JSON, Parquet or Arrow (Parquet/Arrow carry the run id and hashes in their "
                 "schema metadata).",
     responses={200: ResponseSpec(bytes, description="The table", media_type="text/csv",
                                  generate_examples=False), **problems(400, 404, 422)})
async def export(request: Request[Any, Any, Any], queries: Queries, run_id: RunId,
                 fmt: Annotated[ExportFormat, QueryParameter(name="format")] = "csv",
                 classes: Annotated[bool, QueryParameter()] = False) -> Response[bytes]:
    from flowtime.adapters.export import FORMATS, stream_run

    settings = request.app.state.container.settings()
    pieces = await offload(stream_run, queries, run_id, fmt, classes, settings.max_cells)
    filename = f"{run_id}.{fmt}"
    # streamed as it is encoded (each piece made in a worker thread): constant memory
    return Stream(iterate_in_threads(pieces), media_type=FORMATS[fmt], headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


async def iterate_in_threads(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Each next piece of a sync iterator from a worker thread (encoding is CPU work)."""
    done = object()
    while True:
        piece = await offload(next, pieces, done)
        if piece is done:
            return
        yield piece  # type: ignore[misc]


ROUTES = [delete_reserved, healthz, readyz, list_templates, get_template, create_run, list_runs, get_run,
          delete_run, series_index, series_csv, bundle_file, state, state_window, run_overview, graph,
          export, compare_runs, tag_run]
