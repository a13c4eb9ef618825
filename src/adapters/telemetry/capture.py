"""Capture: turn a stored run into a telemetry capture directory.

One CSV per series (`<nodeId>.csv`, `t,value`) plus `telemetry-manifest.json` with each
file's metric, hash and points. Optional gap injection drops or zeroes chosen bins of
chosen nodes and records each as a `telemetry_gap` warning.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowtime.domain import schemas
from flowtime.domain.bundle import METADATA_JSON, MODEL_YAML, RUN_JSON, format_value, to_json
from flowtime.domain.errors import Problem, invalid
from flowtime.domain.grid import format_utc
from flowtime.domain.hashing import sha256_bytes
from flowtime.domain.queries import RunQueryService, parse_csv_values
from flowtime.domain.telemetry_binding import METRIC_BY_SEMANTIC
from flowtime.domain.yaml_document import load_yaml
from flowtime.ports.clock import Clock

MANIFEST_NAME = "telemetry-manifest.json"


def parse_gaps(text: str) -> dict[str, set[int]]:
    """`node:3,node:5-7` -> {node: {3, 5, 6, 7}}."""
    gaps: dict[str, set[int]] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        node, sep, span = item.partition(":")
        low, _, high = span.partition("-")
        if not sep or not node or not low.isdigit() or (high and not high.isdigit()):
            raise invalid([Problem("gaps", f"{item!r} is not node:bin or node:first-last")])
        gaps.setdefault(node, set()).update(range(int(low), int(high or low) + 1))
    return gaps


def _metrics(model: dict[str, Any]) -> dict[str, str]:
    camel = {"externalDemand": "external_demand"}
    found: dict[str, str] = {}
    for tnode in (model.get("topology") or {}).get("nodes") or []:
        for name, node_id in (tnode.get("semantics") or {}).items():
            found.setdefault(node_id, METRIC_BY_SEMANTIC[camel.get(name, name)])
    return found


def capture_run(
    queries: RunQueryService,
    run_id: str,
    out: str | os.PathLike[str],
    gaps: dict[str, set[int]],
    gap_mode: str,
    clock: Clock,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    index = queries.series_index(run_id)
    run = json.loads(queries.read_file(run_id, RUN_JSON))
    metadata = json.loads(queries.read_file(run_id, METADATA_JSON))
    model = load_yaml(queries.read_file(run_id, MODEL_YAML))
    metrics = _metrics(model)
    bins = index["grid"]["bins"]
    node_ids = [entry["id"].split("@", 1)[0] for entry in index["series"]]
    unknown = sorted(set(gaps) - set(node_ids))
    if unknown:
        raise invalid([Problem("gaps", f"run '{run_id}' has no series '{n}'") for n in unknown])
    for node, chosen in gaps.items():
        outside = sorted(b for b in chosen if b >= bins)
        if outside:
            raise invalid([Problem("gaps", f"{node}: bin {outside[0]} is outside 0..{bins - 1}")])
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    total = len(index["series"])
    for done, entry in enumerate(index["series"], start=1):
        node_id = entry["id"].split("@", 1)[0]
        values = parse_csv_values(queries.read_file(run_id, entry["path"]))
        dropped = gaps.get(node_id, set())
        rows = ["t,value"]
        for t, value in enumerate(values.tolist()):
            if t in dropped and gap_mode == "drop":
                continue
            rows.append(f"{t},{format_value(0.0 if t in dropped else value)}")
        data = ("\n".join(rows) + "\n").encode("utf-8")
        name = f"{node_id}.csv"
        _write_atomic(folder / name, data)
        files.append({"nodeId": node_id, "metric": metrics.get(node_id, "Arrivals"),
                      "path": name, "hash": sha256_bytes(data), "points": len(rows) - 1})
        if dropped:
            ordered = sorted(dropped)
            verb = "dropped" if gap_mode == "drop" else "zeroed"
            warnings.append({"code": "telemetry_gap", "nodeId": node_id, "bins": ordered,
                             "message": f"{node_id}: bins {', '.join(map(str, ordered))} {verb} "
                             "at capture"})
        if on_progress:
            on_progress(done, total)
    window = metadata.get("window", {})
    manifest = {
        "schemaVersion": 1,
        "window": {"startTimeUtc": window.get("startTimeUtc", ""),
                   "durationMinutes": window.get("durationMinutes", 1)},
        "grid": {k: index["grid"][k] for k in ("bins", "binSize", "binUnit")},
        "files": files,
        "warnings": warnings,
        "provenance": {"runId": run_id, "scenarioHash": run["scenarioHash"],
                       "modelHash": run["modelHash"],
                       "capturedAtUtc": format_utc(clock.now().replace(microsecond=0))},
    }
    problems = schemas.validate("telemetry-manifest", manifest, prefix=MANIFEST_NAME)
    assert not problems, problems
    _write_atomic(folder / MANIFEST_NAME, to_json(manifest))
    return manifest


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)
