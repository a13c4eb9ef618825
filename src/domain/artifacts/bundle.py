"""Builds every file of a run bundle: {relative path: bytes}.

Nothing here touches a disk or a bucket; a store publishes the bytes. The JSON files are
encoded by the bundle codec (`codec.py`); CSV values use the shortest round-trip form.

A large run's series are not all held as text: above `STREAM_ABOVE_CELLS` cells each
series' CSV is formatted when a store reads it to write it (`BundleFiles`), its hash kept
as it goes by, and the documents — which name every hash — are made (and checked) when the
store reaches them, after the series. So one series' text exists at a time and each is
formatted once. The bytes are the same either way; a small run formats everything first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec
import numpy as np

from flowtime.domain.artifacts.codec import (
    INTEGRITY_JSON,
    MANIFEST_JSON,
    METADATA_JSON,
    MODEL_YAML,
    PROVENANCE_JSON,
    RUN_JSON,
    SERIES_INDEX,
    SPEC_YAML,
    TELEMETRY_MANIFEST,
    AnalysisJson,
    Doc,
    GridJson,
    IndexEntryJson,
    IndexGridJson,
    IntegrityJson,
    ManifestJson,
    ManifestProvenanceJson,
    ProvenanceJson,
    RngJson,
    RunGridJson,
    RunJson,
    RunMetadataJson,
    RunSeriesJson,
    SeriesIndexJson,
    TelemetryFileJson,
    TelemetryManifestJson,
    TelemetryProvenanceJson,
    WarningJson,
    WindowJson,
    encode,
)
from flowtime.domain.artifacts.hashing import sha256_bytes
from flowtime.domain.modeling.grid import format_utc
from flowtime.domain.modeling.model import Model
from flowtime.domain.modeling.names import DEFAULT_CLASS, series_id
from flowtime.domain.modeling.templates import Template
from flowtime.domain.runs import RunSummary, RunWarning
from flowtime.version import __version__

ENGINE_VERSION = __version__
FLOW_UNIT = "entities/bin"
STATE_UNIT = "entities"
# Above this many series cells (class series included; ~9 bytes of CSV each, so ~36 MB of
# text) a bundle formats its series when they are written rather than keeping their text.
STREAM_ABOVE_CELLS = 4_000_000


class BundleDocuments(msgspec.Struct, frozen=True):
    """A bundle's JSON documents, decoded and as the bytes written (provenance and
    integrity included)."""

    run: RunJson
    manifest: ManifestJson
    metadata: RunMetadataJson
    index: SeriesIndexJson
    telemetry: TelemetryManifestJson
    files: dict[str, bytes]  # path -> bytes, in the order they are written

    @property
    def by_path(self) -> dict[str, Doc]:
        return {RUN_JSON: self.run, MANIFEST_JSON: self.manifest, METADATA_JSON: self.metadata,
                SERIES_INDEX: self.index, TELEMETRY_MANIFEST: self.telemetry}


# The documents' paths in the order a bundle writes them (after the model and the series).
DOCUMENT_PATHS = (RUN_JSON, SERIES_INDEX, MANIFEST_JSON, METADATA_JSON, PROVENANCE_JSON,
                  TELEMETRY_MANIFEST, INTEGRITY_JSON)
Finish = Callable[[dict[str, str]], BundleDocuments]  # series hashes by path -> documents


class BundleFiles(Mapping[str, bytes]):
    """A large bundle's files in their order: the model as bytes, each series formatted when
    read, the documents built once every series' hash is known.

    A store writes the files in order, so each series is formatted once (its hash is kept
    as it goes by) and the documents, which name every hash, are made when the store reaches
    them. Asked for the documents earlier, the series not yet read are formatted for their
    hashes first. The bytes are the same every time: formatting is deterministic."""

    def __init__(self, head: dict[str, bytes], arrays: dict[str, np.ndarray], finish: Finish):
        self._head, self._arrays, self._finish = head, arrays, finish
        self._order = [*head, *arrays, *DOCUMENT_PATHS]
        self._hashes: dict[str, str] = {}
        self._documents: BundleDocuments | None = None

    def __getitem__(self, path: str) -> bytes:
        if path in self._head:
            return self._head[path]
        if path in self._arrays:
            data = series_csv(self._arrays[path])
            self._hashes.setdefault(path, sha256_bytes(data))
            return data
        if path in DOCUMENT_PATHS:
            return self.documents().files[path]
        raise KeyError(path)

    def documents(self) -> BundleDocuments:
        if self._documents is None:
            for path, values in self._arrays.items():
                if path not in self._hashes:
                    self._hashes[path] = sha256_bytes(series_csv(values))
            self._documents = self._finish(self._hashes)
        return self._documents

    def __contains__(self, path: object) -> bool:
        return path in self._head or path in self._arrays or path in DOCUMENT_PATHS

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)


def series_path(node_id: str, class_id: str = DEFAULT_CLASS) -> str:
    return f"series/{series_id(node_id, class_id)}.csv"


def format_value(value: float) -> str:
    """Shortest round-trip text: `10` for integral values, `0.5`, `1e-05`."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def series_csv(values: np.ndarray) -> bytes:
    """`t,value` rows. Integral values print as ints, the rest as their shortest round-trip
    text, exactly as `format_value` writes each one (Python's repr).

    Speed: msgspec's JSON encoder writes the same shortest digits ~15× faster than repr
    does one by one; where the two differ in notation (repr switches to an exponent below
    1e-4 and from 1e16: `1e-05`, `1e+16`; JSON writes `0.00001`, `1e16`) the few values
    are written by repr."""
    if not np.isfinite(values).all():
        rows = [f"{t},{format_value(v)}" for t, v in enumerate(values.tolist())]
        return ("t,value\n" + "\n".join(rows) + "\n").encode("utf-8")
    magnitude = np.abs(values)
    integral = (values == np.trunc(values)) & (magnitude < 1e16)
    if integral.all():
        tokens = _json.encode(values.astype(np.int64).tolist())[1:-1].split(b",")
    else:
        floats = values.tolist()
        cells: list[int | float] = floats
        if integral.any():
            ints = np.where(integral, values, 0).astype(np.int64).tolist()
            cells = [i if m else f for i, f, m in zip(ints, floats, integral.tolist(),
                                                       strict=True)]
        tokens = _json.encode(cells)[1:-1].split(b",")
        for k in np.flatnonzero(~integral & ((magnitude < 1e-4) | (magnitude >= 1e16))).tolist():
            tokens[k] = repr(floats[k]).encode()
    parts: list[bytes] = [b""] * (2 * len(tokens))
    parts[0::2] = _row_starts(len(tokens))
    parts[1::2] = tokens
    return b"t,value\n" + b"".join(parts) + b"\n"


_json = msgspec.json.Encoder()
_row_start_text: list[bytes] = []


def _row_starts(count: int) -> list[bytes]:
    """b"0,", b"\\n1,", b"\\n2,", … (kept between calls: a run's series share a length)."""
    if len(_row_start_text) < count:
        _row_start_text.extend((b"\n%d," % i if i else b"0,")
                               for i in range(len(_row_start_text), count))
    return _row_start_text[:count]


def to_json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def series_roles(model: Model) -> dict[str, tuple[str, str, str]]:
    """series id -> (kind, unit, componentId): queues are state, the other metrics a
    topology node names are flows, synthesized series carry their own role; the rest
    are derived."""
    roles: dict[str, tuple[str, str, str]] = {}
    for component in model.plan.components:
        for metric, node_id in component.metrics.items():
            if metric == "queue":
                roles[node_id] = ("state", STATE_UNIT, component.id)
            else:
                roles.setdefault(node_id, ("flow", FLOW_UNIT, component.id))
    for node_id, (role, component_id) in model.plan.roles.items():
        unit = STATE_UNIT if role == "state" else FLOW_UNIT
        roles.setdefault(node_id, (role, unit, component_id))
    return roles


class BundleInput(msgspec.Struct, frozen=True):
    run_id: str
    template: Template
    model: Model
    mode: str
    seed: int
    rng_kind: str
    scenario_hash: str
    created_utc: str
    series: dict[str, np.ndarray]  # output node id -> values, in output order
    warnings: list[RunWarning]
    telemetry_files: tuple[TelemetryFileJson, ...] = ()
    captured_at_utc: str | None = None
    template_source: str = "flowtime"  # `inline`: the request carried the template's text
    pmf_mode: str = "sample"
    # output node id -> [(class id, values)]: its class shares (MODELING §2)
    class_series: dict[str, list[tuple[str, np.ndarray]]] | None = None
    analysis: AnalysisJson | None = None
    sweep_id: str | None = None
    base_run_id: str | None = None
    overlays: list[dict[str, Any]] | None = None


class Bundle:
    """Every file's bytes, the decoded documents they were made from, and the summary.

    A large run's documents are made while its files are written (`BundleFiles`); reading
    them before that formats the series for their hashes first."""

    def __init__(self, files: Mapping[str, bytes], summary: RunSummary,
                 documents: Callable[[], BundleDocuments]):
        self.files, self.summary, self._documents = files, summary, documents

    @property
    def run(self) -> RunJson:
        return self._documents().run

    @property
    def manifest(self) -> ManifestJson:
        return self._documents().manifest

    @property
    def metadata(self) -> RunMetadataJson:
        return self._documents().metadata

    @property
    def index(self) -> SeriesIndexJson:
        return self._documents().index

    @property
    def telemetry(self) -> TelemetryManifestJson:
        return self._documents().telemetry

    @property
    def documents(self) -> dict[str, Doc]:
        return self._documents().by_path


def model_id(model_hash: str) -> str:
    return "model_" + model_hash.removeprefix("sha256:")[:16]


class _SeriesSlot(msgspec.Struct, frozen=True):
    sid: str
    path: str
    kind: str
    unit: str
    component: str
    class_id: str
    values: np.ndarray


def build_bundle(data: BundleInput,
                 check: Callable[[BundleDocuments], None] | None = None) -> Bundle:
    """The bundle of a run. `check` judges the documents before any of them is written
    (the caller's schema validation): at once for a small run, when a store reaches them
    for a large one — raising there stops the publish before anything is committed."""
    model = data.model
    model_bytes = model.text.encode("utf-8")
    head = {SPEC_YAML: model_bytes, MODEL_YAML: model_bytes}
    roles = series_roles(model)
    by_class = data.class_series or {}
    slots: list[_SeriesSlot] = []
    for node_id, values in data.series.items():
        kind, unit, component = roles.get(node_id, ("derived", FLOW_UNIT, node_id))
        for class_id, class_values in [(DEFAULT_CLASS, values), *by_class.get(node_id, [])]:
            slots.append(_SeriesSlot(series_id(node_id, class_id),
                                     series_path(node_id, class_id), kind, unit, component,
                                     class_id, class_values))
    summary = RunSummary(
        run_id=data.run_id, template_id=data.template.id,
        template_title=data.template.metadata.title,
        template_version=data.template.metadata.version, mode=data.mode,
        created_utc=data.created_utc, warning_count=len(data.warnings),
        parameters=dict(model.parameters), sweep_id=data.sweep_id,
        base_run_id=data.base_run_id,
    )

    def finish(hashes: dict[str, str]) -> BundleDocuments:
        documents = _documents(data, head, slots, hashes)
        if check is not None:
            check(documents)
        return documents

    cells = sum(int(slot.values.shape[0]) for slot in slots)
    if cells > STREAM_ABOVE_CELLS:
        files = BundleFiles(head, {slot.path: slot.values for slot in slots}, finish)
        return Bundle(files, summary, files.documents)
    texts = {slot.path: series_csv(slot.values) for slot in slots}
    documents = finish({path: sha256_bytes(text) for path, text in texts.items()})
    return Bundle({**head, **texts, **documents.files}, summary, lambda: documents)


def _documents(data: BundleInput, head: dict[str, bytes], slots: list[_SeriesSlot],
               hashes: dict[str, str]) -> BundleDocuments:
    model = data.model
    grid = model.grid
    model_hash = sha256_bytes(head[MODEL_YAML])
    entries = [IndexEntryJson(id=slot.sid, kind=slot.kind, path=slot.path, unit=slot.unit,
                              component_id=slot.component, class_=slot.class_id,
                              points=int(slot.values.shape[0]), hash=hashes[slot.path])
               for slot in slots]
    window = WindowJson(start_time_utc=format_utc(grid.start),
                        duration_minutes=grid.duration_minutes)
    run = RunJson(
        schema_version=1, run_id=data.run_id, engine_version=ENGINE_VERSION, source="engine",
        grid=RunGridJson(bins=grid.bins, bin_size=grid.bin_size, bin_unit=grid.bin_unit,
                         timezone="UTC", align="left"),
        model_hash=model_hash, scenario_hash=data.scenario_hash, created_utc=data.created_utc,
        warnings=_unique([warning_json(w) for w in data.warnings]),
        series=[RunSeriesJson(id=e.id, path=e.path, unit=e.unit) for e in entries],
    )
    index = SeriesIndexJson(
        schema_version=1,
        grid=IndexGridJson(bins=grid.bins, bin_size=grid.bin_size, bin_unit=grid.bin_unit,
                           timezone="UTC"),
        series=entries,
    )
    template = data.template
    mid = model_id(model_hash)
    manifest = ManifestJson(
        schema_version=1, scenario_hash=data.scenario_hash,
        rng=RngJson(kind=data.rng_kind, seed=data.seed),
        series_hashes={e.id: e.hash for e in entries},
        event_count=0, created_utc=data.created_utc, model_hash=model_hash,
        provenance=ManifestProvenanceJson(has_provenance=True, model_id=mid,
                                          template_id=template.id, source="flowtime"),
    )
    metadata = RunMetadataJson(
        run_id=data.run_id, template_id=template.id, template_title=template.metadata.title,
        template_version=template.metadata.version, mode=data.mode,
        parameters=model.parameters, model_hash=model_hash, scenario_hash=data.scenario_hash,
        received_at_utc=data.created_utc, window=window,
        warnings=[warning_json(w) for w in data.warnings], pmf_mode=data.pmf_mode,
        analysis=data.analysis, sweep_id=data.sweep_id, base_run_id=data.base_run_id,
        overlays=data.overlays or None,
    )
    provenance = ProvenanceJson(
        source=data.template_source, generator=f"flowtime/{ENGINE_VERSION}",
        template_id=template.id, template_hash=template.content_hash, pmf_mode=data.pmf_mode,
        template_version=template.metadata.version, mode=data.mode, model_id=mid,
        parameters=model.parameters, seed=data.seed, generated_at_utc=data.created_utc,
        base_run_id=data.base_run_id, overlays=data.overlays or None,
        calibration=_calibration(template.tree),
    )
    telemetry = TelemetryManifestJson(
        schema_version=1, window=window,
        grid=GridJson(bins=grid.bins, bin_size=grid.bin_size, bin_unit=grid.bin_unit),
        files=list(data.telemetry_files),
        warnings=[warning_json(w, with_severity=False) for w in data.warnings
                  if w.code.startswith("telemetry")],
        provenance=TelemetryProvenanceJson(
            run_id=data.run_id, scenario_hash=data.scenario_hash, model_hash=model_hash,
            captured_at_utc=data.captured_at_utc or data.created_utc),
    )
    files = {path: encode(doc) for path, doc in (
        (RUN_JSON, run), (SERIES_INDEX, index), (MANIFEST_JSON, manifest),
        (METADATA_JSON, metadata), (PROVENANCE_JSON, provenance), (TELEMETRY_MANIFEST, telemetry))}
    files[INTEGRITY_JSON] = encode(IntegrityJson(schema_version=1, files={
        path: sha256_bytes(text) for path, text in sorted({**head, **files}.items())}))
    return BundleDocuments(run, manifest, metadata, index, telemetry, files)


def _unique(items: list[WarningJson]) -> list[WarningJson | str]:
    seen: set[bytes] = set()
    out: list[WarningJson | str] = []
    for item in items:
        key = encode(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def warning_json(warning: RunWarning, with_severity: bool = True) -> WarningJson:
    return WarningJson(
        code=warning.code, message=warning.message,
        severity=warning.severity if with_severity else None, node_id=warning.node_id,
        bins=list(warning.bins) if warning.bins is not None else None,
        value=warning.value if with_severity else None,
        edge_ids=list(warning.edge_ids) if warning.edge_ids and with_severity else None,
    )


def run_warning(item: WarningJson) -> RunWarning:
    return RunWarning(code=item.code, message=item.message, severity=item.severity or "warning",
                      node_id=item.node_id,
                      bins=tuple(item.bins) if item.bins is not None else None,
                      value=item.value,
                      edge_ids=tuple(item.edge_ids) if item.edge_ids else None)


def _calibration(tree: dict[str, Any]) -> dict[str, Any] | None:
    provenance = tree.get("provenance")
    found = provenance.get("calibration") if isinstance(provenance, dict) else None
    return dict(found) if isinstance(found, dict) else None
