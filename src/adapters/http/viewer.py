"""The browser run viewer: static pages over the public JSON API (runs list, run, template
with its what-if panel, compare).

Pages and assets ship inside the package (uPlot is vendored under static/vendor), so
nothing is fetched from a CDN at run time.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from litestar import Response, get
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


@get("/runs/{run_id:str}", include_in_schema=False)
async def run_page(run_id: FromPath[str]) -> Response[bytes]:
    return _html("run.html")


@get("/templates/{template_id:str}", include_in_schema=False)
async def template_page(template_id: FromPath[str]) -> Response[bytes]:
    return _html("template.html")


@get("/compare", include_in_schema=False)
async def compare_page() -> Response[bytes]:
    return _html("compare.html")


def viewer_routes() -> list[Any]:
    assets = create_static_files_router(path="/static", directories=[STATIC],
                                        include_in_schema=False)
    return [runs_page, run_page, template_page, compare_page, assets]
