"""Run requests, results and summaries exchanged between drivers, service and stores.

The records are frozen msgspec Structs, not dataclasses: a frozen dataclass costs ~0.6 ms to
define (its methods are generated with `exec`), and every CLI command defines these; a
Struct takes ~0.03 ms. Copy with `msgspec.structs.replace`."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from msgspec import field

MODES = ("simulation", "telemetry")
PMF_MODES = ("sample", "expected")
# The `metadata.schema` id/version the reference's clients expect on run and state bodies.
STATE_SCHEMA_ID = "time-travel/v1"
STATE_SCHEMA_VERSION = "1"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_PAGE = 1_000_000_000  # beyond any listing; keeps offsets within 64 bits
# The largest seed any request takes (runs, sweeps, analysis, sessions, Monte Carlo): every
# integer up to 2^53 survives a trip through a JSON double, so a seed read back by any
# client is the seed that was used. (Here, not beside the generators: reading it must not
# import numpy.)
MAX_SEED = 2**53


class TelemetryRequest(msgspec.Struct, frozen=True):
    capture_directory: str
    bindings: dict[str, str] = field(default_factory=dict)


class RunRequest(msgspec.Struct, frozen=True):
    """One run. The template is a catalogue id (`template_id`) or YAML text
    (`template_text`, named by `template_name`, e.g. the file it came from)."""

    template_id: str | None
    mode: str = "simulation"
    parameters: dict[str, Any] = field(default_factory=dict)
    telemetry: TelemetryRequest | None = None
    deterministic_run_id: bool = False
    run_id: str | None = None
    overwrite_existing: bool = False
    dry_run: bool = False
    seed: int | None = None
    template_text: str | None = None
    template_name: str | None = None
    pmf_mode: str = "sample"  # sample | expected (PMF nodes as E = Σ v·p, the reference's)
    tags: dict[str, str] = field(default_factory=dict)
    sweep_id: str | None = None  # the sweep this run is a point of (recorded in its metadata)
    overlays: tuple[Any, ...] = ()  # scenarios.Overlay: inputs changed over bin ranges
    base_run_id: str | None = None  # the run this scenario was derived from (lineage)

    @property
    def inline(self) -> bool:
        return self.template_text is not None


class RunWarning(msgspec.Struct, frozen=True):
    code: str
    message: str
    severity: str = "warning"
    node_id: str | None = None
    bins: tuple[int, ...] | None = None
    value: float | None = None
    edge_ids: tuple[str, ...] | None = None


class RunSummary(msgspec.Struct, frozen=True):
    """The compact per-run record listing and search read (never the whole bundle)."""

    run_id: str
    template_id: str
    template_title: str
    template_version: str
    mode: str
    created_utc: str
    warning_count: int
    parameters: dict[str, Any] = field(default_factory=dict)  # resolved, typed
    tags: dict[str, str] = field(default_factory=dict)
    sweep_id: str | None = None
    base_run_id: str | None = None


SWEEP_MEMBERS = ("include", "exclude", "only")
SORTS = ("-createdUtc", "createdUtc", "templateId", "-templateId", "runId", "-runId")


def parameter_key(value: Any) -> tuple[str | None, float | None]:
    """How a parameter value is matched by `param.<name>=<text>`: its canonical text and,
    for numbers, its value (so `40` finds 40 and 40.0). Long structured values (arrays)
    keep no text: they cannot be searched by value."""
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            return str(number), None
        text = str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
        return text, number
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True,
                                                           separators=(",", ":"))
    return (text if len(text) <= 512 else None), None


def query_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parameter_matches(value: Any, text: str) -> bool:
    stored_text, stored_number = parameter_key(value)
    wanted = query_number(text)
    return stored_text == text or (wanted is not None and stored_number == wanted)


def created_bound(moment: datetime) -> str:
    """A created-time bound as listings compare it: whole seconds in UTC with `Z`, as runs'
    `created_utc` are written. Runs are created on whole seconds, so a bound with a fraction
    moves up to the next second (the same runs fall before it and after it); a time without
    an offset is UTC."""
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    if moment.microsecond:
        try:
            moment = moment.replace(microsecond=0) + timedelta(seconds=1)
        except OverflowError:  # the last second of year 9999
            moment = moment.replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


class RunFilter(msgspec.Struct, frozen=True):
    """What a listing asks for. Tag and parameter filters all must hold (a tag filter with
    value None asks for the key with any value); created bounds are ISO-8601 UTC strings,
    `created_from` inclusive and `created_to` exclusive."""

    mode: str | None = None
    template_id: str | None = None
    has_warnings: bool | None = None
    tags: Mapping[str, str | None] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)
    sweep_id: str | None = None
    created_from: str | None = None
    created_to: str | None = None
    sweep_members: str = "include"  # include | exclude | only
    base_run_id: str | None = None  # only the scenarios derived from this run

    def accepts(self, summary: RunSummary) -> bool:
        if self.mode is not None and summary.mode != self.mode:
            return False
        if self.template_id is not None and summary.template_id != self.template_id:
            return False
        if self.has_warnings is not None and (summary.warning_count > 0) != self.has_warnings:
            return False
        if self.base_run_id is not None and summary.base_run_id != self.base_run_id:
            return False
        if self.sweep_id is not None and summary.sweep_id != self.sweep_id:
            return False
        if self.sweep_members != "include" and (
                (summary.sweep_id is None) == (self.sweep_members == "only")):
            return False
        if self.created_from is not None and summary.created_utc < self.created_from:
            return False
        if self.created_to is not None and summary.created_utc >= self.created_to:
            return False
        if not all(key in summary.tags and (value is None or summary.tags[key] == value)
                   for key, value in self.tags.items()):
            return False
        return all(name in summary.parameters and parameter_matches(summary.parameters[name], text)
                   for name, text in self.parameters.items())


class RunPage(msgspec.Struct, frozen=True):
    items: list[RunSummary]
    total_count: int
    page: int
    page_size: int
    next_cursor: str | None = None  # keyset paging: stable while newer runs arrive


def sort_key(sort: str) -> tuple[str, bool]:
    """(summary field, descending) for a listing sort; ties break by run id."""
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    return {"createdUtc": "created_utc", "templateId": "template_id",
            "runId": "run_id"}[name], descending


def paginate(summaries: list[RunSummary], run_filter: RunFilter, page: int, size: int,
             sort: str = "-createdUtc") -> RunPage:
    """Filter, order (newest first by default) and cut one page (pages start at 1)."""
    column, descending = sort_key(sort)
    matching = sorted((s for s in summaries if run_filter.accepts(s)),
                      key=lambda s: (getattr(s, column), s.run_id), reverse=descending)
    start = (page - 1) * size
    return RunPage(matching[start : start + size], len(matching), page, size)


class StoragePaths(msgspec.Struct, frozen=True):
    """Where the store keeps a run's model files (paths or URLs, as the store says)."""

    model_path: str
    metadata_path: str
    provenance_path: str

    @property
    def bundle_location(self) -> str:
        return self.model_path.rsplit("/model/", 1)[0]


class GridSummary(msgspec.Struct, frozen=True):
    bins: int
    bin_size: int
    bin_unit: str
    start_time_utc: str | None = None
    duration_minutes: int | None = None


class ArtifactFlags(msgspec.Struct, frozen=True):
    run_json: bool
    manifest_json: bool
    series_index: bool
    series_count: int


class Bottleneck(msgspec.Struct, frozen=True):
    """A node holding the flow up over the whole run (flow_analysis rules)."""

    node_id: str
    bins: tuple[int, ...]
    queue_growth: float
    mean_utilization: float | None
    path: tuple[str, ...]


class RunRecord(msgspec.Struct, frozen=True):
    """Everything a driver needs to describe a stored run (create and get bodies)."""

    run_id: str
    template_id: str
    template_title: str
    template_version: str
    mode: str
    provenance_hash: str
    model_hash: str
    scenario_hash: str
    telemetry_sources: list[str]  # capture files a telemetry run read
    storage: StoragePaths
    warnings: list[RunWarning]
    grid: GridSummary
    artifacts: ArtifactFlags
    can_replay: bool
    created_utc: str
    bottlenecks: list[Bottleneck] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)  # resolved, typed
    pmf_mode: str = "sample"
    seed: int | None = None
    rng_kind: str | None = None
    template_hash: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    sweep_id: str | None = None
    base_run_id: str | None = None
    overlays: list[dict[str, Any]] = field(default_factory=list)

    @property
    def telemetry_sources_resolved(self) -> bool:
        """Every input is resolved: a simulation run has nothing to resolve (as the
        reference reports); a telemetry run is stored only once its files were read."""
        return self.mode == "simulation" or bool(self.telemetry_sources)

    @property
    def schema_hash(self) -> str:
        """The `schema.hash` clients of the reference read: the model's hash."""
        return self.model_hash


class RunPlan(msgspec.Struct, frozen=True):
    """What a run would do (dry run): nothing is written."""

    template_id: str
    mode: str
    run_id: str | None
    scenario_hash: str
    seed: int
    parameters: dict[str, Any]
    grid: GridSummary
    series: list[str]
    telemetry_bindings: dict[str, str]


class RunResult(msgspec.Struct, frozen=True):
    """Outcome of `create_run`: a new or reused run, or a dry-run plan."""

    record: RunRecord | None
    plan: RunPlan | None
    warnings: list[RunWarning]
    created: bool  # False when an existing deterministic run was returned
    # Output series by series id, when this call evaluated them (saves re-reading CSVs).
    series: dict[str, Any] | None = None

    @property
    def is_dry_run(self) -> bool:
        return self.plan is not None
