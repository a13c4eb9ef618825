"""The CLI against a flowtime server instead of a store: `--server URL` or FLOWTIME_SERVER.

Commands that offer `--server` send the same request the HTTP API documents and print the
same output as they do locally; the API key comes from FLOWTIME_API_KEY. Problems the
server reports come back as the CLI's own errors (one line each, the usual exit codes).
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem

SERVER_HELP = "Talk to a flowtime server (URL) instead of a store (default: FLOWTIME_SERVER)."
KINDS = {400: ErrorKind.INVALID, 401: ErrorKind.INVALID, 404: ErrorKind.NOT_FOUND,
         409: ErrorKind.CONFLICT, 413: ErrorKind.TOO_LARGE, 415: ErrorKind.INVALID,
         422: ErrorKind.UNPROCESSABLE, 503: ErrorKind.UNAVAILABLE}

server_option = click.option("--server", help=SERVER_HELP)


def server_url(flag: str | None) -> str | None:
    url = flag or os.environ.get("FLOWTIME_SERVER") or None
    return url.rstrip("/") if url else None


def call(server: str, method: str, path: str, params: dict[str, Any] | None = None,
         body: Any = None) -> tuple[int, Any]:
    """(status, decoded JSON) of one request; a problem+json answer raises FlowTimeError."""
    import httpx

    headers = {"Accept": "application/json"}
    if method.upper() != "GET":
        headers["Content-Type"] = "application/json"  # the server's cross-site guard
    key = os.environ.get("FLOWTIME_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        response = httpx.request(method, server + path, params=params, json=body,
                                 headers=headers, timeout=120)
    except httpx.HTTPError as exc:
        raise FlowTimeError(ErrorKind.UNAVAILABLE, f"cannot reach the server at {server}", [
            Problem("server", f"{server}: {exc}")]) from None
    try:
        data = response.json() if response.content else None
    except ValueError:
        data = response.text
    if response.status_code >= 400:
        detail = data.get("detail") if isinstance(data, dict) else str(data)
        problems = [Problem(e.get("loc", "request"), e.get("msg", "")) for e in
                    (data.get("errors", []) if isinstance(data, dict) else [])]
        if response.status_code == 401:
            problems.append(Problem("FLOWTIME_API_KEY", "the server needs an API key"))
        raise FlowTimeError(KINDS.get(response.status_code, ErrorKind.INTERNAL),
                            detail or f"HTTP {response.status_code}", problems)
    return response.status_code, data


def cli_value(text: str) -> Any:
    """A --param value without the template at hand: JSON when it parses (numbers, true,
    [1,2]), a comma list as an array, else the text; the server types and checks it."""
    for candidate in (text, f"[{text}]" if "," in text else None):
        if candidate is None:
            continue
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return text
