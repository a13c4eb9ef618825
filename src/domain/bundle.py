"""Builds every file of a run bundle in memory: {relative path: bytes}.

Nothing here touches a disk or a bucket; a store publishes the bytes. JSON is UTF-8,
2-space indented, keys in a fixed order; CSV values use the shortest round-trip form.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from flowtime import __version__
from flowtime.domain.grid import format_utc
from flowtime.domain.hashing import sha256_bytes
from flowtime.domain.model import Model
from flowtime.domain.runs import RunSummary, RunWarning
from flowtime.domain.templates import Template

ENGINE_VERSION = __version__
FLOW_UNIT = "entities/bin"
STATE_UNIT = "entities"

RUN_JSON = "run.json"
MANIFEST_JSON = "manifest.json"
SERIES_INDEX = "series/index.json"
SPEC_YAML = "spec.yaml"
MODEL_YAML = "model/model.yaml"
METADATA_JSON = "model/metadata.json"
PROVENANCE_JSON = "model/provenance.json"
TELEMETRY_MANIFEST = "model/telemetry/telemetry-manifest.json"


def series_id(node_id: str) -> str:
    return f"{node_id}@{node_id.upper()}@DEFAULT"


def series_path(node_id: str) -> str:
    return f"series/{series_id(node_id)}.csv"


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
    """`t,value` rows. Integral values print as ints; the rest use repr (shortest
    round-trip); formatting happens in one C-level `%` over the whole series."""
    if not np.isfinite(values).all():
        rows = [f"{t},{format_value(v)}" for t, v in enumerate(values.tolist())]
        return ("t,value\n" + "\n".join(rows) + "\n").encode("utf-8")
    integral = (values == np.trunc(values)) & (np.abs(values) < 1e16)
    if integral.all():
        cells: list[int | float] = values.astype(np.int64).tolist()
    else:
        floats = values.tolist()
        ints = np.where(integral, values, 0).astype(np.int64).tolist()
        cells = [i if m else f for i, f, m in zip(ints, floats, integral.tolist(), strict=True)]
    flat = [item for pair in enumerate(cells) for item in pair]
    return ("t,value\n" + "%d,%r\n" * len(cells) % tuple(flat)).encode("utf-8")


def to_json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def series_roles(model: Model) -> dict[str, tuple[str, str, str]]:
    """node id -> (kind, unit, componentId) from topology semantics; others are derived."""
    roles: dict[str, tuple[str, str, str]] = {}
    for tnode in model.definition.topology.nodes:
        for field, node_id in tnode.semantics.items():
            if field == "queue":
                roles[node_id] = ("state", STATE_UNIT, tnode.id)
            else:
                roles.setdefault(node_id, ("flow", FLOW_UNIT, tnode.id))
    return roles


@dataclass(frozen=True, slots=True)
class BundleInput:
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
    telemetry_files: tuple[dict[str, Any], ...] = ()
    captured_at_utc: str | None = None


def model_id(model_hash: str) -> str:
    return "model_" + model_hash.removeprefix("sha256:")[:16]


def build_bundle(data: BundleInput) -> tuple[dict[str, bytes], RunSummary]:
    model = data.model
    grid = model.grid
    files: dict[str, bytes] = {}
    model_bytes = model.text.encode("utf-8")
    model_hash = sha256_bytes(model_bytes)
    files[SPEC_YAML] = model_bytes
    files[MODEL_YAML] = model_bytes

    roles = series_roles(model)
    index_entries: list[dict[str, Any]] = []
    run_series: list[dict[str, str]] = []
    series_hashes: dict[str, str] = {}
    for node_id, values in data.series.items():
        csv_bytes = series_csv(values)
        sid, path = series_id(node_id), series_path(node_id)
        digest = sha256_bytes(csv_bytes)
        files[path] = csv_bytes
        kind, unit, component = roles.get(node_id, ("derived", FLOW_UNIT, node_id))
        series_hashes[sid] = digest
        run_series.append({"id": sid, "path": path, "unit": unit})
        index_entries.append({
            "id": sid, "kind": kind, "path": path, "unit": unit, "componentId": component,
            "class": "DEFAULT", "points": int(values.shape[0]), "hash": digest,
        })

    grid_json = {"bins": grid.bins, "binSize": grid.bin_size, "binUnit": grid.bin_unit}
    warning_messages = list(dict.fromkeys(w.message for w in data.warnings))
    files[RUN_JSON] = to_json({
        "schemaVersion": 1,
        "runId": data.run_id,
        "engineVersion": ENGINE_VERSION,
        "source": "engine",
        "grid": {**grid_json, "timezone": "UTC", "align": "left"},
        "modelHash": model_hash,
        "scenarioHash": data.scenario_hash,
        "createdUtc": data.created_utc,
        "warnings": warning_messages,
        "series": run_series,
    })
    files[SERIES_INDEX] = to_json({
        "schemaVersion": 1,
        "grid": {**grid_json, "timezone": "UTC"},
        "series": index_entries,
    })
    template = data.template
    mid = model_id(model_hash)
    files[MANIFEST_JSON] = to_json({
        "schemaVersion": 1,
        "scenarioHash": data.scenario_hash,
        "rng": {"kind": data.rng_kind, "seed": data.seed},
        "seriesHashes": series_hashes,
        "eventCount": 0,
        "createdUtc": data.created_utc,
        "modelHash": model_hash,
        "provenance": {
            "hasProvenance": True, "modelId": mid, "templateId": template.id, "source": "flowtime",
        },
    })
    files[METADATA_JSON] = to_json({
        "runId": data.run_id,
        "templateId": template.id,
        "templateTitle": template.metadata.title,
        "templateVersion": template.metadata.version,
        "mode": data.mode,
        "parameters": model.parameters,
        "modelHash": model_hash,
        "scenarioHash": data.scenario_hash,
        "receivedAtUtc": data.created_utc,
        "window": {"startTimeUtc": format_utc(grid.start), "durationMinutes": grid.duration_minutes},
        "warnings": [_warning_json(w) for w in data.warnings],
    })
    files[PROVENANCE_JSON] = to_json({
        "source": "flowtime",
        "generator": f"flowtime/{ENGINE_VERSION}",
        "templateId": template.id,
        "templateVersion": template.metadata.version,
        "mode": data.mode,
        "modelId": mid,
        "parameters": model.parameters,
        "seed": data.seed,
        "generatedAtUtc": data.created_utc,
    })
    files[TELEMETRY_MANIFEST] = to_json({
        "schemaVersion": 1,
        "window": {"startTimeUtc": format_utc(grid.start), "durationMinutes": grid.duration_minutes},
        "grid": grid_json,
        "files": list(data.telemetry_files),
        "warnings": [_warning_json(w, with_severity=False) for w in data.warnings
                     if w.code.startswith("telemetry")],
        "provenance": {
            "runId": data.run_id, "scenarioHash": data.scenario_hash, "modelHash": model_hash,
            "capturedAtUtc": data.captured_at_utc or data.created_utc,
        },
    })
    summary = RunSummary(
        run_id=data.run_id,
        template_id=template.id,
        template_title=template.metadata.title,
        template_version=template.metadata.version,
        mode=data.mode,
        created_utc=data.created_utc,
        warning_count=len(data.warnings),
    )
    return files, summary


def _warning_json(warning: RunWarning, with_severity: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"code": warning.code, "message": warning.message}
    if with_severity:
        out["severity"] = warning.severity
    if warning.node_id is not None:
        out["nodeId"] = warning.node_id
    if warning.bins is not None:
        out["bins"] = list(warning.bins)
    return out


def warning_from_json(item: dict[str, Any]) -> RunWarning:
    bins = item.get("bins")
    return RunWarning(
        code=str(item.get("code", "warning")),
        message=str(item.get("message", "")),
        severity=str(item.get("severity", "warning")),
        node_id=item.get("nodeId"),
        bins=tuple(bins) if isinstance(bins, list) else None,
    )
