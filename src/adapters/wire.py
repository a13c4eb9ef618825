"""Wire models (msgspec Structs, camelCase) shared by the HTTP API and `--json` output.

Conversion from domain objects happens here, once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import msgspec

from flowtime.domain.artifacts.hashing import RUN_ID_PATTERN
from flowtime.domain.modeling.names import TARGET_PATTERN
from flowtime.domain.modeling.templates import Template
from flowtime.domain.runs import (
    MAX_SEED,
    STATE_SCHEMA_ID,
    STATE_SCHEMA_VERSION,
    GridSummary,
    RunPage,
    RunPlan,
    RunRecord,
    RunRequest,
    RunResult,
    RunWarning,
    StoragePaths,
    TelemetryRequest,
)

RunIdText = Annotated[str, msgspec.Meta(pattern=RUN_ID_PATTERN.pattern,
                                         description="Letters, digits, '.', '_', '-'")]
Mode = Literal["simulation", "telemetry"]


class Wire(msgspec.Struct, rename="camel", omit_defaults=False):
    pass


# -- requests ---------------------------------------------------------------------------
class TelemetryBody(Wire, forbid_unknown_fields=True):
    capture_directory: str
    bindings: dict[str, str] = {}


class RunOptions(Wire, forbid_unknown_fields=True):
    deterministic_run_id: bool = False
    run_id: RunIdText | None = None
    overwrite_existing: bool = False
    dry_run: bool = False
    pmf_mode: Literal["sample", "expected"] = "sample"
    tags: dict[str, str] = msgspec.field(default_factory=dict)  # mutable later: PATCH …/tags
    # gt=-1 rather than ge=0: the OpenAPI generator drops a zero minimum.
    seed: Annotated[int, msgspec.Meta(gt=-1, le=MAX_SEED)] | None = None


class CreateRunBody(Wire, forbid_unknown_fields=True):
    """`templateId` names a catalogue template; or `template` carries the template (or a
    reference-format model) as YAML text — one of the two."""

    template_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    template: Annotated[str, msgspec.Meta(
        min_length=1, description="The template's YAML text (instead of templateId)")] | None = None
    mode: Mode = "simulation"
    parameters: dict[str, Any] = {}
    telemetry: TelemetryBody | None = None
    options: RunOptions = msgspec.field(default_factory=RunOptions)
    overlays: Annotated[list[OverlayBody], msgspec.Meta(
        max_length=100, description="Scenario: inputs changed over bin ranges "
        "(MODELING §10)")] = []
    base_run_id: RunIdText | None = None

    def to_domain(self) -> RunRequest:
        from flowtime.adapters.overlays import overlays_from

        telemetry = None
        if self.telemetry is not None:
            telemetry = TelemetryRequest(self.telemetry.capture_directory,
                                         dict(self.telemetry.bindings))
        return RunRequest(
            template_id=self.template_id, mode=self.mode, parameters=dict(self.parameters),
            telemetry=telemetry, deterministic_run_id=self.options.deterministic_run_id,
            run_id=self.options.run_id, overwrite_existing=self.options.overwrite_existing,
            dry_run=self.options.dry_run, seed=self.options.seed,
            template_text=self.template, template_name="inline" if self.template else None,
            pmf_mode=self.options.pmf_mode, tags=dict(self.options.tags),
            overlays=overlays_from([msgspec.to_builtins(o) for o in self.overlays]),
            base_run_id=self.base_run_id,
        )


class ScenarioBody(Wire, forbid_unknown_fields=True):
    """`POST /v1/runs/{runId}/scenarios`: the stored run again with these overlays."""

    overlays: Annotated[list[OverlayBody], msgspec.Meta(min_length=1, max_length=100)]
    deterministic_run_id: bool = False
    tags: dict[str, str] = msgspec.field(default_factory=dict)


class OverlayBody(Wire, forbid_unknown_fields=True):
    target: Annotated[str, msgspec.Meta(
        min_length=1, max_length=256, pattern=TARGET_PATTERN,
        description="Node.metric (Tier1.capacity) or a series id; no leading or trailing "
        "space")]
    op: Literal["set", "scale", "add"]
    value: float
    from_bin: Annotated[int, msgspec.Meta(ge=0)]
    to_bin: Annotated[int, msgspec.Meta(ge=1, description="exclusive")]


class SweepBody(Wire, forbid_unknown_fields=True):
    """`templateId` names a catalogue template, or `template` carries one as YAML text."""

    template_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    mode: Mode = "simulation"
    grid: dict[str, Annotated[list[Any], msgspec.Meta(min_length=1)]] = {}
    parameters: dict[str, Any] = {}
    samples: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None
    seed: Annotated[int, msgspec.Meta(gt=-1, le=MAX_SEED)] | None = None
    pmf_mode: Literal["sample", "expected"] = "sample"
    template: Annotated[str, msgspec.Meta(
        min_length=1, description="The template's YAML text (instead of templateId)")] | None = None

    def to_domain(self) -> Any:
        from flowtime.domain.services.sweeps import SweepRequest

        return SweepRequest(self.template_id or "", self.mode, dict(self.grid),
                            dict(self.parameters), self.samples, self.seed, self.pmf_mode,
                            template_text=self.template)


# -- responses --------------------------------------------------------------------------
class WarningOut(Wire):
    code: str
    message: str
    severity: str
    node_id: str | None = None
    bins: list[int] | None = None
    edge_ids: list[str] | None = None
    value: float | None = None


class SchemaRef(Wire):
    id: str
    version: str
    hash: str


class StorageOut(Wire):
    model_path: str
    metadata_path: str
    provenance_path: str


class RunMetadataOut(Wire):
    run_id: str
    template_id: str
    template_title: str
    template_version: str
    mode: str
    provenance_hash: str
    telemetry_sources_resolved: bool
    telemetry_sources: list[str]
    schema: SchemaRef
    storage: StorageOut
    created_utc: str


class GridOut(Wire):
    bins: int
    bin_size: int
    bin_unit: str
    start_time_utc: str | None = None
    duration_minutes: int | None = None


class ArtifactsOut(Wire):
    run_json: bool
    manifest_json: bool
    series_index: bool
    series_count: int


class PlanOut(Wire):
    template_id: str
    mode: str
    run_id: str | None
    scenario_hash: str
    seed: int
    parameters: dict[str, Any]
    grid: GridOut
    series: list[str]
    telemetry_bindings: dict[str, str]


class BottleneckOut(Wire):
    node_id: str
    bins: list[int]
    queue_growth: float
    mean_utilization: float | None
    path: list[str]


class AnalysisOut(Wire):
    """Where the flow is held up over the whole run (docs/templates.md, Flow analysis)."""

    bottlenecks: list[BottleneckOut]


class ScenarioOut(Wire):
    """What the run is: resolved, typed parameters and how it was evaluated."""

    parameters: dict[str, Any]
    seed: int | None
    rng_kind: str | None
    pmf_mode: str
    template_hash: str | None


class RunResponse(Wire):
    is_dry_run: bool
    metadata: RunMetadataOut | None
    plan: PlanOut | None
    warnings: list[WarningOut]
    can_replay: bool
    grid: GridOut | None = None
    artifacts: ArtifactsOut | None = None
    reused: bool = False
    analysis: AnalysisOut | None = None
    scenario: ScenarioOut | None = None
    tags: dict[str, str] | None = None
    sweep_id: str | None = None  # the sweep this run is a point of
    base_run_id: str | None = None  # scenarios: the run this one was derived from
    overlays: list[dict[str, Any]] | None = None  # scenarios: what changed


class RunListItem(Wire):
    run_id: str
    template_id: str
    template_title: str
    template_version: str
    mode: str
    created_utc: str
    warning_count: int
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    sweep_id: str | None = None
    base_run_id: str | None = None


class RunListResponse(Wire):
    items: list[RunListItem]
    total_count: int
    page: int
    page_size: int
    next_cursor: str | None = None  # pass as `cursor` for the next page (keyset paging)


class ParameterOut(Wire):
    name: str
    type: str
    title: str
    description: str
    default: Any
    minimum: float | None
    maximum: float | None
    required: bool


class TemplateSummaryOut(Wire):
    id: str
    title: str
    version: str
    description: str
    tags: list[str]
    parameters: list[str]
    narrative: str = ""


class ClassOut(Wire):
    id: str
    display_name: str | None


class TopologyKindOut(Wire):
    id: str
    kind: str


class ProfileOut(Wire):
    node_id: str
    profile: str  # a builtin's name, or `inline`


class TemplateDetailOut(Wire):
    id: str
    title: str
    version: str
    description: str
    tags: list[str]
    default_mode: str
    parameters: list[ParameterOut]
    narrative: str = ""
    classes: list[ClassOut] = []
    topology: list[TopologyKindOut] = []
    profiles: list[ProfileOut] = []


class ProblemItem(msgspec.Struct):
    loc: str
    msg: str


class ProblemOut(msgspec.Struct, rename="camel", omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemItem]
    error: str
    request_id: str | None = None
    code: str | None = None  # a stable machine-readable reason where one is defined


class SummaryOut(Wire):
    mean: float | None
    max: float | None
    p95: float | None
    last: float | None


class SeriesCompareOut(Wire):
    id: str
    differs: bool
    summaries: dict[str, SummaryOut]  # run id -> summary
    values: dict[str, list[float | None]] | None  # run id -> values on the common grid


class CompareOut(Wire):
    runs: list[dict[str, Any]]
    parameters: dict[str, dict[str, Any]]  # name -> run id -> value
    differing_parameters: list[str]
    series: list[SeriesCompareOut]
    only_in: dict[str, list[str]]  # run id -> series the other runs do not have
    settings: dict[str, dict[str, Any]]  # seed | rng | pmfMode -> run id -> value
    differing_settings: list[str]


def compare_out(c: Any) -> CompareOut:
    return CompareOut(
        c.runs, c.parameters, c.differing_parameters,
        [SeriesCompareOut(s.id, s.differs, {k: SummaryOut(v.mean, v.max, v.p95, v.last)
                                            for k, v in s.summaries.items()}, s.values)
         for s in c.series], c.only_in, c.settings, c.differing_settings)


# -- conversions ------------------------------------------------------------------------
def warning_out(w: RunWarning) -> WarningOut:
    return WarningOut(w.code, w.message, w.severity, w.node_id,
                      list(w.bins) if w.bins is not None else None,
                      list(w.edge_ids) if w.edge_ids is not None else None, w.value)


def _grid_out(grid: GridSummary) -> GridOut:
    return GridOut(grid.bins, grid.bin_size, grid.bin_unit, grid.start_time_utc,
                   grid.duration_minutes)


def storage_out(storage: StoragePaths) -> StorageOut:
    return StorageOut(storage.model_path, storage.metadata_path, storage.provenance_path)


def record_response(record: RunRecord, reused: bool = False) -> RunResponse:
    metadata = RunMetadataOut(
        run_id=record.run_id,
        template_id=record.template_id,
        template_title=record.template_title,
        template_version=record.template_version,
        mode=record.mode,
        provenance_hash=record.provenance_hash,
        telemetry_sources_resolved=record.telemetry_sources_resolved,
        telemetry_sources=list(record.telemetry_sources),
        schema=SchemaRef(STATE_SCHEMA_ID, STATE_SCHEMA_VERSION, record.schema_hash),
        storage=storage_out(record.storage),
        created_utc=record.created_utc,
    )
    artifacts = record.artifacts
    return RunResponse(
        is_dry_run=False, metadata=metadata, plan=None,
        warnings=[warning_out(w) for w in record.warnings], can_replay=record.can_replay,
        grid=_grid_out(record.grid),
        artifacts=ArtifactsOut(artifacts.run_json, artifacts.manifest_json,
                               artifacts.series_index, artifacts.series_count),
        reused=reused,
        analysis=AnalysisOut([BottleneckOut(b.node_id, list(b.bins), b.queue_growth,
                                            b.mean_utilization, list(b.path))
                              for b in record.bottlenecks]),
        scenario=ScenarioOut(dict(record.parameters), record.seed, record.rng_kind,
                             record.pmf_mode, record.template_hash),
        tags=dict(record.tags), sweep_id=record.sweep_id, base_run_id=record.base_run_id,
        overlays=list(record.overlays) or None,
    )


def plan_response(plan: RunPlan, warnings: list[RunWarning]) -> RunResponse:
    return RunResponse(
        is_dry_run=True, metadata=None,
        plan=PlanOut(plan.template_id, plan.mode, plan.run_id, plan.scenario_hash, plan.seed,
                     plan.parameters, _grid_out(plan.grid), plan.series,
                     plan.telemetry_bindings),
        warnings=[warning_out(w) for w in warnings], can_replay=False,
        grid=_grid_out(plan.grid),
    )


def result_response(result: RunResult) -> RunResponse:
    if result.plan is not None:
        return plan_response(result.plan, result.warnings)
    assert result.record is not None
    return record_response(result.record, reused=not result.created)


def page_response(page: RunPage) -> RunListResponse:
    return RunListResponse(
        items=[RunListItem(s.run_id, s.template_id, s.template_title, s.template_version,
                           s.mode, s.created_utc, s.warning_count, dict(s.parameters),
                           dict(s.tags), s.sweep_id, s.base_run_id) for s in page.items],
        total_count=page.total_count, page=page.page, page_size=page.page_size,
        next_cursor=page.next_cursor,
    )


def template_summary(t: Template) -> TemplateSummaryOut:
    m = t.metadata
    return TemplateSummaryOut(m.id, m.title, m.version, m.description, list(m.tags),
                              [p.name for p in t.parameters], m.narrative)


def template_detail(t: Template) -> TemplateDetailOut:
    m = t.metadata
    return TemplateDetailOut(
        m.id, m.title, m.version, m.description, list(m.tags), t.default_mode,
        [ParameterOut(p.name, p.type, p.title, p.description, p.default, p.lower, p.upper,
                      p.required) for p in t.parameters],
        narrative=m.narrative,
        classes=[ClassOut(c, name) for c, name in t.classes],
        topology=[TopologyKindOut(n, kind) for n, kind in t.topology_kinds],
        profiles=[ProfileOut(n, name) for n, name in t.profiles],
    )


def to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


B = TypeVar("B")


def decode_body(raw: bytes, body_type: type[B], prefix: str) -> B:
    """Decode and check a body exactly as the HTTP route does (the CLI's `--spec` files,
    the library's arguments); problems located under `prefix`."""
    import re

    from flowtime.domain.errors import Problem, invalid

    try:
        return msgspec.json.decode(raw, type=body_type)
    except msgspec.ValidationError as exc:
        text = str(exc)
        where = re.search(r"at `\$\.?([^`]*)`", text)
        field = where.group(1) if where and where.group(1) else ""
        loc = ".".join(part for part in (prefix, field) if part) or "request"
        message = re.sub(r"\s*-\s*at `[^`]*`$", "", text).replace("`", "")
        raise invalid([Problem(loc, message[:1].lower() + message[1:])]) from None
    except msgspec.DecodeError:
        raise invalid([Problem(prefix or "request",
                               "is not a JSON object (the HTTP request body)")]) from None
