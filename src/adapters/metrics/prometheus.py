"""Prometheus over its HTTP API (stdlib urllib: two GET endpoints need no client library).

A plain selector (`http_requests_total{job="api"}`) is read as raw samples — instant
queries of `SELECTOR[1d]` at successive ends across the window (plus five minutes before
it), so counter resets and irregular scrapes survive; `query_range`'s re-sampled steps
would lose them. Any other expression is evaluated with `query_range` at a step of a
quarter bin (at most), whose points are then resampled like samples. A selector that
matches several series is refused (name the series, or aggregate with an expression).

Settings: `FLOWTIME_PROMETHEUS_BEARER_TOKEN`, or `FLOWTIME_PROMETHEUS_USERNAME` /
`_PASSWORD` (basic auth); `FLOWTIME_METRICS_TIMEOUT_SECONDS`; `FLOWTIME_PROMETHEUS_URLS`
limits which servers a request may name (a server exposed to others should set it).
Errors: an unreachable server is `unavailable` (503) naming it; a query the server refuses
is `invalid` (400) carrying the server's own message.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import numpy as np

from flowtime.adapters.metrics.text import known_fields, text_field
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, invalid
from flowtime.domain.observed.samples import LOOKBACK_SECONDS, GridSpec, Samples
from flowtime.ports.metrics import MetricSettings

log = logging.getLogger("flowtime.metrics.prometheus")
_ADDRESS = re.compile(r"(?:[a-z][a-z0-9+.-]*://)?[\w.-]+:\d+\S*", re.IGNORECASE)


def _without_address(text: str) -> str:
    """A network error's words without the host and port (those go to the log)."""
    return _ADDRESS.sub("<server>", text)

SELECTOR = re.compile(r"^\s*(?:[A-Za-z_:][A-Za-z0-9_:]*\s*)?(?:\{[^{}]*\})?\s*$")
CHUNK_SECONDS = 86_400
MAX_BODY = 256 * 1024 * 1024


def is_selector(query: str) -> bool:
    return bool(query.strip()) and SELECTOR.fullmatch(query) is not None


class PrometheusMetricSource:
    kind = "prometheus"

    def __init__(self, settings: MetricSettings):
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: MetricSettings) -> PrometheusMetricSource:
        return cls(settings)

    # -- HTTP -----------------------------------------------------------------------------
    def _get(self, base: str, path: str, params: dict[str, str], loc: str) -> Any:
        url = base.rstrip("/") + path + "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        s = self.settings
        if s.bearer_token:
            request.add_header("Authorization", f"Bearer {s.bearer_token}")
        elif s.username is not None:
            pair = f"{s.username}:{s.password or ''}".encode()
            request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
        try:
            with urllib.request.urlopen(request, timeout=s.timeout_seconds) as response:
                body = response.read(MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            body = exc.read(64 * 1024)
            message = _server_error(body) or f"HTTP {exc.code}"
            if exc.code in (400, 422):
                raise invalid([Problem(f"{loc}.query", f"Prometheus refused the query: "
                                       f"{message}")], "query refused") from None
            if exc.code in (401, 403):
                raise invalid([Problem(f"{loc}.url", f"Prometheus refused the credentials "
                                       f"({message})")], "not authorised") from None
            log.warning("Prometheus at %s failed: %s", base, message)
            raise FlowTimeError(ErrorKind.UNAVAILABLE, f"Prometheus failed: {message}",
                                [Problem(f"{loc}.url", message)]) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            log.warning("Prometheus at %s is unreachable: %s", base, reason)
            raise FlowTimeError(ErrorKind.UNAVAILABLE, "Prometheus is unreachable", [
                Problem(f"{loc}.url", f"unreachable: {_without_address(str(reason))}")]
                                ) from None
        if len(body) > MAX_BODY:
            raise FlowTimeError(ErrorKind.TOO_LARGE, "Prometheus answer too large",
                                [Problem(f"{loc}.query", "the answer is over 256 MiB: narrow "
                                         "the window or the selector")])
        try:
            data = json.loads(body)
        except ValueError:
            raise FlowTimeError(ErrorKind.UNAVAILABLE, "the server did not answer as Prometheus",
                                [Problem(f"{loc}.url", "the answer is not JSON")]) from None
        if data.get("status") != "success":
            raise invalid([Problem(f"{loc}.query", f"Prometheus refused the query: "
                                   f"{data.get('error') or 'unknown error'}")], "query refused")
        return data.get("data") or {}

    def _check_url(self, url: str, loc: str) -> str:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise invalid([Problem(f"{loc}.url", "must be an http(s) URL of a Prometheus "
                                   "server")])
        allowed = self.settings.allowed_urls
        if allowed and not any(url.rstrip("/").startswith(a.rstrip("/")) for a in allowed):
            raise invalid([Problem(f"{loc}.url", "this server may only query "
                                   f"{', '.join(allowed)} (FLOWTIME_PROMETHEUS_URLS)")])
        return url

    # -- samples --------------------------------------------------------------------------
    def samples(self, source: Mapping[str, Any], grid: GridSpec, loc: str) -> Samples:
        known_fields(source, {"url", "query"}, loc)
        url = self._check_url(str(text_field(source, "url", loc)), loc)
        query = str(text_field(source, "query", loc))
        start = grid.start - LOOKBACK_SECONDS
        if is_selector(query):
            times, values = self._raw(url, query, start, grid.end, loc)
        else:
            times, values = self._range(url, query, start, grid, loc)
        if times.size > self.settings.max_samples:
            raise invalid([Problem(loc, f"{times.size} samples; at most "
                                   f"{self.settings.max_samples}")])
        return Samples(times, values)

    def _raw(self, url: str, query: str, start: float, end: float, loc: str
             ) -> tuple[np.ndarray, np.ndarray]:
        times: list[float] = []
        values: list[float] = []
        at = start
        while at < end:
            upto = min(at + CHUNK_SECONDS, end)
            span = max(1, math.ceil(upto - at))
            data = self._get(url, "/api/v1/query", {"query": f"{query}[{span}s]",
                                                   "time": _fmt(upto)}, loc)
            series = _one_series(data.get("result") or [], query, loc)
            for t, v in series.get("values") or []:
                t = float(t)
                if at <= t <= upto and (not times or t > times[-1]):
                    times.append(t)
                    values.append(float(v))
            at = upto
        return np.array(times), np.array(values)

    def _range(self, url: str, query: str, start: float, grid: GridSpec, loc: str
               ) -> tuple[np.ndarray, np.ndarray]:
        step = max(1.0, grid.bin_seconds / 4)
        times: list[float] = []
        values: list[float] = []
        at = start
        chunk = step * 10_000  # Prometheus answers at most 11,000 points per series
        while at < grid.end:
            upto = min(at + chunk, grid.end)
            data = self._get(url, "/api/v1/query_range", {
                "query": query, "start": _fmt(at), "end": _fmt(upto), "step": _fmt(step)}, loc)
            series = _one_series(data.get("result") or [], query, loc)
            for t, v in series.get("values") or []:
                t = float(t)
                if not times or t > times[-1]:
                    times.append(t)
                    values.append(float(v))
            at = upto + step
        return np.array(times), np.array(values)


def _fmt(seconds: float) -> str:
    return f"{seconds:.3f}"


def _one_series(result: list[Any], query: str, loc: str) -> dict[str, Any]:
    if not result:
        return {}
    if len(result) > 1:
        labels = ["{" + ", ".join(f'{k}="{v}"' for k, v in sorted(
            (r.get("metric") or {}).items())) + "}" for r in result[:3]]
        raise invalid([Problem(f"{loc}.query", f"'{query}' matches {len(result)} series "
                               f"({'; '.join(labels)}…): narrow the selector or aggregate "
                               "(sum(…))")], "ambiguous query")
    return dict(result[0])


def _server_error(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:300] or None
    return str(data.get("error")) if isinstance(data, dict) and data.get("error") else None
