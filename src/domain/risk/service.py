"""The forecast service: one place HTTP, the CLI and the library run forecasts. A forecast
is a job whose record (`forecasts/<id>`) holds its request, status, progress and result;
its id follows from the request, so asking again returns the finished forecast, and a
forecast that was interrupted (its process died) or cancelled runs again when re-asked —
the resume rule of sweeps. Threads are the driver's business (adapters/http/forecasts.py);
`execute` runs one to the end in the caller's thread."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec
import numpy as np

from flowtime.domain.artifacts.hashing import sha256_canonical
from flowtime.domain.errors import FlowTimeError, Problem, invalid, not_found
from flowtime.domain.evaluate.work import WorkGuard, check_work
from flowtime.domain.modeling.grid import format_utc
from flowtime.domain.observed.samples import GridSpec, SeriesSpec
from flowtime.domain.risk.forecast import (
    Chunk,
    DemandSpec,
    ForecastResult,
    checked,
    chunks,
    evaluate_rows,
    merge,
    prepare,
)
from flowtime.domain.services.analysis_service import AnalysisService, StudySource
from flowtime.ports import Clock
from flowtime.ports.sweeps import RecordStore

RECORD_KIND = "forecasts"
ACTIVE = ("queued", "running")


@dataclass(frozen=True, slots=True)
class DemandRequest:
    node: str | None
    history: Sequence[float | None] | None = None
    source: Mapping[str, Any] | None = None
    spec: SeriesSpec = field(default_factory=SeriesSpec)
    season: int | None = None
    history_bins: int | None = None  # with a source: this many bins before the window


class Progress(msgspec.Struct, frozen=True):
    done: int
    total: int


class ForecastRecord(msgspec.Struct, rename="camel"):
    """A forecast job as kept (`forecasts/<id>`, camelCase JSON): updated in place as it
    runs (status, progress, then result or error) and written after each change."""

    id: str
    status: str  # queued | running | succeeded | failed | cancelled | interrupted
    created_utc: str
    template_id: str
    progress: Progress
    request: dict[str, Any]  # the request as asked, in its wire form (hashed into the id)
    owner: str | None = None  # host:pid of the process running it
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    started_utc: str | None = None
    finished_utc: str | None = None

    def fail(self, kind: str, detail: str, problems: list[dict[str, Any]] | None = None,
             status: str = "failed", finished_utc: str | None = None) -> None:
        self.status = status
        self.error = {"kind": kind, "detail": detail, **(
            {"problems": problems} if problems is not None else {})}
        self.finished_utc = finished_utc


@dataclass(frozen=True, slots=True)
class ForecastRequest:
    source: StudySource
    priors: list[tuple[str, dict[str, Any]]]
    samples: int = 1000
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    series: list[str] | None = None
    demand: DemandRequest | None = None
    wire: dict[str, Any] = field(default_factory=dict)  # the request as asked (the record)

    def forecast_id(self) -> str:
        return "forecast_" + sha256_canonical(self.wire).removeprefix("sha256:")[:16]


def demand_node(study: Any, asked: str | None) -> str:
    """The node a demand forecast feeds: the one asked, else the template's const node whose
    `source` is `forecast` (exactly one)."""
    if asked:
        return asked
    marked = [n.id for n in study.model.definition.nodes
              if getattr(n, "source", None) == "forecast"]
    if len(marked) != 1:
        raise invalid([Problem("demand.node", "name the node the forecast feeds (or mark "
                               "exactly one const node `source: forecast`; found "
                               f"{len(marked)})")])
    return marked[0]


def result_dict(result: ForecastResult) -> dict[str, Any]:
    """The stored and wire form (MODELING §11; camelCase)."""
    return {"samples": result.samples, "quantiles": result.quantiles,
            "sla": {node: {"slaMinutes": r.sla_minutes,
                           "breachProbability": r.breach_probability,
                           "anyBreach": r.any_breach, "breachedBy": r.breached_by,
                           "firstBreach": {**r.first_breach, "neverCount": r.never_count}}
                    for node, r in result.sla.items()},
            "overflow": result.overflow, "demand": result.demand, "priors": result.priors}


class ForecastService:
    def __init__(self, analysis: AnalysisService, store: RecordStore, clock: Clock,
                 resample: Callable[..., Any] | None = None, owner: str = "",
                 alive: Callable[[str], bool | None] | None = None,
                 distribute: Callable[..., Iterator[Chunk]] | None = None,
                 min_chunks: int = 4):
        self.analysis = analysis
        self.store = store
        self.clock = clock
        self.resample = resample  # ObservedService.resample, for a demand source
        self.owner = owner  # host:pid of this process
        self.alive = alive or (lambda owner: None)
        # distribute(request, prepared, [(start, count)], cancel) → chunks, on the configured
        # executor (a process pool or Dask); used from `min_chunks` chunks up
        self.distribute = distribute
        self.min_chunks = min_chunks

    # -- records ------------------------------------------------------------------------
    def _now(self) -> str:
        return format_utc(self.clock.now().replace(microsecond=0))

    def write(self, record: ForecastRecord) -> None:
        # the json module both ways: a result may hold NaN, which it keeps
        self.store.write_record(RECORD_KIND, record.id,
                                json.dumps(msgspec.to_builtins(record)).encode("utf-8"))

    def get(self, forecast_id: str) -> ForecastRecord:
        try:
            data = self.store.read_record(RECORD_KIND, forecast_id)
        except FlowTimeError as exc:
            if exc.kind == "not_found":
                raise not_found("forecastId", f"forecast '{forecast_id}' not found") from None
            raise
        record = msgspec.convert(json.loads(data), ForecastRecord)
        if record.status in ACTIVE and self.alive(str(record.owner)) is False:
            record.status = "interrupted"  # its process is gone; asking again resumes it
        return record

    def list(self) -> list[ForecastRecord]:
        """Every readable forecast, the newest first."""
        items = []
        for forecast_id in self.store.list_records(RECORD_KIND):
            try:
                items.append(self.get(forecast_id))
            except (FlowTimeError, ValueError, msgspec.ValidationError):
                continue
        return sorted(items, key=lambda r: r.created_utc, reverse=True)

    def open(self, request: ForecastRequest) -> tuple[ForecastRecord, bool]:
        """The record for this request, and whether it must run (new, or to be resumed)."""
        forecast_id = request.forecast_id()
        try:
            record = self.get(forecast_id)
        except FlowTimeError as exc:
            if exc.kind != "not_found":
                raise
            record = None
        if record is not None and record.status in ("succeeded", *ACTIVE):
            return record, False
        self.check(request)
        record = ForecastRecord(
            id=forecast_id, status="queued", created_utc=self._now(),
            template_id=request.source.template_id or "inline", owner=self.owner,
            progress=Progress(0, request.samples), request=request.wire)
        self.write(record)
        return record, True

    def check(self, request: ForecastRequest) -> None:
        """Fail early (before a job is queued): the model builds and the work fits."""
        study = self.analysis.study(request.source)
        check_work(self.analysis.limits, request.samples, study.cells())
        demand = None
        if request.demand is not None:
            node = demand_node(study, request.demand.node)
            knob = study.knobs.get(node)
            if knob is None or knob.kind != "node":
                raise invalid([Problem("demand.node", f"'{node}' is not a const node (or an "
                                       "expression reading nothing) the forecast can feed")])
            demand = DemandSpec(node, np.empty(0))
        checked(study, request.priors, request.samples, request.quantiles, request.series,
                demand)

    # -- running ------------------------------------------------------------------------
    def execute(self, request: ForecastRequest, guard: WorkGuard | None = None,
                on_progress: Callable[[int, int], None] | None = None,
                record: ForecastRecord | None = None,
                distributed: bool = False) -> ForecastResult:
        """Run one forecast to the end; with a record, keep it up to date. `distributed`:
        its chunks run on the configured executor (when it has enough of them)."""
        if record is not None:
            record.status, record.owner, record.started_utc = "running", self.owner, self._now()
            self.write(record)
        try:
            study = self.analysis.study(request.source, guard)
            demand = self._demand(request, study) if request.demand else None
            last = [0.0]

            def progress(done: int, total: int) -> None:
                if on_progress is not None:
                    on_progress(done, total)
                if record is not None and (done == total or done - last[0] >= total / 20):
                    last[0] = done
                    record.progress = Progress(done, total)
                    self.write(record)

            prepared = prepare(study, request.priors, request.samples, request.source.seed,
                               request.quantiles, request.series, demand)
            parts = chunks(prepared, study.model)
            done: list[Chunk] = []
            if self.distribute is not None and distributed and len(parts) >= self.min_chunks:
                cancel = guard.cancelled if guard is not None else threading.Event()
                for chunk in self.distribute(request, prepared, parts, cancel):
                    done.append(chunk)
                    progress(sum(c.count for c in done), request.samples)
                if guard is not None:
                    guard.check()
            else:
                for start, count in parts:
                    done.append(evaluate_rows(study, prepared, start, count))
                    progress(start + count, request.samples)
            result = merge(prepared, done)
        except FlowTimeError as exc:
            if record is not None:
                cancelled = guard is not None and guard.cancelled.is_set()
                record.fail(exc.kind.value, exc.detail, [asdict(p) for p in exc.problems],
                            "cancelled" if cancelled else "failed", self._now())
                self.write(record)
            raise
        if record is not None:
            record.status, record.result = "succeeded", result_dict(result)
            record.finished_utc = self._now()
            self.write(record)
        return result

    def _demand(self, request: ForecastRequest, study: Any) -> DemandSpec:
        demand = request.demand
        assert demand is not None
        grid = study.model.grid
        node = demand_node(study, demand.node)
        if (demand.history is None) == (demand.source is None):
            raise invalid([Problem("demand", "give history (values) or a source")])
        season = demand.season or max(2, round(1440 / grid.bin_minutes))
        if demand.history is not None:
            history = np.array([math.nan if v is None else v for v in demand.history],
                               dtype=np.float64)
        else:
            if self.resample is None:
                raise invalid([Problem("demand.source", "no metric sources are configured")])
            bins = demand.history_bins or 7 * season
            spec = GridSpec(grid.start.timestamp() - bins * grid.bin_minutes * 60.0, bins,
                            grid.bin_minutes * 60.0)
            assert demand.source is not None
            history = self.resample(demand.source, spec, demand.spec, node,
                                    "demand.source").values
        return DemandSpec(node, history, season)
