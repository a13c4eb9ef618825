"""The observed-data service: the one place HTTP, the CLI and the library resample sources
onto a grid, fit profiles and PMFs, and calibrate a template (MODELING §8). Sources come
through the `MetricSource` port by `kind`; a calibrated template is written through the
template source's `save` when asked (`saveAs`)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from flowtime.domain.errors import Problem, conflict, invalid
from flowtime.domain.evaluate.work import WorkGuard, check_work
from flowtime.domain.modeling.grid import BIN_UNIT_MINUTES, TimeGrid, format_utc, parse_utc
from flowtime.domain.modeling.templates import Template, build_model, parse_template
from flowtime.domain.observed.calibrate import Calibration, FitKnob, Observation, calibrate
from flowtime.domain.observed.resample import Resampled, resample
from flowtime.domain.observed.samples import GridSpec, SeriesSpec
from flowtime.domain.runs import RunWarning
from flowtime.domain.services.analysis_service import AnalysisService, StudySource
from flowtime.ports.metrics import MetricSource

MAX_OBSERVED = 50


class TemplateWriter(Protocol):
    def save(self, template_id: str, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ObservedInput:
    """An observed series bound to a model series: given values, or a source to resample."""

    series: str
    values: Sequence[float | None] | None = None
    source: Mapping[str, Any] | None = None
    spec: SeriesSpec = field(default_factory=SeriesSpec)
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Calibrated:
    calibration: Calibration
    warnings: list[RunWarning]
    template_id: str | None = None  # the saved template


def grid_from(start: str, bins: int, bin_size: int, bin_unit: str, loc: str = "grid"
              ) -> GridSpec:
    return GridSpec.of(time_grid_from(start, bins, bin_size, bin_unit, loc))


def time_grid_from(start: str, bins: int, bin_size: int, bin_unit: str, loc: str = "grid"
                   ) -> TimeGrid:
    problems = []
    moment = parse_utc(start) if isinstance(start, str) else None
    if moment is None:
        problems.append(Problem(f"{loc}.start", "must be a UTC time like 2026-11-02T00:00:00Z"))
    if not 1 <= bins <= 1_000_000:
        problems.append(Problem(f"{loc}.bins", "must be 1…1000000"))
    if bin_unit not in BIN_UNIT_MINUTES:
        problems.append(Problem(f"{loc}.binUnit", f"must be one of {', '.join(BIN_UNIT_MINUTES)}"))
    if bin_size < 1:
        problems.append(Problem(f"{loc}.binSize", "must be ≥ 1"))
    if problems:
        raise invalid(problems)
    assert moment is not None
    return TimeGrid(bins, bin_size, bin_unit, moment)


class ObservedService:
    def __init__(self, sources: Callable[[str], MetricSource | None],
                 analysis: AnalysisService, writer: TemplateWriter | None = None,
                 kinds: Callable[[], list[str]] | None = None):
        self._sources = sources
        self._kinds = kinds or (lambda: [])
        self.analysis = analysis
        self.writer = writer

    def source(self, kind: Any, loc: str) -> MetricSource:
        found = self._sources(kind) if isinstance(kind, str) else None
        if found is None:
            known = ", ".join(self._kinds()) or "none"
            raise invalid([Problem(f"{loc}.kind", f"unknown source kind '{kind}' (installed: "
                                   f"{known})")])
        return found

    def resample(self, source: Mapping[str, Any], grid: GridSpec, spec: SeriesSpec,
                 name: str = "series", loc: str = "source") -> Resampled:
        if not isinstance(source, Mapping):
            raise invalid([Problem(loc, "must be an object with a kind")])
        spec = spec.checked(loc.rsplit(".", 1)[0] if "." in loc else "")
        samples = self.source(source.get("kind"), loc).samples(source, grid, loc)
        return resample(samples, grid, spec, name)

    def time_grid(self, source: StudySource) -> TimeGrid:
        """The grid of a template built with the request's parameters."""
        model = build_model(self.analysis.template(source), source.parameters,
                            self.analysis.budget)
        return model.grid

    @staticmethod
    def grid_spec(grid: TimeGrid) -> GridSpec:
        return GridSpec.of(grid)

    @staticmethod
    def _driven(study: Any, driven: list[Observation]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for i, item in enumerate(driven):
            knob = study.knobs.get(item.series)
            if knob is None or knob.kind != "node":
                raise invalid([Problem(f"inputs[{i}].series", f"'{item.series}' is not a "
                                       "const node (or an expression that reads no other "
                                       "node): only those can be fed observed values")])
            if np.isnan(item.values).any():
                first = int(np.flatnonzero(np.isnan(item.values))[0])
                raise invalid([Problem(f"inputs[{i}]", f"bin {first} has no value: give a "
                                       "fill (zero, previous or linear) for a driving input")])
            found[item.series] = item.values
        return found

    def observed(self, items: Sequence[ObservedInput], grid: GridSpec, what: str = "observed"
                 ) -> tuple[list[Observation], list[RunWarning]]:
        if len(items) > MAX_OBSERVED:
            raise invalid([Problem(what, f"{len(items)} series; at most {MAX_OBSERVED}")])
        found: list[Observation] = []
        warnings: list[RunWarning] = []
        for i, item in enumerate(items):
            loc = f"{what}[{i}]"
            if (item.values is None) == (item.source is None):
                raise invalid([Problem(loc, "give values or a source, not both")])
            if item.values is not None:
                values = np.array([np.nan if v is None else v for v in item.values],
                                  dtype=np.float64)
            else:
                assert item.source is not None
                got = self.resample(item.source, grid, item.spec, item.series, f"{loc}.source")
                values, warnings = got.values, warnings + got.warnings
            found.append(Observation(item.series, values, item.weight))
        return found, warnings

    def fit(self, source: StudySource, knobs: Sequence[FitKnob],
            observed: Sequence[ObservedInput], loss: str = "rmse", holdout: int = 0,
            max_evaluations: int = 200, save_as: str | None = None,
            guard: WorkGuard | None = None, fitted_at: str | None = None,
            inputs: Sequence[ObservedInput] = ()) -> Calibrated:
        """Calibrate; `inputs` are observed series that drive the model (its arrivals, say)
        in every evaluation — `series` names a const node, or an expression that reads no
        other node — so the fit compares like with like."""
        if save_as is not None and self.writer is None:
            raise invalid([Problem("saveAs", "this template source cannot save templates")])
        study = self.analysis.study(source, guard)
        check_work(self.analysis.limits, max_evaluations + 2, study.cells())
        grid = GridSpec.of(study.model.grid)
        observations, warnings = self.observed(observed, grid)
        if inputs:
            driven, more = self.observed(inputs, grid, "inputs")
            warnings += more
            study.inputs = self._driven(study, driven)
        result = calibrate(study, knobs, observations, loss, holdout, max_evaluations)
        saved = None
        if save_as is not None:
            text = calibrated_template(study.template, save_as, result, observed, study.model
                                       .grid, loss, fitted_at, inputs)
            assert self.writer is not None
            self.writer.save(save_as, text)
            saved = save_as
        return Calibrated(result, warnings, saved)


@dataclass(frozen=True, slots=True)
class ObservedVsModel:
    series: str
    observed: list[float | None]
    model: list[float | None]
    residuals: list[float | None]  # model − observed
    rmse: float | None
    source: dict[str, Any]


def observed_vs_model(service: ObservedService, calibration: Mapping[str, Any], grid: TimeGrid,
                      model_values: Callable[[str], np.ndarray | None]
                      ) -> tuple[list[ObservedVsModel], list[str]]:
    """A calibrated template's run against what it was calibrated to: each observed source
    of `provenance.calibration` read again onto the run's grid, beside the run's series.
    Sources that cannot be read again (CSV text sent inline) are named in the second list."""
    found: list[ObservedVsModel] = []
    skipped: list[str] = []
    spec_grid = GridSpec.of(grid)
    for i, entry in enumerate(calibration.get("sources") or []):
        if not isinstance(entry, Mapping) or entry.get("role", "observed") != "observed":
            continue
        name = str(entry.get("series"))
        source = entry.get("source")
        values = model_values(name)
        if not isinstance(source, Mapping) or values is None or (
                source.get("kind") == "csv" and "path" not in source):
            skipped.append(name)
            continue
        spec = SeriesSpec(str(entry.get("type", "gauge")), str(entry.get("aggregation", "mean")),
                          str(entry.get("fill", "none")))
        got = service.resample(source, spec_grid, spec, name, f"calibration.sources[{i}].source")
        observed = got.values
        model = np.asarray(values, dtype=np.float64)
        residual = model - observed
        known = np.isfinite(residual)
        rmse = float(np.sqrt(np.mean(residual[known] ** 2))) if known.any() else None
        found.append(ObservedVsModel(
            name, _nullable(observed), _nullable(model), _nullable(residual), rmse,
            dict(source)))
    return found, skipped


def _nullable(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values.tolist()]


def calibrated_template(template: Template, new_id: str, result: Calibration,
                        observed: Sequence[ObservedInput], grid: TimeGrid, loss: str,
                        fitted_at: str | None, inputs: Sequence[ObservedInput] = ()) -> str:
    """The template with the fitted values as parameter defaults (or, for a node knob, the
    node's constant) and `provenance.calibration` saying where they came from."""
    import yaml

    if new_id == template.id:
        raise conflict("saveAs", f"'{new_id}' is the template being calibrated: choose a new id")
    tree = copy.deepcopy(template.tree)
    parameters = {p.get("name"): p for p in tree.get("parameters") or [] if isinstance(p, dict)}
    nodes = {n.get("id"): n for n in tree.get("nodes") or [] if isinstance(n, dict)}
    for knob, value in result.values.items():
        shown = int(value) if float(value).is_integer() else value
        if knob in parameters:
            parameters[knob]["default"] = shown
        elif knob in nodes and "expr" in nodes[knob]:
            nodes[knob]["expr"] = repr(float(value))
        elif knob in nodes and "values" in nodes[knob]:
            nodes[knob]["values"] = [float(value)] * len(nodes[knob]["values"] or [0])
        else:
            raise invalid([Problem(f"knobs.{knob}", "only parameters and constant nodes can be "
                                   "saved into a template")])
    metadata = dict(tree.get("metadata") or {})
    metadata["id"] = new_id
    metadata["title"] = f"{metadata.get('title') or template.id} (calibrated)"
    tree["metadata"] = metadata
    sources = []
    for role, item in [("observed", o) for o in observed] + [("input", i) for i in inputs]:
        entry: dict[str, Any] = {"series": item.series, "role": role}
        if item.source is not None:
            entry["source"] = {k: v for k, v in item.source.items() if k != "text"}
            entry.update(type=item.spec.type, aggregation=item.spec.aggregation,
                         fill=item.spec.fill)
        sources.append(entry)
    provenance = dict(tree.get("provenance") or {})
    provenance["calibration"] = {
        "fromTemplate": template.id, "sources": sources,
        "window": {"start": format_utc(grid.start), "bins": grid.bins,
                   "binMinutes": grid.bin_minutes},
        "loss": {"kind": loss, "value": result.loss}, "values": dict(result.values),
        "fittedAtUtc": fitted_at}
    tree["provenance"] = provenance
    text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True, width=100)
    parse_template(text, loc="saveAs")  # what is written must load
    return text
