"""`/mcp`: the MCP server's streamable HTTP transport (the SDK's own ASGI app) mounted in
the API when the server runs with `--mcp` (FLOWTIME_MCP=1). With FLOWTIME_API_KEY set it
takes the same `Authorization: Bearer <key>` as every write route (401 otherwise); the
SDK's DNS-rebinding protection allows the Host names of the address served. The transport's
session manager runs for the app's lifetime (a Litestar lifespan)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, asgi

from flowtime.adapters.http.security import bearer_token, same_key


def mcp_mount(container: Any, host: str) -> tuple[Any, Any]:
    """(the route handler, the lifespan) serving MCP at /mcp."""
    from flowtime.adapters.mcp_server import build_server

    server = build_server(container)
    inner = server.streamable_http_app(streamable_http_path="/", host=host)
    api_key = container.settings().api_key

    @asgi("/mcp", is_mount=True, copy_scope=True)
    async def mcp_endpoint(scope: Any, receive: Any, send: Any) -> None:
        if api_key and scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in scope.get("headers", [])}
            if not same_key(bearer_token(headers), api_key):
                body = json.dumps({"status": 401, "title": "Unauthorized",
                                   "detail": "a valid API key is required: Authorization: "
                                             "Bearer <key>"}).encode()
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
        await inner(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with server.session_manager.run():
            yield

    return mcp_endpoint, lifespan
