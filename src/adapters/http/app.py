"""The Litestar application factory."""

from __future__ import annotations

import contextlib
import html
import logging
import threading
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, OpenAPIType, Schema, SecurityScheme
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

from flowtime.adapters.analysis_wire import MODEL_BODIES, REQUEST_BODIES
from flowtime.adapters.drafts_wire import REQUEST_BODIES as DRAFT_BODIES
from flowtime.adapters.forecast_wire import REQUEST_BODIES as FORECAST_BODIES
from flowtime.adapters.forecast_wire import WATCH_BODIES
from flowtime.adapters.http.analysis import analysis_routes
from flowtime.adapters.http.background import Periodic
from flowtime.adapters.http.caching import answer_head_as_get, conditional_get_middleware
from flowtime.adapters.http.drafts import draft_routes
from flowtime.adapters.http.forecasts import ForecastJobs, forecast_routes
from flowtime.adapters.http.metrics import metrics_route, route_template_middleware
from flowtime.adapters.http.observed import observed_routes
from flowtime.adapters.http.problems import (
    handle_bad_encoding,
    handle_domain_error,
    handle_http,
    handle_too_deep,
    handle_unexpected,
    handle_validation,
)
from flowtime.adapters.http.routes import ROUTES, offload, problems
from flowtime.adapters.http.scenarios import scenario_routes
from flowtime.adapters.http.security import (
    json_writes_middleware,
    request_id_middleware,
    require_api_key,
    with_security_headers,
)
from flowtime.adapters.http.sessions import SessionSlots, session_routes
from flowtime.adapters.http.sweeps import (
    SweepResumer,
    SweepSupervisor,
    start_resumer,
    stop_sweeps,
    sweep_routes,
)
from flowtime.adapters.http.viewer import viewer_routes
from flowtime.adapters.http.watches import Watches, watch_gauges, watch_routes
from flowtime.adapters.observed_wire import REQUEST_BODIES as OBSERVED_BODIES
from flowtime.adapters.wire import (
    CreateRunBody,
    OverlayBody,
    RunOptions,
    ScenarioBody,
    SweepBody,
    TelemetryBody,
)
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.expressions import jit
from flowtime.version import __version__

SWAGGER = "/static/vendor/swagger-ui"


def _provider(factory: Any) -> Provide:
    return Provide(lambda: factory(), sync_to_thread=False)


def _exactly_one(schema: Schema, names: dict[str, OpenAPIType]) -> None:
    schema.one_of = [Schema(required=[name], properties={name: Schema(type=kind)})
                     for name, kind in names.items()]


def _close_request_schemas(app: Litestar) -> None:
    """Request bodies refuse unknown fields (typos get a 400); say so in the OpenAPI."""
    schemas = app.openapi_schema.components.schemas or {}
    for struct in (CreateRunBody, RunOptions, TelemetryBody, SweepBody, ScenarioBody,
                   OverlayBody, *REQUEST_BODIES, *OBSERVED_BODIES, *FORECAST_BODIES,
                   *WATCH_BODIES, *DRAFT_BODIES):
        if struct.__name__ in schemas:
            schemas[struct.__name__].additional_properties = False
    # The generator drops the per-value `min_length` of dict values: every grid list
    # needs at least one value.
    grid = (schemas["SweepBody"].properties or {}).get("grid") if "SweepBody" in schemas else None
    values = getattr(grid, "additional_properties", None)
    if values is not None and not isinstance(values, bool):
        values.min_items = 1
    if "DraftPatchBody" in schemas:  # one edit at a time
        _exactly_one(schemas["DraftPatchBody"], {"mergePatch": OpenAPIType.OBJECT,
                                                 "replace": OpenAPIType.OBJECT,
                                                 "text": OpenAPIType.STRING})
    # A run names a catalogue template or carries one as text: exactly one of the two.
    for body in ("CreateRunBody", "SweepBody", "FitBody", "ForecastBody", "DraftCreateBody",
                 *MODEL_BODIES):
        if body in schemas:
            _exactly_one(schemas[body], {"templateId": OpenAPIType.STRING,
                                         "template": OpenAPIType.STRING})


class FlowtimeApp(Litestar):
    """Litestar, answering HEAD with the GET route (before routing: no 405 for HEAD), and
    every HTTP response with the security headers."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            send = with_security_headers(send)
        await answer_head_as_get(super().__call__, scope, receive, send)


class CatalogHealer(Periodic):
    """Lists the runs published while the catalog was down, as soon as it is back: every
    `interval` seconds, when the store holds notes of such runs (any replica's), they are
    given their catalog rows. One per app (on app.state), stopped on shutdown."""

    def __init__(self, container: Any, interval: float):
        super().__init__("catalog-healer", interval, logging.getLogger("flowtime.catalog"),
                         "catalog healing")
        self.container = container

    def tick(self) -> None:
        from flowtime.domain.services.catalog import heal

        healed = heal(self.container.store(), self.container.catalog())
        if healed:
            self.log.info("listed %d runs published while the catalog was down", healed)


async def _start_healer(app: Litestar) -> None:
    app.state.catalog_healer.start()


async def _stop_healer(app: Litestar) -> None:
    app.state.catalog_healer.stop()


async def _stop_forecasts(app: Litestar) -> None:
    app.state.forecasts.stop()
    app.state.watches.stop_all()


async def _open_catalog(app: Litestar) -> None:
    """Open the run catalog (and sync a new one from the store) before the first request,
    off the event loop. A catalog that is down leaves the server up: listing answers 503
    and /readyz says why until it is back."""
    from anyio.to_thread import run_sync

    with contextlib.suppress(FlowTimeError):
        await run_sync(app.state.container.catalog)


class SwaggerPage(SwaggerRenderPlugin):
    """Swagger UI without inline script (the Content-Security-Policy allows none): the
    page loads the vendored bundle and static/swagger-init.js, which fetches the document."""

    def render(self, request: Any, openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema.get("info", {}).get("title", "API")))
        return (f"<!DOCTYPE html><html><head><title>{title}</title>{self.favicon}"
                '<meta charset="utf-8"/><meta name="viewport" content="width=device-width, '
                f'initial-scale=1"><link href="{self.css_url}" rel="stylesheet">'
                f'<script src="{self.js_url}"></script>'
                f'<script src="{self.standalone_preset_js_url}"></script>'
                '<script src="/static/swagger-init.js"></script></head>'
                "<body><div id=\"swagger-container\"></div></body></html>").encode()


# Operation ids for generated clients: the handler's name in camelCase, except where a
# name reads better (a route's verb is in its method, not in `post_`).
OPERATION_IDS = {"sla_metrics": "getSlaMetrics", "diff_runs": "diffRuns",
                 "post_sensitivity": "sensitivity", "post_goal_seek": "goalSeek",
                 "post_optimize": "optimize", "post_validate": "validateTemplate",
                 "state": "getState", "state_window": "getStateWindow", "graph": "getGraph",
                 "export": "exportRun", "series_index": "getSeriesIndex",
                 "series_csv": "getSeries", "bundle_file": "getBundleFile",
                 "delete_reserved": "deleteCompareReserved", "work": "getWork",
                 "sweep_bands": "getSweepBands", "metrics": "getMetrics",
                 "healthz": "getHealth", "readyz": "getReadiness",
                 "resample_series": "resampleSeries", "fit_pmf": "fitPmf",
                 "fit_profile": "fitProfile", "fit_parameters": "fitParameters",
                 "create_capture": "createCapture"}
BEARER = "bearerAuth"


def operation_id(handler: Any, method: Any, components: Any) -> str:
    name = handler.handler_name
    if name in OPERATION_IDS:
        return OPERATION_IDS[name]
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _mark_keyed(handlers: list[Any]) -> None:
    """Routes guarded by the API key say so in OpenAPI (a bearer scheme)."""
    for handler in handlers:
        if require_api_key in (getattr(handler, "guards", None) or ()):
            handler.security = [{BEARER: []}]


def create_app(container: Any) -> Litestar:
    """Build the app around a container; the container decides every adapter."""
    settings = container.settings()
    dependencies = {
        "orchestration": _provider(container.orchestration),
        "queries": _provider(container.queries),
        "templates": _provider(container.templates),
        "store": _provider(container.store),
        "sweeps": _provider(container.sweeps),
        "analysis": _provider(container.analysis),
        "observed": _provider(container.observed),
    }
    observability = container.observability()
    tracing = OpenTelemetryPlugin(OpenTelemetryConfig(
        tracer_provider=observability.tracer_provider,
        meter_provider=observability.meter_provider,
        exclude=["/metrics", "/healthz", "/v1/sessions"]))
    handlers = [*ROUTES, *scenario_routes(), *sweep_routes(problems, offload),
                *analysis_routes(problems, offload), *observed_routes(problems, offload),
                *forecast_routes(problems, offload), *watch_routes(problems),
                *draft_routes(problems, offload),
                *session_routes(offload), metrics_route(observability.registry),
                *viewer_routes()]
    lifespans = []
    if settings.mcp:
        from flowtime.adapters.http.mcp_mount import mcp_mount

        endpoint, lifespan = mcp_mount(container, settings.mcp_host)
        handlers.append(endpoint)
        lifespans.append(lifespan)
    _mark_keyed(handlers)
    app = FlowtimeApp(
        route_handlers=handlers,
        plugins=[tracing],
        dependencies=dependencies,
        exception_handlers={
            FlowTimeError: handle_domain_error,
            ValidationException: handle_validation,
            HTTPException: handle_http,
            RecursionError: handle_too_deep,
            UnicodeDecodeError: handle_bad_encoding,
            Exception: handle_unexpected,
        },
        middleware=[request_id_middleware, json_writes_middleware, route_template_middleware,
                    conditional_get_middleware],
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins),
                               allow_headers=["Authorization", "Content-Type", "If-None-Match"],
                               expose_headers=["ETag", "Location", "X-Request-ID"])
        if settings.cors_origins else None,
        on_startup=[_open_catalog, _start_healer, start_resumer],
        on_shutdown=[stop_sweeps, _stop_healer, _stop_forecasts],
        lifespan=lifespans,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="flowtime",
            version=__version__,
            description="Turn flow-model templates into canonical, reproducible run bundles.",
            path="/schema",
            operation_id_creator=operation_id,
            components=Components(security_schemes={BEARER: SecurityScheme(
                type="http", scheme="bearer",
                description="FLOWTIME_API_KEY, when the server has one: "
                            "`Authorization: Bearer <key>` on every write route")}),
            render_plugins=[SwaggerPage(  # vendored: works without internet
                path=["/", "/swagger"], js_url=f"{SWAGGER}/swagger-ui-bundle.js",
                css_url=f"{SWAGGER}/swagger-ui.css",
                standalone_preset_js_url=f"{SWAGGER}/swagger-ui-standalone-preset.js",
                favicon="<link rel=\"icon\" href=\"data:,\">")],
        ),
        debug=False,
        logging_config=None,
    )
    _close_request_schemas(app)
    jit.warm()
    app.state.container = container
    app.state.api_key = settings.api_key
    app.state.analysis_slots = threading.BoundedSemaphore(settings.max_concurrent_analyses)
    app.state.session_slots = SessionSlots(settings.max_sessions)
    app.state.sweeps = SweepSupervisor(settings.max_concurrent_sweeps, settings.max_queued_sweeps)
    app.state.catalog_healer = CatalogHealer(container, settings.catalog_heal_seconds)
    app.state.sweep_resumer = SweepResumer(app.state.sweeps, container.sweeps,
                                           settings.sweep_resume_seconds) \
        if settings.sweep_resume else None
    app.state.forecasts = ForecastJobs(settings.max_concurrent_sweeps, settings.max_queued_sweeps)
    app.state.watches = Watches(settings.max_sessions, watch_gauges(observability.registry))
    return app
