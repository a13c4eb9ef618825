"""`flowtime serve`: the HTTP API under uvicorn."""

from __future__ import annotations

import click

from flowtime.adapters.cli.errors import report_errors


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--store", help="Artifact store URL (default: FLOWTIME_STORE or FLOWTIME_DATA_DIR).")
@click.option("--templates", "templates_url", help="Template folder.")
@click.option("--log-level", default="info", show_default=True)
@report_errors
def serve(host: str, port: int, store: str | None, templates_url: str | None,
          log_level: str) -> None:
    """Serve the HTTP API (OpenAPI docs at /schema)."""
    import os

    import uvicorn

    from flowtime.adapters.http.app import create_app
    from flowtime.adapters.observability.logs import configure_logging
    from flowtime.container import Settings, build_container

    configure_logging(json_lines=True, level=os.environ.get("FLOWTIME_LOG_LEVEL", "INFO"))
    settings = Settings.from_env(store_url=store, templates_url=templates_url)
    container = build_container(settings)
    container.store()  # fail fast on a bad store URL
    app = create_app(container)
    click.echo(f"flowtime serving on http://{host}:{port}  (store: {settings.store_url})")
    click.echo(f"  docs: http://{host}:{port}/schema")
    uvicorn.run(app, host=host, port=port, log_level=log_level)
