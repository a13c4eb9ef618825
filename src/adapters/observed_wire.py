"""Observed data's bodies and answers (MODELING §11; camelCase msgspec Structs) and the one
conversion from the observed service's results to them, shared by HTTP
(`/v1/series/resample`, `/v1/pmfs/fit`, `/v1/profiles/fit`, `/v1/fit`,
`/v1/telemetry/captures`), the CLI (`flowtime data`, `flowtime fit`, whose `--json` prints
the same answers) and the library."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec

from flowtime.adapters.wire import WarningOut, Wire, warning_out
from flowtime.domain.evaluate.work import WorkGuard
from flowtime.domain.observed.calibrate import MAX_EVALUATIONS, Calibration, FitKnob, SeriesFit
from flowtime.domain.observed.fit import fit_pmf, fit_profile
from flowtime.domain.observed.samples import SeriesSpec
from flowtime.domain.observed.service import Calibrated, ObservedInput, ObservedService, grid_from
from flowtime.domain.runs import MAX_SEED
from flowtime.domain.services.analysis_service import StudySource

MAX_VALUES = 1_000_000
SeriesType = Literal["gauge", "counter"]
Aggregation = Literal["mean", "last", "max", "sum"]
Fill = Literal["none", "zero", "previous", "linear"]
Source = Annotated[dict[str, Any], msgspec.Meta(description=(
    "{kind: csv, text | path, timeColumn?, valueColumn?}, {kind: prometheus, url, query}, "
    "{kind: capture, directory, file}, or a plugin's kind"))]
Values = Annotated[list[float | None], msgspec.Meta(min_length=1, max_length=MAX_VALUES)]


class GridBody(Wire, forbid_unknown_fields=True):
    start: Annotated[str, msgspec.Meta(description="UTC, e.g. 2026-11-02T00:00:00Z")]
    bins: Annotated[int, msgspec.Meta(ge=1, le=MAX_VALUES)]
    bin_size: Annotated[int, msgspec.Meta(ge=1, le=1440)]
    bin_unit: Literal["minutes", "hours", "days", "weeks"] = "minutes"


class Sampling(Wire, kw_only=True):
    """How raw samples become one value per bin (domain/observed/resample.py): every body
    that reads observed data carries these three."""

    type: SeriesType = "gauge"
    aggregation: Aggregation = "mean"
    fill: Fill = "none"


class ResampleBody(Sampling, kw_only=True, forbid_unknown_fields=True):
    source: Source
    grid: GridBody


class ResampleOut(Wire):
    values: list[float | None]
    warnings: list[WarningOut]


class PmfFitBody(Wire, forbid_unknown_fields=True):
    values: Values
    max_points: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 8


class PmfOut(Wire):
    values: list[float]
    probabilities: list[float]


class PmfFitOut(Wire):
    pmf: PmfOut
    mean: float


class ProfileFitBody(Wire, forbid_unknown_fields=True):
    values: Values
    slots_per_day: Annotated[int, msgspec.Meta(ge=1, le=1440)]
    weekly: bool = False


class ProfileOut(Wire):
    kind: str
    weights: list[float]


class ProfileFitOut(Wire):
    profile: ProfileOut
    observed_days: float


class KnobBody(Wire, forbid_unknown_fields=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    lo: float
    hi: float
    start: float | None = None


class ObservedBody(Wire, kw_only=True, forbid_unknown_fields=True):
    series: Annotated[str, msgspec.Meta(min_length=1, max_length=200, description=(
        "the model series it is compared with (MODELING §0 name or a bundle series id)"))]
    values: Values | None = None
    source: Source | None = None
    type: SeriesType = "gauge"
    aggregation: Aggregation = "mean"
    fill: Fill = "none"

    def domain(self, weights: dict[str, float]) -> ObservedInput:
        return ObservedInput(self.series, self.values, self.source,
                             SeriesSpec(self.type, self.aggregation, self.fill),
                             weights.get(self.series, 1.0))


class FitBody(Wire, kw_only=True, forbid_unknown_fields=True):
    template_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    template: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    seed: Annotated[int, msgspec.Meta(gt=-1, le=MAX_SEED)] = 1
    pmf_mode: Literal["sample", "expected"] = "expected"
    knobs: Annotated[list[KnobBody], msgspec.Meta(min_length=1, max_length=20)]
    observed: Annotated[list[ObservedBody], msgspec.Meta(min_length=1, max_length=50)]
    inputs: Annotated[list[ObservedBody], msgspec.Meta(max_length=50, description=(
        "observed series that drive the model in every evaluation (e.g. its arrivals): "
        "`series` names a const node"))] = msgspec.field(default_factory=list)
    loss: Literal["rmse", "mae", "mape"] = "rmse"
    weights: dict[str, Annotated[float, msgspec.Meta(gt=0)]] = msgspec.field(
        default_factory=dict)
    holdout: Annotated[int, msgspec.Meta(ge=0, le=MAX_VALUES)] = 0
    max_evaluations: Annotated[int, msgspec.Meta(ge=1, le=MAX_EVALUATIONS)] = 200
    save_as: Annotated[str, msgspec.Meta(pattern="^[a-z0-9-]+$", max_length=128)] | None = None

    def source(self) -> StudySource:
        return StudySource(self.template_id, self.template, dict(self.parameters), self.seed,
                           self.pmf_mode)


class SeriesFitOut(Wire):
    series: str
    rmse: float | None
    mae: float | None
    mape: float | None
    residuals: list[float | None] | None = None


class HoldoutOut(Wire):
    loss: float | None
    per_series: list[SeriesFitOut]


class TraceOut(Wire):
    values: dict[str, float]
    loss: float | None


class FitOut(Wire):
    values: dict[str, float]
    loss: float | None
    per_series: list[SeriesFitOut]
    holdout: HoldoutOut | None
    iterations: int
    evaluations: int
    converged: bool
    trace: list[TraceOut]
    warnings: list[WarningOut]
    template_id: str | None = None


class CaptureSeriesBody(Sampling, kw_only=True, forbid_unknown_fields=True):
    id: Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
                                    description="the file is <id>.csv")]
    source: Source
    metric: Literal["Arrivals", "Served", "Errors", "ExternalDemand", "QueueDepth",
                    "Capacity"] = "Arrivals"


class CaptureBody(Wire, kw_only=True, forbid_unknown_fields=True):
    directory: Annotated[str, msgspec.Meta(min_length=1, max_length=256, description=(
        "under the capture root"))]
    template_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    template: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    grid: GridBody | None = None
    series: Annotated[list[CaptureSeriesBody], msgspec.Meta(min_length=1, max_length=50)]
    overwrite: bool = False


class CaptureFileOut(Wire):
    node_id: str
    path: str
    points: int
    hash: str


class CaptureOut(Wire):
    directory: str
    files: list[CaptureFileOut]
    warnings: list[WarningOut]


REQUEST_BODIES = (ResampleBody, PmfFitBody, ProfileFitBody, FitBody, CaptureBody, GridBody,
                  KnobBody, ObservedBody, CaptureSeriesBody)


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _values(values: Sequence[float]) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in values]


def resample(observed: ObservedService, data: ResampleBody) -> ResampleOut:
    grid = grid_from(data.grid.start, data.grid.bins, data.grid.bin_size, data.grid.bin_unit)
    got = observed.resample(data.source, grid, SeriesSpec(data.type, data.aggregation,
                                                          data.fill))
    return ResampleOut(_values(got.values.tolist()), [warning_out(w) for w in got.warnings])


def pmf(data: PmfFitBody) -> PmfFitOut:
    fitted = fit_pmf([math.nan if v is None else v for v in data.values], data.max_points)
    return PmfFitOut(PmfOut(fitted.values, fitted.probabilities), fitted.mean)


def profile(data: ProfileFitBody) -> ProfileFitOut:
    fitted = fit_profile([math.nan if v is None else v for v in data.values],
                         data.slots_per_day, data.weekly)
    return ProfileFitOut(ProfileOut("inline", fitted.weights), fitted.observed_days)


def _series_out(fit: SeriesFit, residuals: bool) -> SeriesFitOut:
    return SeriesFitOut(fit.series, fit.rmse, fit.mae, fit.mape,
                        fit.residuals if residuals else None)


def fit_out(done: Calibrated) -> FitOut:
    result: Calibration = done.calibration
    held = None
    if result.holdout is not None:
        held = HoldoutOut(result.holdout.loss,
                          [_series_out(s, False) for s in result.holdout.per_series])
    return FitOut(result.values, _num(result.loss),
                  [_series_out(s, True) for s in result.per_series], held, result.iterations,
                  result.evaluations, result.converged,
                  [TraceOut(t.values, _num(t.loss)) for t in result.trace],
                  [warning_out(w) for w in done.warnings], done.template_id)


def fit(observed: ObservedService, data: FitBody, guard: WorkGuard | None = None,
        fitted_at: str | None = None) -> FitOut:
    knobs = [FitKnob(k.id, k.lo, k.hi, k.start) for k in data.knobs]
    inputs = [o.domain(data.weights) for o in data.observed]
    driving = [o.domain({}) for o in data.inputs]
    done = observed.fit(data.source(), knobs, inputs, data.loss, data.holdout,
                        data.max_evaluations, data.save_as, guard, fitted_at, driving)
    return fit_out(done)


def pull(observed: ObservedService, data: CaptureBody, folder: Any, grid: Any,
         template_id: str, clock: Any, shown: str,
         progress: Any = None) -> tuple[CaptureOut, list[Any]]:
    """Resample every series of a pull onto `grid` and write the capture directory (HTTP's
    POST /v1/telemetry/captures and `flowtime data pull`); the answer and the warnings."""
    from flowtime.adapters.telemetry.capture import write_pulled_capture

    spec_grid = observed.grid_spec(grid)
    series, warnings = [], []
    for i, item in enumerate(data.series):
        if progress is not None:
            progress(i, item.id)
        got = observed.resample(item.source, spec_grid, SeriesSpec(item.type, item.aggregation,
                                                                   item.fill),
                                item.id, f"series[{i}].source")
        series.append((item.id, item.metric, got.values.tolist()))
        warnings.extend(got.warnings)
    sources = [{"id": s.id, "type": s.type, "source": {k: v for k, v in s.source.items()
                                                       if k != "text"}} for s in data.series]
    manifest = write_pulled_capture(folder, grid, series, warnings, template_id, sources, clock,
                                    data.overwrite)
    return CaptureOut(shown, [CaptureFileOut(f.node_id, f.path, f.points, f.hash)
                              for f in manifest.files],
                      [warning_out(w) for w in warnings]), warnings


class ObservedSeriesOut(Wire):
    series: str
    observed: list[float | None]
    model: list[float | None]
    residuals: list[float | None]
    rmse: float | None
    source: dict[str, Any]


class ObservedRunOut(Wire):
    run_id: str
    calibrated_from: str | None
    series: list[ObservedSeriesOut]
    not_read: list[str]  # observed series whose source cannot be read again (inline CSV)


def observed_run(observed: ObservedService, queries: Any, run_id: str) -> ObservedRunOut:
    """A run of a calibrated template beside the observed series it was calibrated to
    (GET /v1/runs/{id}/observed)."""
    import json
    from datetime import datetime

    from flowtime.domain.errors import not_found
    from flowtime.domain.modeling.grid import TimeGrid, parse_utc
    from flowtime.domain.modeling.names import EPOCH
    from flowtime.domain.observed.service import observed_vs_model

    record = queries.get_run(run_id)
    provenance = json.loads(queries.read_file(run_id, "model/provenance.json"))
    calibration = provenance.get("calibration")
    if not isinstance(calibration, dict):
        raise not_found("runId", f"run '{run_id}' was not made from a calibrated template")
    grid = record.grid
    start = parse_utc(grid.start_time_utc or EPOCH)
    assert isinstance(start, datetime)
    reader = queries.series(run_id)
    found, skipped = observed_vs_model(
        observed, calibration, TimeGrid(grid.bins, grid.bin_size, grid.bin_unit, start),
        reader.values)
    return ObservedRunOut(run_id, calibration.get("fromTemplate"), [
        ObservedSeriesOut(f.series, f.observed, f.model, f.residuals, f.rmse, f.source)
        for f in found], skipped)
