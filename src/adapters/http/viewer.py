"""The browser run viewer: static pages over the public JSON API (runs list, run with its
topology, findings, heatmap, class filter and lineage; template with its what-if panel and
sensitivity form; compare; sweeps and a sweep with its bands; a saved analysis as a tornado
or a trace; forecasts with fan charts and breach strips). Shared components live in
static/workbench.js.

Pages and assets ship inside the package (uPlot, Cytoscape.js with its dagre layout and
Swagger UI are vendored under static/vendor), so nothing is fetched from a CDN at run time.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.static_files import create_static_files_router

STATIC = Path(str(resources.files("flowtime.adapters.http").joinpath("static")))


@cache
def _page(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def _html(name: str) -> Response[bytes]:
    return Response(_page(name), media_type="text/html",
                    headers={"Cache-Control": "no-cache"})


@get("/", include_in_schema=False)
async def runs_page() -> Response[bytes]:
    return _html("index.html")


def not_found_page() -> Response[bytes]:
    """A proper page with a 404 status (not a blank page, not a 200)."""
    return Response(_page("notfound.html"), status_code=404, media_type="text/html",
                    headers={"Cache-Control": "no-cache"})


def _exists(request: Request[Any, Any, Any], check: Any) -> bool:
    from flowtime.domain.errors import FlowTimeError

    try:
        return bool(check(request.app.state.container))
    except FlowTimeError:
        return True  # the store is down: let the page load and show the API's answer


@get("/runs/{run_id:str}", include_in_schema=False)
async def run_page(request: Request[Any, Any, Any], run_id: FromPath[str]) -> Response[bytes]:
    from anyio.to_thread import run_sync

    from flowtime.domain.artifacts.hashing import is_valid_run_id

    found = is_valid_run_id(run_id) and await run_sync(
        _exists, request, lambda c: c.store().exists(run_id))
    return _html("run.html") if found else not_found_page()


@get("/sweeps", include_in_schema=False)
async def sweeps_page() -> Response[bytes]:
    return _html("sweeps.html")


@get("/sweeps/{sweep_id:str}", include_in_schema=False)
async def sweep_page(request: Request[Any, Any, Any], sweep_id: FromPath[str]) -> Response[bytes]:
    from anyio.to_thread import run_sync

    from flowtime.domain.artifacts.hashing import is_valid_run_id

    def known(container: Any) -> bool:
        from flowtime.domain.errors import ErrorKind, FlowTimeError

        try:
            container.store().read_sweep_file(sweep_id, "sweep.json")
        except FlowTimeError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                return False
            raise
        return True

    found = is_valid_run_id(sweep_id) and await run_sync(_exists, request, known)
    return _html("sweep.html") if found else not_found_page()


@get("/templates/{template_id:str}", include_in_schema=False)
async def template_page(template_id: FromPath[str]) -> Response[bytes]:
    return _html("template.html")


@get("/compare", include_in_schema=False)
async def compare_page() -> Response[bytes]:
    return _html("compare.html")


@get("/analyses/{analysis_id:str}", include_in_schema=False)
async def analysis_page(analysis_id: FromPath[str]) -> Response[bytes]:
    return _html("analysis.html")


@get("/forecasts", include_in_schema=False)
async def forecasts_page() -> Response[bytes]:
    return _html("forecasts.html")


@get("/forecasts/{forecast_id:str}", include_in_schema=False)
async def forecast_page(forecast_id: FromPath[str]) -> Response[bytes]:
    return _html("forecast.html")


def viewer_routes() -> list[Any]:
    assets = create_static_files_router(path="/static", directories=[STATIC],
                                        include_in_schema=False)
    return [runs_page, run_page, template_page, compare_page, sweeps_page, sweep_page,
            analysis_page, forecasts_page, forecast_page, assets]
