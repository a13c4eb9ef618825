"""Telemetry mode: bind capture files to the model's const nodes.

A request's `bindings` map template parameters (typically the string parameter used as a
const node's `source`) to files in the capture directory: the parameter becomes
`file://<file>`. Every const node whose source is a `file://` URL then takes its values
from that file. Files are read through the TelemetrySource port, which confines them to
the capture root.

Per-file handling (documented behaviour):
- missing or unreadable file → unprocessable (422), naming every missing file;
- no numeric rows at all → invalid (400): the file cannot stand in for the node;
- fewer rows than bins, gaps in `t`, non-numeric or non-finite cells → those bins are 0
  and one `telemetry_gap` warning per node lists them; extra rows are ignored with a
  `telemetry_length` warning.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from flowtime.domain.artifacts.bundle import run_warning
from flowtime.domain.artifacts.codec import TelemetryFileJson, TelemetryManifestJson, decode
from flowtime.domain.artifacts.hashing import sha256_bytes
from flowtime.domain.compile.classes import off_bins
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, invalid
from flowtime.domain.modeling.model import ConstNode, Model, ModelDef, ParameterDef
from flowtime.domain.runs import RunWarning, TelemetryRequest
from flowtime.ports.telemetry import TelemetrySource

FILE_SCHEME = "file://"
METRIC_BY_SEMANTIC = {
    "arrivals": "Arrivals",
    "served": "Served",
    "errors": "Errors",
    "external_demand": "ExternalDemand",
    "queue": "QueueDepth",
    "capacity": "Capacity",
}
CAPTURE_MANIFEST = "telemetry-manifest.json"


@dataclass(frozen=True, slots=True)
class TelemetryInputs:
    overrides: dict[str, np.ndarray] = field(default_factory=dict)
    files: list[TelemetryFileJson] = field(default_factory=list)
    warnings: list[RunWarning] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def empty() -> TelemetryInputs:
        return TelemetryInputs()


def binding_parameters(
    definitions: list[ParameterDef], bindings: Mapping[str, str]
) -> tuple[dict[str, str], list[Problem]]:
    """Parameter values (`file://…`) for each binding, and problems with the bindings."""
    by_name = {d.name: d for d in definitions}
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for name, path in bindings.items():
        loc = f"telemetry.bindings.{name}"
        defn = by_name.get(name)
        if defn is None:
            known = ", ".join(sorted(d.name for d in definitions if d.type == "string")) or "none"
            problems.append(Problem(loc, f"unknown parameter (string parameters: {known})"))
        elif defn.type != "string":
            problems.append(Problem(loc, f"parameter '{name}' is {defn.type}, not a string source"))
        elif not isinstance(path, str) or not path.strip():
            problems.append(Problem(loc, "must name a file in the capture directory"))
        else:
            values[name] = path if path.startswith(FILE_SCHEME) else FILE_SCHEME + path
    return values, problems


def metrics_by_series(model: ModelDef) -> dict[str, str]:
    """The telemetry metric of every series a topology node names (the first role wins)."""
    found: dict[str, str] = {}
    for tnode in model.topology.nodes:
        for semantic, series in tnode.semantics.items():
            found.setdefault(series, METRIC_BY_SEMANTIC[semantic])
    return found


def metric_of(model: Model, node_id: str) -> str:
    return metrics_by_series(model.definition).get(node_id, "Arrivals")


def parse_series_csv(data: bytes) -> list[tuple[int | None, str]]:
    """Rows of (t, cell) from `t,value` CSV (or a single value column)."""
    text = data.decode("utf-8-sig", errors="replace")
    rows: list[tuple[int | None, str]] = []
    for i, row in enumerate(csv.reader(io.StringIO(text))):
        if not row or all(not c.strip() for c in row):
            continue
        if i == 0 and not parses_as_number(row[-1]):
            continue  # header
        if len(row) >= 2:
            t = row[0].strip()
            rows.append((int(t) if t.isdigit() else None, row[1].strip()))
        else:
            rows.append((None, row[0].strip()))
    return rows


def parses_as_number(text: str) -> bool:
    """True when a CSV cell reads as a number (a header row's cells do not)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def values_from_rows(
    rows: list[tuple[int | None, str]], bins: int
) -> tuple[np.ndarray, list[int], int]:
    """(values, bins with no usable value, extra rows ignored)."""
    values = np.zeros(bins)
    filled = np.zeros(bins, dtype=bool)
    extra = 0
    for position, (t, cell) in enumerate(rows):
        index = t if t is not None else position
        if index >= bins:
            extra += 1
            continue
        try:
            number = float(cell)
        except ValueError:
            continue
        if math.isfinite(number):
            values[index] = number
            filled[index] = True
    return values, [int(i) for i in np.flatnonzero(~filled)], extra


def bind_telemetry(
    model: Model, request: TelemetryRequest, source: TelemetrySource
) -> TelemetryInputs:
    directory = source.resolve(request.capture_directory)
    bins = model.grid.bins
    inputs = TelemetryInputs()
    missing: list[Problem] = []
    unusable: list[Problem] = []
    prior = _capture_warnings(source, directory)
    for i, node in enumerate(model.definition.nodes):
        if not isinstance(node, ConstNode) or not node.telemetry_source:
            continue
        url = node.telemetry_source
        if not url.startswith(FILE_SCHEME):
            unusable.append(Problem(f"nodes[{i}].source", f"{url!r} is not a file:// source"))
            continue
        relative = url[len(FILE_SCHEME):]
        try:
            file = source.read(directory, relative)
        except FlowTimeError as exc:
            if exc.kind is ErrorKind.UNPROCESSABLE:
                missing.extend(exc.problems or [Problem(f"nodes[{i}].source", exc.detail)])
                continue
            raise
        rows = parse_series_csv(file.data)
        values, gaps, extra = values_from_rows(rows, bins)
        if len(gaps) == bins:
            unusable.append(Problem(f"nodes[{i}].source",
                                    f"{file.path} has no numeric values for any of {bins} bins"))
            continue
        digest = sha256_bytes(file.data)
        inputs.overrides[node.id] = values
        inputs.hashes[node.id] = digest
        inputs.files.append(TelemetryFileJson(node_id=node.id, metric=metric_of(model, node.id),
                                              path=file.path, hash=digest, points=len(rows)))
        recorded = prior.get(file.path, [])
        inputs.warnings.extend(recorded)
        already = {b for w in recorded for b in (w.bins or ())}
        new_gaps = [b for b in gaps if b not in already]
        if new_gaps:
            inputs.warnings.append(RunWarning(
                "telemetry_gap", f"{node.id}: no usable value in {file.path} for bins "
                f"{_ranges(new_gaps)}; those bins are 0", node_id=node.id, bins=tuple(new_gaps)))
        if extra:
            inputs.warnings.append(RunWarning(
                "telemetry_length", f"{node.id}: {file.path} has {extra} rows beyond grid.bins "
                f"{bins}; they were ignored", node_id=node.id))
        _bind_classes(model, node.id, relative, values, source, directory, inputs)
    if missing:
        raise FlowTimeError(ErrorKind.UNPROCESSABLE,
                            "telemetry capture files are missing or unreadable", missing)
    if unusable:
        raise invalid(unusable, "telemetry files cannot be used")
    return inputs


def _bind_classes(model: Model, node_id: str, relative: str, total: np.ndarray,
                  source: TelemetrySource, directory: str, inputs: TelemetryInputs) -> None:
    """A bound node with classes takes its class series from the files `telemetry capture`
    writes beside it (`<file>__class_<classId>.csv`), when every class has one and they add
    up to the node's values (else the declared rates split it, with a warning)."""
    plan = model.plan
    names = plan.class_series.get(node_id)
    if not names:
        return
    stem = relative[:-4] if relative.endswith(".csv") else relative
    found: dict[str, tuple[np.ndarray, TelemetryFileJson]] = {}
    for class_id, name in zip(plan.classes, names, strict=True):
        try:
            file = source.read(directory, f"{stem}__class_{class_id}.csv")
        except FlowTimeError:
            return  # no class files: the declared rates split the node
        rows = parse_series_csv(file.data)
        values, _, _ = values_from_rows(rows, model.grid.bins)
        found[name] = (values, TelemetryFileJson(
            node_id=node_id, metric=metric_of(model, node_id), path=file.path,
            hash=sha256_bytes(file.data), points=len(rows), class_id=class_id))
    parts = np.sum([v for v, _ in found.values()], axis=0)
    bad = off_bins(parts, total)
    if bad.size:
        t = int(bad[0])
        inputs.warnings.append(RunWarning(
            "telemetry_class_mismatch", f"{node_id}: the class files add up to {parts[t]:g} at "
            f"bin {t}, the node's file says {total[t]:g}; the declared rates split it instead",
            node_id=node_id, bins=(t,)))
        return
    for name, (values, entry) in found.items():
        inputs.overrides[name] = values
        inputs.files.append(entry)


def _capture_warnings(source: TelemetrySource, directory: str) -> dict[str, list[RunWarning]]:
    """Gap warnings recorded by `telemetry capture`, keyed by file path."""
    try:
        manifest = decode(source.read(directory, CAPTURE_MANIFEST).data, TelemetryManifestJson,
                          CAPTURE_MANIFEST)
    except FlowTimeError:
        return {}  # no manifest, or one we cannot read: the files alone still bind
    by_node_file = {f.node_id: f.path for f in manifest.files}
    found: dict[str, list[RunWarning]] = {}
    for item in manifest.warnings:
        path = by_node_file.get(item.node_id or "")
        if path:
            found.setdefault(path, []).append(run_warning(item))
    return found


def _ranges(indices: list[int]) -> str:
    parts: list[str] = []
    start = prev = indices[0]
    for i in [*indices[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(parts)
