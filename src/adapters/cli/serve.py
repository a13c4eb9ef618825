"""`flowtime serve`: the HTTP API under uvicorn."""

from __future__ import annotations

import click

from flowtime.adapters.cli.errors import report_errors


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--store", help="Artifact store URL (default: FLOWTIME_STORE or FLOWTIME_DATA_DIR).")
@click.option("--templates", "templates_url", help="Template folder.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes (the server keeps no state outside the store).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"],
              case_sensitive=False), help="Default: FLOWTIME_LOG_LEVEL, else info.")
@click.option("--mcp", is_flag=True, help="Also serve the MCP server (for agents) at /mcp.")
@report_errors
def serve(host: str, port: int, store: str | None, templates_url: str | None, workers: int,
          log_level: str | None, mcp: bool) -> None:
    """Serve the HTTP API (OpenAPI docs at /schema)."""
    import os

    import uvicorn

    from flowtime.container import Settings, build_container

    settings = Settings.from_env(store_url=store, templates_url=templates_url,
                                 log_level=log_level.upper() if log_level else None,
                                 mcp=True if mcp else None, mcp_host=host if mcp else None)
    level = (settings.log_level or "INFO").lower()
    build_container(settings).store()  # fail fast on a bad store URL, before forking
    # uvicorn's worker processes build their own container from the environment they
    # inherit: hand them the resolved settings (Settings owns the variable names).
    os.environ.update(settings.to_env())
    click.echo(f"flowtime serving on http://{host}:{port}  (store: {settings.store_url}, "
               f"workers: {workers})")
    click.echo(f"  docs: http://{host}:{port}/schema")
    if settings.mcp:
        click.echo(f"  MCP (streamable HTTP): http://{host}:{port}/mcp")
    from flowtime.adapters.observability.logs import uvicorn_log_config

    # permessage-deflate costs ~0.2 ms a message each way for a what-if reply of a few KB
    # (benchmarks/session.py): offered only when FLOWTIME_WS_DEFLATE=1 (slow links)
    uvicorn.run("flowtime.adapters.http.asgi:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level=level, log_config=uvicorn_log_config(level),
                ws_per_message_deflate=settings.ws_deflate)
