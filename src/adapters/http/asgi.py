"""An app factory that reads its settings from the environment (one call per worker).

`uvicorn --factory flowtime.adapters.http.asgi:app_from_env`, or `flowtime serve --workers N`.
"""

from __future__ import annotations

import os

from litestar import Litestar

from flowtime.adapters.http.app import create_app
from flowtime.adapters.observability.logs import configure_logging
from flowtime.container import Settings, build_container


def app_from_env() -> Litestar:
    configure_logging(json_lines=True, level=os.environ.get("FLOWTIME_LOG_LEVEL", "INFO"))
    container = build_container(Settings.from_env())
    container.store()  # fail fast on a bad store URL
    return create_app(container)
