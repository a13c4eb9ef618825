"""The bundle codec: one typed Struct per JSON file of a run bundle, mirroring `schemas/`.

The bundle builder encodes with these Structs and every reader (queries, capture, sweeps,
export, the CLI) decodes with them; nobody indexes a bundle's JSON by string. The codec
owns the bundle's file names and shapes; `bundle.py` builds on it, never the reverse.

Bytes: UTF-8, 2-space indented, keys in field order, floats in their shortest round-trip
form, a final newline. Optional fields that are unset are omitted, never null.
A file that does not decode is a damaged run: the error says which file and what to run.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
import numpy as np

from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem
from flowtime.domain.modeling.model import ModelDef, convert
from flowtime.domain.modeling.names import node_of
from flowtime.domain.modeling.yaml_document import load_yaml

RUN_JSON = "run.json"
MANIFEST_JSON = "manifest.json"
SERIES_INDEX = "series/index.json"
SPEC_YAML = "spec.yaml"
MODEL_YAML = "model/model.yaml"
METADATA_JSON = "model/metadata.json"
PROVENANCE_JSON = "model/provenance.json"
TELEMETRY_MANIFEST = "model/telemetry/telemetry-manifest.json"
INTEGRITY_JSON = "integrity.json"


class Doc(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True, frozen=True):
    pass


class GridJson(Doc):
    bins: int
    bin_size: int
    bin_unit: str


class RunGridJson(Doc):
    bins: int
    bin_size: int
    bin_unit: str
    timezone: str
    align: str


class IndexGridJson(Doc):
    bins: int
    bin_size: int
    bin_unit: str
    timezone: str


class RunSeriesJson(Doc):
    id: str
    path: str
    unit: str


class RunJson(Doc):
    schema_version: int
    run_id: str
    engine_version: str
    source: str
    grid: RunGridJson
    model_hash: str
    scenario_hash: str
    created_utc: str
    warnings: list[WarningJson | str]  # structured; plain messages in older bundles
    series: list[RunSeriesJson]


class IndexEntryJson(Doc):
    id: str
    kind: str  # flow | state | derived
    path: str
    unit: str
    component_id: str
    class_: str = msgspec.field(name="class")
    points: int
    hash: str

    @property
    def node_id(self) -> str:
        return node_of(self.id)

    @property
    def series_name(self) -> str:
        """The node id for a total; `x__class_c` for class c's share of x."""
        if self.class_ == "DEFAULT":
            return self.node_id
        return f"{self.node_id}__class_{self.class_}"


class SeriesIndexJson(Doc):
    schema_version: int
    grid: IndexGridJson
    series: list[IndexEntryJson]


class RngJson(Doc):
    kind: str
    seed: int


class ManifestProvenanceJson(Doc):
    has_provenance: bool
    model_id: str | None = None
    template_id: str | None = None
    source: str | None = None


class ManifestJson(Doc):
    schema_version: int
    scenario_hash: str
    rng: RngJson
    series_hashes: dict[str, str]
    event_count: int
    created_utc: str
    model_hash: str | None = None
    provenance: ManifestProvenanceJson | None = None


class WarningJson(Doc):
    code: str
    message: str
    severity: str | None = None
    node_id: str | None = None
    bins: list[int] | None = None
    value: float | None = None
    edge_ids: list[str] | None = None


class WindowJson(Doc):
    start_time_utc: str
    duration_minutes: int


class RunMetadataJson(Doc):
    run_id: str
    template_id: str
    template_title: str
    template_version: str
    mode: str
    parameters: dict[str, Any]
    model_hash: str
    scenario_hash: str
    received_at_utc: str
    window: WindowJson
    warnings: list[WarningJson]
    pmf_mode: str = "sample"  # written only when `expected`
    analysis: AnalysisJson | None = None  # where the flow is held up, over the whole run
    sweep_id: str | None = None  # written for the points of a sweep
    base_run_id: str | None = None  # written for scenarios: the run they were derived from
    overlays: list[dict[str, Any]] | None = None  # the scenario's overlays (MODELING §10)


class BottleneckJson(Doc):
    node_id: str
    bins: list[int]  # the first bins in which its queue grew
    queue_growth: float
    mean_utilization: float | None = None
    path: list[str] = []  # the nodes on its path it was compared with


class AnalysisJson(Doc):
    bottlenecks: list[BottleneckJson] = []


class ProvenanceJson(Doc):
    source: str  # flowtime (a catalogue template) | inline (the template's text was given)
    generator: str
    template_id: str
    template_version: str
    mode: str
    model_id: str
    parameters: dict[str, Any]
    seed: int
    generated_at_utc: str
    template_hash: str | None = None
    pmf_mode: str = "sample"  # written only when `expected`
    base_run_id: str | None = None  # scenarios: lineage and what changed
    overlays: list[dict[str, Any]] | None = None
    # a calibrated template's `provenance.calibration` (MODELING §8): where its values came from
    calibration: dict[str, Any] | None = None


class TelemetryFileJson(Doc):
    node_id: str
    metric: str
    path: str
    hash: str
    points: int
    class_id: str | None = None  # a class's share of the node's series (MODELING §2)


class TelemetryProvenanceJson(Doc, kw_only=True):
    """A capture of a run names the run; a capture pulled from observed data (`flowtime
    data pull`, POST /v1/telemetry/captures) names its template and sources instead."""

    run_id: str | None = None
    scenario_hash: str | None = None
    model_hash: str | None = None
    captured_at_utc: str  # kw_only: the order above is the order written (bundles unchanged)
    source: str | None = None  # "observed" for a pulled capture
    template_id: str | None = None
    sources: list[dict[str, Any]] | None = None


class TelemetryManifestJson(Doc):
    schema_version: int
    window: WindowJson
    grid: GridJson
    files: list[TelemetryFileJson]
    warnings: list[WarningJson]
    provenance: TelemetryProvenanceJson


class IntegrityJson(Doc):
    """`integrity.json`: the hash of every bundle file the manifest does not cover (the
    manifest's schema is the reference's and closed), manifest.json included."""

    schema_version: int
    files: dict[str, str]  # path -> sha256:…


class SweepProgressJson(Doc):
    total: int
    done: int
    created: int
    reused: int
    failed: int
    eta_seconds: float | None = None  # while running: the rate so far over what is left
    # points that met an unavailable store and wait to be tried again (issue 43)
    retrying: int = 0


class SweepRunJson(Doc):
    index: int
    parameters: dict[str, Any]
    seed: int | None
    status: str  # pending | created | reused | failed
    run_id: str | None = None
    problems: list[str] | None = None
    aggregates: dict[str, dict[str, float]] | None = None


class SweepOwnerJson(Doc):
    """Which process drives a sweep (a server or a CLI), and this attempt's token: a
    cancel request names the attempt it stops, so a resumed sweep is not cancelled again."""

    host: str
    pid: int
    role: str  # server | cli
    attempt: str


class SweepCancelJson(Doc):
    """`sweeps/<sweepId>/cancel.json`: a request to stop one attempt (from any replica)."""

    attempt: str
    requested_utc: str


class SweepJson(Doc):
    """`sweeps/<sweepId>/sweep.json`: the sweep's job record.

    status: queued | running | succeeded | failed | cancelled | interrupted. The driver
    rewrites it every few seconds (`heartbeatUtc`); a queued or running record whose
    heartbeat is older than two minutes lost its driver and reads as `interrupted`.
    """

    schema_version: int
    sweep_id: str
    template_id: str
    mode: str
    grid: dict[str, list[Any]]
    parameters: dict[str, Any]
    samples: int | None
    seed: int | None
    executor: str
    status: str
    started_utc: str
    updated_utc: str
    progress: SweepProgressJson
    runs: list[SweepRunJson]
    owner: SweepOwnerJson | None = None
    heartbeat_utc: str | None = None
    finished_utc: str | None = None
    # why a live driver makes no progress (e.g. the store is unavailable and points wait)
    note: str | None = None


class SweepListItemJson(Doc):
    sweep_id: str
    template_id: str
    status: str
    progress: SweepProgressJson
    started_utc: str
    updated_utc: str
    executor: str


D = TypeVar("D", bound=Doc)

# The JSON files of a bundle, their Struct and the JSON Schema that validates them.
BUNDLE_DOCUMENTS: dict[str, tuple[type[Doc], str | None]] = {
    RUN_JSON: (RunJson, "run"),
    MANIFEST_JSON: (ManifestJson, "manifest"),
    SERIES_INDEX: (SeriesIndexJson, "series-index"),
    TELEMETRY_MANIFEST: (TelemetryManifestJson, "telemetry-manifest"),
    METADATA_JSON: (RunMetadataJson, None),
    PROVENANCE_JSON: (ProvenanceJson, None),
}


def to_builtins(doc: Doc) -> Any:
    """The document as plain JSON values (what the JSON Schema validates)."""
    return msgspec.to_builtins(doc)


def encode(doc: Doc) -> bytes:
    """The file's bytes (see the module docstring for the format). msgspec encodes and
    indents (the standard library's indenting encoder is pure Python: 7 ms a run here)."""
    return msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n"


def damaged(path: str, reason: str, run_id: str | None = None) -> FlowTimeError:
    where = f"run '{run_id}'" if run_id else "the run"
    return FlowTimeError(ErrorKind.UNPROCESSABLE, f"{where} is damaged", [
        Problem(path, f"{reason}; run `flowtime runs verify` to check the bundle")])


def decode(data: bytes, kind: type[D], path: str, run_id: str | None = None) -> D:
    """Decode one bundle file; a file that does not decode is a damaged run (422)."""
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise damaged(path, f"cannot be read ({exc})", run_id) from None


def decode_model(data: bytes, run_id: str | None = None) -> ModelDef:
    """The stored model (`model/model.yaml`) as the typed model it was built from."""
    try:
        tree = load_yaml(data, MODEL_YAML)
        if not isinstance(tree, dict):
            raise damaged(MODEL_YAML, "is not a YAML mapping", run_id)
        return convert(tree, ModelDef)
    except FlowTimeError as exc:
        if exc.kind is ErrorKind.UNPROCESSABLE:
            raise
        raise damaged(MODEL_YAML, f"cannot be read ({exc.problems[0].msg})", run_id) from None
    except (msgspec.ValidationError, TypeError) as exc:
        raise damaged(MODEL_YAML, f"cannot be read ({exc})", run_id) from None


def decode_series(data: bytes, path: str = "series", run_id: str | None = None) -> np.ndarray:
    """The values of a bundle series file (`t,value` rows)."""
    try:
        lines = data.decode("utf-8").splitlines()[1:]
        return np.array([float(line.split(",", 1)[1]) for line in lines if line],
                        dtype=np.float64)
    except (UnicodeDecodeError, IndexError, ValueError):
        raise damaged(path, "is not a `t,value` series file", run_id) from None
