"""Forecast bodies and answers (MODELING §11: `POST /v1/forecasts`, `GET
/v1/forecasts/{id}`), shared by HTTP, `flowtime forecast` and `flowtime.forecast(...)`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from flowtime.adapters.observed_wire import Sampling, Source
from flowtime.adapters.wire import Wire
from flowtime.domain.observed.samples import SeriesSpec
from flowtime.domain.risk.forecast import MAX_SAMPLES
from flowtime.domain.risk.service import DemandRequest, ForecastRecord, ForecastRequest
from flowtime.domain.runs import MAX_SEED
from flowtime.domain.services.analysis_service import StudySource


class PriorBody(Wire, forbid_unknown_fields=True):
    knob: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    dist: Annotated[dict[str, Any], msgspec.Meta(description=(
        "{kind: normal, mean, sd} (truncated at the knob's bounds) | {kind: lognormal, mu, "
        "sigma} | {kind: uniform, lo, hi} | {kind: triangular, lo, mode, hi} | {kind: pmf, "
        "values, probabilities}"))]


class DemandBody(Sampling, kw_only=True, forbid_unknown_fields=True):
    node: Annotated[str, msgspec.Meta(min_length=1, max_length=200, description=(
        "the const node (or an expression reading nothing) the forecast feeds; default: "
        "the template's const node with `source: forecast`"))] | None = None
    history: Annotated[list[float | None], msgspec.Meta(min_length=1,
                                                        max_length=1_000_000)] | None = None
    source: Source | None = None
    season: Annotated[int, msgspec.Meta(ge=2, le=100_000)] | None = None
    history_bins: Annotated[int, msgspec.Meta(ge=4, le=1_000_000)] | None = None


class ForecastBody(Wire, kw_only=True, forbid_unknown_fields=True):
    template_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    template: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    seed: Annotated[int, msgspec.Meta(gt=-1, le=MAX_SEED)] = 1
    pmf_mode: Literal["sample", "expected"] = "sample"
    priors: Annotated[list[PriorBody], msgspec.Meta(max_length=20)] = msgspec.field(
        default_factory=list)
    samples: Annotated[int, msgspec.Meta(ge=1, le=MAX_SAMPLES)] = 1000
    quantiles: Annotated[list[Annotated[float, msgspec.Meta(ge=0, le=1)]],
                         msgspec.Meta(min_length=1, max_length=20)] = msgspec.field(
        default_factory=lambda: [0.1, 0.5, 0.9])
    series: Annotated[list[str], msgspec.Meta(max_length=200)] | None = None
    demand: DemandBody | None = None

    def request(self) -> ForecastRequest:
        demand = None
        if self.demand is not None:
            d = self.demand
            demand = DemandRequest(d.node, d.history, d.source,
                                   SeriesSpec(d.type, d.aggregation, d.fill), d.season,
                                   d.history_bins)
        wire = msgspec.to_builtins(self)
        return ForecastRequest(
            StudySource(self.template_id, self.template, dict(self.parameters), self.seed,
                        self.pmf_mode),
            [(p.knob, dict(p.dist)) for p in self.priors], self.samples,
            tuple(self.quantiles), self.series, demand, wire)


class ProgressOut(Wire):
    done: int
    total: int


class ForecastOut(Wire):
    id: str
    status: str  # queued | running | succeeded | failed | cancelled | interrupted
    progress: ProgressOut
    created_utc: str | None = None
    template_id: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class ForecastItem(Wire):
    id: str
    status: str
    progress: ProgressOut
    created_utc: str | None = None
    template_id: str | None = None


class ForecastList(Wire):
    items: list[ForecastItem]


REQUEST_BODIES = (ForecastBody, PriorBody, DemandBody)


def forecast_out(record: ForecastRecord) -> ForecastOut:
    return ForecastOut(record.id, record.status,
                       ProgressOut(record.progress.done, record.progress.total),
                       record.created_utc, record.template_id, record.result, record.error)


def forecast_item(record: ForecastRecord) -> ForecastItem:
    return ForecastItem(record.id, record.status,
                        ProgressOut(record.progress.done, record.progress.total),
                        record.created_utc, record.template_id)


class RuleBody(Wire, forbid_unknown_fields=True):
    node: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    probability: Annotated[float, msgspec.Meta(gt=0, le=1)]
    within_bins: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class WebhookBody(Wire, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(pattern="^https?://", max_length=2048)]
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 6


class WatchBody(Wire, kw_only=True, forbid_unknown_fields=True):
    forecast: ForecastBody
    rules: Annotated[list[RuleBody], msgspec.Meta(min_length=1, max_length=50)]
    interval_seconds: Annotated[float, msgspec.Meta(ge=1, le=86_400)] = 300.0
    webhook: WebhookBody | None = None
    window_parameter: Annotated[str, msgspec.Meta(description=(
        "a string parameter set to the current time (UTC, whole minutes) every cycle, for a "
        "template whose window starts at ${…}"))] | None = None


class WatchOut(Wire):
    id: str
    template_id: str
    status: str  # running | stopped
    cycles: int
    last_cycle_utc: str | None
    rules: list[dict[str, Any]]
    error: str | None = None
    alerts_sent: int = 0


WATCH_BODIES = (WatchBody, RuleBody, WebhookBody)
