"""`GET /metrics`: Prometheus text from the OpenTelemetry Prometheus exporter."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest


def metrics_route(registry: CollectorRegistry) -> Any:
    @get("/metrics", tags=["health"], summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST,
         include_in_schema=True)
    async def metrics() -> Response[bytes]:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
