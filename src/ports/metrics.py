"""Where observed metrics come from (MODELING §8): a `MetricSource` turns a source
description (`{kind: csv, …}`, `{kind: prometheus, …}`, `{kind: capture, …}`) into raw
samples for a grid's window. Sources are entry-point plugins under
`flowtime.metric_sources`, keyed by `kind`, so a team can add its own (a warehouse query):
the plugin's `from_settings(settings)` builds it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from flowtime.domain.observed.samples import GridSpec, Samples
from flowtime.ports.telemetry import TelemetrySource


@dataclass(frozen=True)
class MetricSettings:
    capture: TelemetrySource | None = None  # CSV paths and capture directories live here
    timeout_seconds: float = 30.0  # FLOWTIME_METRICS_TIMEOUT_SECONDS
    bearer_token: str | None = None  # FLOWTIME_PROMETHEUS_BEARER_TOKEN
    username: str | None = None  # FLOWTIME_PROMETHEUS_USERNAME (basic auth)
    password: str | None = None  # FLOWTIME_PROMETHEUS_PASSWORD
    allowed_urls: tuple[str, ...] = ()  # FLOWTIME_PROMETHEUS_URLS: if set, only these bases
    max_samples: int = 5_000_000  # FLOWTIME_MAX_METRIC_SAMPLES: per series


class MetricSource(Protocol):
    kind: str

    def samples(self, source: Mapping[str, Any], grid: GridSpec, loc: str) -> Samples:
        """The samples of one series covering the grid (and up to five minutes before
        it, for a counter's base and a gauge's held value). Problems are located under
        `loc` (e.g. `observed[0].source`)."""
        ...


class MetricSourcePlugin(Protocol):
    kind: str

    @classmethod
    def from_settings(cls, settings: MetricSettings) -> MetricSource: ...
