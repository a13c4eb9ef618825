"""`flowtime mcp`: the MCP server over stdio, for an agent that starts flowtime itself
(Claude Desktop, any MCP client; docs/agents.md). Logs go to standard error."""

from __future__ import annotations

import click

from flowtime.adapters.cli.errors import report_errors


@click.command("mcp")
@click.option("--store", help="Artifact store URL (default: FLOWTIME_STORE or FLOWTIME_DATA_DIR).")
@click.option("--templates", "templates_url", help="Template folder.")
@report_errors
def mcp(store: str | None, templates_url: str | None) -> None:
    """Serve flowtime's tools to an MCP client over standard input and output."""
    import importlib.util

    if importlib.util.find_spec("mcp") is None:
        raise click.ClickException("the MCP SDK is not installed: pip install 'flowtime[mcp]'")
    from flowtime.adapters.cli.context import container_for
    from flowtime.adapters.mcp_server import build_server

    build_server(container_for(store, templates_url)).run("stdio")
