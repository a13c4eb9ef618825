"""`WS /v1/sessions`: live what-if sessions (docs/analysis.md, "Live what-if").

JSON text frames. The first message opens the session (`template` or `templateId`,
`parameters`, `seed`, `pmfMode`); the answer is `{"ready": true, "knobs": […], "series":
[…]}`. Each `{"set": {knob: value}, "series": [ids]}` gets `{"series": {id: […]},
"warnings": […], "elapsedMs": x}`. A bad message gets `{"error": …, "problems": […]}`
and the session stays open.

Bounds: at most FLOWTIME_MAX_SESSIONS sessions per process (more are closed with code
1013, try again later), FLOWTIME_SESSION_IDLE_SECONDS without a message closes the session
(1000 with reason "idle"), frames larger than FLOWTIME_MAX_BODY_BYTES close it (1009).
With an API key configured, the handshake must carry `Authorization: Bearer <key>` or the
first message an `apiKey` field (browsers cannot set headers on a WebSocket); otherwise
the session is closed with 4401.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
from typing import Any

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from flowtime.domain.errors import FlowTimeError
from flowtime.domain.session import WhatIfSession

_open = 0
_lock = threading.Lock()


def _error(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, FlowTimeError):
        return {"error": exc.detail, "problems": [{"loc": p.loc, "msg": p.msg}
                                                 for p in exc.problems]}
    return {"error": "the message could not be handled", "problems": []}


def _authorised(socket: WebSocket, first: dict[str, Any]) -> bool:
    api_key = socket.app.state.get("api_key")
    if not api_key:
        return True
    header = socket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    supplied = token.strip() if scheme.lower() == "bearer" else str(first.get("apiKey") or "")
    return hmac.compare_digest(supplied.encode("utf-8"), api_key.encode("utf-8"))


def session_routes(offload: Any) -> list[Any]:
    @websocket("/v1/sessions")
    async def sessions(socket: WebSocket) -> None:
        global _open
        settings = socket.app.state.container.settings()
        with _lock:
            full = _open >= settings.max_sessions
            if not full:
                _open += 1
        await socket.accept()
        if full:
            await socket.close(code=1013, reason="too many sessions; try again later")
            return
        try:
            await _serve(socket, settings, offload)
        finally:
            with _lock:
                _open -= 1

    return [sessions]


async def _receive(socket: WebSocket, settings: Any) -> dict[str, Any] | None:
    """The next message as an object; None once the socket is closed (idle, too big,
    client gone). A frame that is not a JSON object is answered and skipped."""
    while True:
        try:
            text = await asyncio.wait_for(socket.receive_text(),
                                          timeout=settings.session_idle_seconds)
        except TimeoutError:
            await socket.close(code=1000, reason="idle")
            return None
        except WebSocketDisconnect:
            return None
        if len(text.encode("utf-8")) > settings.max_body_bytes:
            await socket.close(code=1009, reason="message too large")
            return None
        try:
            message = json.loads(text)
        except ValueError as exc:
            await socket.send_json({"error": f"not JSON: {exc}", "problems": []})
            continue
        except RecursionError:
            await socket.send_json({"error": "JSON nested too deeply", "problems": []})
            continue
        if not isinstance(message, dict):
            await socket.send_json({"error": "a message is a JSON object", "problems": []})
            continue
        return message


async def _serve(socket: WebSocket, settings: Any, offload: Any) -> None:
    service = socket.app.state.container.analysis()
    session: WhatIfSession | None = None
    while True:
        message = await _receive(socket, settings)
        if message is None:
            return
        if session is None:
            if not _authorised(socket, message):
                await socket.close(code=4401, reason="a valid API key is required")
                return
            try:
                session = await offload(WhatIfSession.open, service, message)
                reply = session.ready()
            except Exception as exc:  # the session stays open; the client may retry
                reply = _error(exc)
        else:
            try:
                reply = await offload(session.set, message)
            except Exception as exc:
                reply = _error(exc)
        try:
            await socket.send_json(reply)
        except WebSocketDisconnect:
            return
