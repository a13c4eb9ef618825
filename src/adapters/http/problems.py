"""Errors as `application/problem+json`: the one table from domain error kinds to HTTP
status codes, and the exception handlers that apply it. A 500 never leaks a traceback."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.utils.scope.state import ScopeState

from flowtime.adapters.wire import ProblemItem, ProblemOut
from flowtime.domain.errors import ErrorKind, FlowTimeError

log = logging.getLogger("flowtime.http")

PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 400,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNPROCESSABLE: 422,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.TIMEOUT: 503,
    ErrorKind.BUSY: 429,
    ErrorKind.UNSUPPORTED: 405,
    ErrorKind.INTERNAL: 500,
}

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def request_id_of(request: Request[Any, Any, Any]) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def printable(text: str) -> str:
    """`text` as UTF-8 can carry it: a lone surrogate (JSON's `\\udXXX` escapes decode to
    one) echoed from a request into a message becomes U+FFFD instead of failing the
    response's encoding (which would answer 500 for a 400)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def problem_response(
    status: int, detail: str, errors: list[ProblemItem] | None = None,
    request_id: str | None = None, headers: dict[str, str] | None = None, code: str | None = None,
) -> Response[ProblemOut]:
    title = TITLES.get(status, "Error")
    detail = printable(detail)
    errors = [ProblemItem(printable(e.loc), printable(e.msg)) for e in errors or []]
    body = ProblemOut(
        type=f"https://flowtime.dev/problems/{status}", title=title, status=status,
        detail=detail, errors=errors or [], error=detail, request_id=request_id, code=code,
    )
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def handle_domain_error(request: Request[Any, Any, Any], exc: FlowTimeError) -> Response[Any]:
    status = STATUS_BY_KIND.get(exc.kind, 500)
    if status >= 500:
        log.error("request %s failed: %s %s", request_id_of(request), exc.detail, exc.problems)
    errors = [ProblemItem(p.loc, p.msg) for p in exc.problems]
    headers = {"Retry-After": "1"} if exc.kind is ErrorKind.BUSY else None
    return problem_response(status, exc.detail, errors, request_id_of(request), headers,
                            code=exc.kind.value if exc.kind in CODED else None)


CODED = {ErrorKind.TIMEOUT, ErrorKind.BUSY, ErrorKind.TOO_LARGE}


def _readable(message: str) -> str:
    text = message.replace("`", "").replace(" | null", " or null")
    return text[0].lower() + text[1:] if text else "invalid value"


def _validation_item(key: str, message: str) -> ProblemItem:
    missing = re.match(r"Object missing required field `(\w+)`", message)
    unknown = re.match(r"Object contains unknown field `(\w+)`", message)
    prefix = "" if key in ("data", "body", "") else key + "."
    if missing:
        return ProblemItem(prefix + missing.group(1), "is required")
    if unknown:
        return ProblemItem(prefix + unknown.group(1), "unknown field")
    return ProblemItem("body" if key == "data" else key, _readable(message))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _bad_utf8_offset(request: Request[Any, Any, Any]) -> int | None:
    """The first byte of the (already read) body that is not UTF-8, if any.

    Whichever layer rejects the body first (the JSON decoder, with its own wording, or our
    own check), the client gets one message of ours: this looks at the bytes themselves."""
    body = ScopeState.from_scope(request.scope).body
    if not isinstance(body, bytes | bytearray):
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def encoding_problem(request: Request[Any, Any, Any], offset: int) -> Response[Any]:
    detail = f"request body is not valid UTF-8 (byte {offset})"
    return problem_response(400, detail, [ProblemItem("body", detail)], request_id_of(request),
                            code="invalid_encoding")


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    offset = _bad_utf8_offset(request)
    if offset is not None:
        return encoding_problem(request, offset)
    errors = []
    for item in exc.extra or []:
        if isinstance(item, dict):
            key = str(item.get("key") or item.get("source") or "request")
            if item.get("source") in ("query", "path", "header") and "_" in key:
                key = _camel(key)  # the name the client sent (pageSize), not ours (page_size)
            errors.append(_validation_item(key, str(item.get("message", "invalid value"))))
    detail = exc.detail or "invalid request"
    if errors and "Validation failed" in detail:
        detail = "; ".join(f"{e.loc}: {e.msg}" for e in errors)
    return problem_response(400, detail, errors, request_id_of(request))


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status == 400 and (offset := _bad_utf8_offset(request)) is not None:
        return encoding_problem(request, offset)
    if status == 500 and isinstance(exc.__cause__, msgspec.ValidationError):
        return _unattributed_body_error(request, str(exc.__cause__))
    detail = exc.detail or TITLES.get(status, "error")
    if status == 413:
        detail = "request body is too large"
    headers = dict(exc.headers or {})
    return problem_response(status, detail, [ProblemItem("request", detail)],
                            request_id_of(request), headers or None)


def _unattributed_body_error(request: Request[Any, Any, Any], message: str) -> Response[Any]:
    """A body the decoder refused that Litestar could not pin to one of the handler's
    parameters (it then raises a bare 500; seen with fuzzed bodies): the client's error,
    at the decoder's location (`$.data.observed` → `observed`)."""
    text, _, where = message.rpartition(" - at `")
    if not text:
        text, where = message, ""
    loc = where.rstrip("`").removeprefix("$").removeprefix(".data").removeprefix(".") or "body"
    item = ProblemItem(loc, _readable(text))
    return problem_response(400, f"{item.loc}: {item.msg}", [item], request_id_of(request))


def handle_too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """The JSON decoder gives up on absurdly nested bodies by raising RecursionError."""
    detail = "request body is nested too deeply"
    return problem_response(400, detail, [ProblemItem("body", detail)], request_id_of(request))


def handle_bad_encoding(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[Any]:
    """JSON must be UTF-8; the decoder raises this for any other byte sequence. Its
    offset may be within one string of the body (older msgspec decodes strings on their
    own), so the body's own bytes name the byte where they are at hand."""
    offset = _bad_utf8_offset(request)
    return encoding_problem(request, exc.start if offset is None else offset)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    request_id = request_id_of(request)
    log.exception("unhandled error in request %s %s (request id %s)", request.method,
                  request.url.path, request_id)
    detail = f"internal error; quote request id {request_id} when reporting it"
    return problem_response(500, detail, [], request_id)
