"""`WS /v1/sessions`: live what-if sessions (docs/analysis.md, "Live what-if").

JSON text frames. The first message opens the session (`template` or `templateId`,
`parameters`, `seed`, `pmfMode`); the answer is `{"ready": true, "knobs": […], "series":
[…]}`. Each `{"set": {knob: value}, "series": [ids]}` gets `{"series": {id: […]},
"warnings": […], "elapsedMs": x}`. A bad message gets `{"error": …, "problems": […]}`
and the session stays open.

Guards (issue 42), in the order a connection meets them:
- `Origin`: a browser page may open a session only from this server's own origin or one
  of FLOWTIME_CORS_ORIGINS; anything else is refused at the handshake (HTTP 403).
  Clients that send no Origin (not browsers) are not affected.
- Authentication before a slot: with an API key configured, the handshake's
  `Authorization: Bearer <key>` or a first message carrying `apiKey` (browsers cannot set
  headers on a WebSocket) — within FLOWTIME_SESSION_AUTH_SECONDS, in a frame of at most
  PREAUTH_FRAME_BYTES; otherwise the socket closes with 4401 and never held a slot.
  `{"apiKey": …}` alone authenticates and is answered `{"authenticated": true}`.
- Slots: at most FLOWTIME_MAX_SESSIONS authenticated sessions per process (more are
  closed with 1013, try again later).
- Idle: FLOWTIME_SESSION_IDLE_SECONDS without a *valid* message closes the session (1000,
  "idle"); frames that are not JSON objects are answered but do not keep it alive. Frames
  larger than FLOWTIME_MAX_BODY_BYTES close it (1009); large frames are parsed off the
  event loop.
- Replies: a `set` may ask for at most FLOWTIME_SESSION_MAX_REPLY_VALUES values (series ×
  bins); more is a clear error naming the budget, not an 80 MB frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from flowtime.adapters.http.security import bearer_token, same_key
from flowtime.domain.errors import FlowTimeError, Problem, invalid
from flowtime.domain.runs import MAX_SEED
from flowtime.domain.services.analysis_service import StudySource
from flowtime.domain.services.session import SetResult, WhatIfSession

PREAUTH_FRAME_BYTES = 8192
PARSE_INLINE_BYTES = 65_536  # larger frames are decoded in a worker thread
# A `set` on a model of at most this many cells (series × bins) runs on the event loop:
# re-running a knob's cone there takes well under a millisecond (benchmarks/session.py),
# less than the hop to a worker thread and back; larger models go to a worker thread.
SET_INLINE_CELLS = 50_000


class SessionSlots:
    """The process's open sessions (one per app, on app.state; no module globals)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.open = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.open -= 1


def open_request(message: dict[str, Any]) -> StudySource:
    """The first message: `template` (YAML) or `templateId`, `parameters`, `seed`,
    `pmfMode` (and `apiKey`, already checked)."""
    unknown = set(message) - {"template", "templateId", "parameters", "seed", "pmfMode",
                              "apiKey"}
    if unknown:
        raise invalid([Problem(k, "unknown field (template, templateId, parameters, "
                               "seed, pmfMode)") for k in sorted(unknown)])
    parameters = message.get("parameters") or {}
    seed = message.get("seed", 1)
    pmf_mode = message.get("pmfMode", "sample")
    if not isinstance(parameters, dict):
        raise invalid([Problem("parameters", "must be an object")])
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise invalid([Problem("seed", f"must be an integer 0…{MAX_SEED}")])
    if pmf_mode not in ("sample", "expected"):
        raise invalid([Problem("pmfMode", "must be sample or expected")])
    template_id, text = message.get("templateId"), message.get("template")
    if not isinstance(template_id, str | None) or not isinstance(text, str | None):
        raise invalid([Problem("template", "templateId and template are strings")])
    return StudySource(template_id, text, parameters, seed, pmf_mode)


def set_request(message: dict[str, Any]) -> tuple[dict[str, Any], list[str] | None]:
    """A later message: `{"set": {knob: value}, "series": [ids]}` → (changes, series)."""
    unknown = set(message) - {"set", "series"}
    if unknown:
        raise invalid([Problem(k, "unknown field (set, series)") for k in sorted(unknown)])
    changes = message.get("set") or {}
    if not isinstance(changes, dict):
        raise invalid([Problem("set", "must be an object of knob: value")])
    series = message.get("series") or None
    if series is not None and (not isinstance(series, list)
                               or not all(isinstance(s, str) for s in series)):
        raise invalid([Problem("series", "must be a list of series ids")])
    return changes, series


def _ready(session: WhatIfSession) -> dict[str, Any]:
    """The session's first answer, in the wire's words."""
    knobs = [{"id": k.id, "kind": k.kind, "type": k.type, "min": k.minimum, "max": k.maximum,
              "value": k.base} for k in session.knobs()]
    return {"ready": True, "knobs": knobs, "series": session.default_series()}


def _answer(result: SetResult) -> dict[str, Any]:
    """A `set`'s answer, in the wire's words."""
    return {"series": result.series,
            "warnings": [{"code": w.code, "message": w.message, "nodeId": w.node_id}
                         for w in result.warnings],
            "elapsedMs": result.elapsed_ms}


def _error(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, FlowTimeError):
        return {"error": exc.detail, "problems": [{"loc": p.loc, "msg": p.msg}
                                                 for p in exc.problems]}
    return {"error": "the message could not be handled", "problems": []}


def origin_allowed(socket: WebSocket, allowed: tuple[str, ...]) -> bool:
    """No Origin (a non-browser client), the server's own origin, or a configured one."""
    origin = socket.headers.get("origin")
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if origin in {o.rstrip("/").lower() for o in allowed}:
        return True
    host = socket.headers.get("host", "").lower()
    parts = urlsplit(origin)
    return bool(host) and parts.netloc == host and parts.scheme in ("http", "https")


def session_routes(offload: Any) -> list[Any]:
    @websocket("/v1/sessions")
    async def sessions(socket: WebSocket) -> None:
        settings = socket.app.state.container.settings()
        if not origin_allowed(socket, settings.cors_origins):
            await socket.close(code=1008, reason="origin not allowed")  # before accept: 403
            return
        await socket.accept()
        api_key = socket.app.state.get("api_key")
        first: dict[str, Any] | None = None
        if api_key and not same_key(bearer_token(socket.headers), api_key):
            first = await _authenticate(socket, settings, api_key, offload)
            if first is None:
                return
        slots: SessionSlots = socket.app.state.session_slots
        if not slots.take():
            await socket.close(code=1013, reason="too many sessions; try again later")
            return
        try:
            await _serve(socket, settings, offload, first)
        finally:
            slots.give_back()

    return [sessions]


async def _authenticate(socket: WebSocket, settings: Any, api_key: str, offload: Any
                        ) -> dict[str, Any] | None:
    """The first message must carry the key, soon and small. Returns that message when it
    also opens the session, {} when it only authenticated, None when the socket closed."""
    message = await _receive(socket, settings, offload, time.monotonic()
                             + settings.session_auth_seconds, PREAUTH_FRAME_BYTES,
                             answer_bad=False)
    if message is None or not same_key(str(message.get("apiKey") or ""), api_key):
        await _close(socket, 4401, "a valid API key is required")
        return None
    if set(message) == {"apiKey"}:
        await socket.send_json({"authenticated": True})
        return {}
    return message


async def _close(socket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # already gone
        await socket.close(code=code, reason=reason)


async def _receive(socket: WebSocket, settings: Any, offload: Any, deadline: float,
                   max_bytes: int, answer_bad: bool = True) -> dict[str, Any] | None:
    """The next message as an object before `deadline`; None once the socket is closed
    (idle, too big, client gone). A frame that is not a JSON object is answered and
    skipped — without moving the deadline (only valid messages keep a session alive)."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            await _close(socket, 1000, "idle")
            return None
        try:
            async with asyncio.timeout(remaining):  # no task per message (as wait_for makes)
                text = await socket.receive_text()
        except TimeoutError:
            await _close(socket, 1000, "idle")
            return None
        except WebSocketDisconnect:
            return None
        size = len(text.encode("utf-8"))
        if size > max_bytes:
            await _close(socket, 1009, "message too large")
            return None
        try:
            message = await offload(json.loads, text) if size > PARSE_INLINE_BYTES \
                else json.loads(text)
        except ValueError as exc:
            if not answer_bad:
                return None
            await socket.send_json({"error": f"not JSON: {exc}", "problems": []})
            continue
        except RecursionError:
            if not answer_bad:
                return None
            await socket.send_json({"error": "JSON nested too deeply", "problems": []})
            continue
        if not isinstance(message, dict):
            if not answer_bad:
                return None
            await socket.send_json({"error": "a message is a JSON object", "problems": []})
            continue
        return message


async def _serve(socket: WebSocket, settings: Any, offload: Any,
                 first: dict[str, Any] | None) -> None:
    service = socket.app.state.container.analysis()
    session: WhatIfSession | None = None
    inline = False
    pending = first or None  # a first message that already authenticated and opens
    while True:
        message = pending or await _receive(
            socket, settings, offload, time.monotonic() + settings.session_idle_seconds,
            settings.max_body_bytes)
        pending = None
        if message is None:
            return
        if session is None:
            try:
                session = await offload(WhatIfSession.open, service, open_request(message))
                inline = session.study.cells() <= SET_INLINE_CELLS
                reply = _ready(session)
            except Exception as exc:  # the session stays open; the client may retry
                reply = _error(exc)
        else:
            try:
                changes, series = set_request(message)
                if inline and session.cheap(changes):
                    reply = _answer(session.set(changes, series,
                                                settings.session_max_reply_values))
                else:
                    reply = _answer(await offload(session.set, changes, series,
                                                  settings.session_max_reply_values))
            except Exception as exc:
                reply = _error(exc)
        try:
            await socket.send_text(msgspec.json.encode(reply).decode("utf-8"))
        except WebSocketDisconnect:
            return
