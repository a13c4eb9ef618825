"""An app factory that reads its settings from the environment (one call per worker).

`uvicorn --factory flowtime.adapters.http.asgi:app_from_env`, or `flowtime serve --workers N`.
"""

from __future__ import annotations

from litestar import Litestar

from flowtime.adapters.http.app import create_app
from flowtime.adapters.observability.logs import configure_logging
from flowtime.container import Settings, build_container


def app_from_env() -> Litestar:
    settings = Settings.from_env()
    configure_logging(json_lines=True, level=settings.log_level or "INFO")
    container = build_container(settings)
    container.store()  # fail fast on a bad store URL
    return create_app(container)
