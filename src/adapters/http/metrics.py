"""`GET /metrics`: Prometheus text from the OpenTelemetry Prometheus exporter."""

from __future__ import annotations

import re
from typing import Any

from litestar import Response, get
from litestar.types import ASGIApp, Receive, Scope, Send
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest


def metrics_route(registry: CollectorRegistry) -> Any:
    @get("/metrics", tags=["health"], summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST,
         include_in_schema=True)
    async def metrics() -> Response[bytes]:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics


class _Route:
    """What OpenTelemetry's ASGI instrumentation reads to label HTTP metrics with the route
    template (`scope["route"].path_format`, as FastAPI/Starlette offer it)."""

    __slots__ = ("path_format",)

    def __init__(self, path_format: str):
        self.path_format = path_format


_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):[a-z]+\}")


def route_template_middleware(app: ASGIApp) -> ASGIApp:
    """Label HTTP metrics by route template (`/v1/runs/{run_id}`), never by concrete path:
    one time series per route, not one per run id. Runs after routing, so Litestar has put
    `path_template` in the scope; the instrumentation reads the scope when the request ends."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        template = scope.get("path_template")
        if template:
            scope["route"] = _Route(_PARAM.sub(r"{\1}", template))  # type: ignore[typeddict-unknown-key]
        await app(scope, receive, send)

    return middleware
