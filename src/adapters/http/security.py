"""Optional API key for mutating routes, and request ids for every request."""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def require_api_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for mutating routes: `Authorization: Bearer <key>` when a key is configured
    (app.state.api_key); compared in constant time."""
    api_key = connection.app.state.get("api_key")
    if not api_key:
        return
    if not same_key(bearer_token(connection.headers), api_key):
        raise NotAuthorizedException(
            "a valid API key is required: Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of `Authorization: Bearer <token>`; "" without one."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def same_key(supplied: str, api_key: str) -> bool:
    """The supplied key is the server's, compared in constant time."""
    return hmac.compare_digest(supplied.encode("utf-8"), api_key.encode("utf-8"))


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/")
                                                 and media_type.endswith("+json"))


def json_writes_middleware(app: ASGIApp) -> ASGIApp:
    """Cross-site request forgery guard, one rule for every route present and future: a
    POST, PUT, PATCH or DELETE must say `Content-Type: application/json` (415 otherwise;
    a DELETE without a body may say nothing).
    A browser sends that type across origins only after a CORS preflight, which the
    server answers only for FLOWTIME_CORS_ORIGINS — so a page elsewhere cannot start work
    here with a form or a `no-cors` fetch."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in WRITE_METHODS:
            headers = dict(scope.get("headers", []))
            content_type = headers.get(b"content-type")
            # A DELETE with no body and no type is let through: browsers never send a
            # cross-site DELETE without a preflight (it is not a "simple" method), and
            # `curl -X DELETE` should work. Any type it does declare must be JSON.
            bodiless_delete = (scope["method"] == "DELETE" and content_type is None
                               and headers.get(b"content-length", b"0") == b"0"
                               and b"transfer-encoding" not in headers)
            if not bodiless_delete and not is_json((content_type or b"").decode("latin-1")):
                await _refuse_media_type(scope, send)
                return
        await app(scope, receive, send)

    return middleware


async def _refuse_media_type(scope: Scope, send: Send) -> None:
    detail = (f"{scope['method']} requests must have Content-Type: application/json "
              "(cross-site requests are refused)")
    request_id = scope.get("state", {}).get("request_id")
    body = json.dumps({"type": "https://flowtime.dev/problems/415",
                       "title": "Unsupported Media Type", "status": 415, "detail": detail,
                       "errors": [{"loc": "headers.content-type", "msg": detail}],
                       "error": detail, "requestId": request_id,
                       "code": "unsupported_media_type"}).encode("utf-8")
    await send({"type": "http.response.start", "status": 415,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# Every response says how a browser may use it. Scripts only from this origin (the viewer
# and the Swagger page load theirs from /static; no inline script anywhere); inline style
# attributes are allowed (the chart and graph libraries set them); nothing may frame us.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def with_security_headers(send: Send) -> Send:
    """`send`, adding SECURITY_HEADERS to the response start (applied outside the router,
    so the 404 of an unknown path carries them too)."""

    async def send_with_headers(message: Any) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []),
                                  *(h for h in SECURITY_HEADERS if h[0] not in present)]
        await send(message)

    return send_with_headers


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Take a safe incoming X-Request-ID or make one; echo it on the response."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(REQUEST_ID_HEADER.encode(), b"").decode(
            "latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        await app(scope, receive, send_with_id)

    return middleware
