"""Capture: turn a stored run into a telemetry capture directory.

One CSV per series (`<nodeId>.csv`, `t,value`) plus `telemetry-manifest.json` with each
file's metric, hash and points. Optional gap injection drops or zeroes chosen bins of
chosen nodes and records each as a `telemetry_gap` warning.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from flowtime.domain.artifacts.bundle import format_value
from flowtime.domain.artifacts.codec import (
    MODEL_YAML,
    GridJson,
    TelemetryFileJson,
    TelemetryManifestJson,
    TelemetryProvenanceJson,
    WarningJson,
    WindowJson,
    decode_model,
    encode,
    to_builtins,
)
from flowtime.domain.artifacts.hashing import sha256_bytes
from flowtime.domain.errors import Problem, conflict, invalid
from flowtime.domain.modeling import schemas
from flowtime.domain.modeling.grid import TimeGrid, format_utc
from flowtime.domain.runs import RunWarning
from flowtime.domain.services.telemetry_binding import metrics_by_series
from flowtime.domain.views.queries import RunQueryService
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


def capture_run(
    queries: RunQueryService,
    run_id: str,
    out: str | os.PathLike[str],
    gaps: dict[str, set[int]],
    gap_mode: str,
    clock: Clock,
    on_progress: Callable[[int, int], None] | None = None,
) -> TelemetryManifestJson:
    reader = queries.series(run_id)
    run = queries.run_json(run_id)
    record = queries.get_run(run_id)
    metrics = metrics_by_series(decode_model(queries.read_file(run_id, MODEL_YAML), run_id))
    grid = reader.index.grid
    bins = grid.bins
    unknown = sorted(set(gaps) - set(reader.entries))
    if unknown:
        raise invalid([Problem("gaps", f"run '{run_id}' has no series '{n}'") for n in unknown])
    for node, chosen in gaps.items():
        outside = sorted(b for b in chosen if b >= bins)
        if outside:
            raise invalid([Problem("gaps", f"{node}: bin {outside[0]} is outside 0..{bins - 1}")])
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    files: list[TelemetryFileJson] = []
    warnings: list[WarningJson] = []
    total = len(reader.entries)
    for done, node_id in enumerate(reader.entries, start=1):
        values = reader.values(node_id)
        assert values is not None
        dropped = gaps.get(node_id, set())
        rows = ["t,value"]
        for t, value in enumerate(values.tolist()):
            if t in dropped and gap_mode == "drop":
                continue
            rows.append(f"{t},{format_value(0.0 if t in dropped else value)}")
        data = ("\n".join(rows) + "\n").encode("utf-8")
        name = f"{node_id}.csv"  # a class series is named `<node>__class_<classId>`
        _write_atomic(folder / name, data)
        entry = reader.entries[node_id]
        class_id = None if entry.class_ == "DEFAULT" else entry.class_
        files.append(TelemetryFileJson(
            node_id=entry.node_id, metric=metrics.get(entry.node_id, "Arrivals"), path=name,
            hash=sha256_bytes(data), points=len(rows) - 1, class_id=class_id))
        if dropped:
            ordered = sorted(dropped)
            verb = "dropped" if gap_mode == "drop" else "zeroed"
            warnings.append(WarningJson(
                code="telemetry_gap", node_id=node_id, bins=ordered,
                message=f"{node_id}: bins {', '.join(map(str, ordered))} {verb} at capture"))
        if on_progress:
            on_progress(done, total)
    manifest = TelemetryManifestJson(
        schema_version=1,
        window=WindowJson(start_time_utc=record.grid.start_time_utc or "",
                          duration_minutes=record.grid.duration_minutes or 1),
        grid=GridJson(bins=grid.bins, bin_size=grid.bin_size, bin_unit=grid.bin_unit),
        files=files,
        warnings=warnings,
        provenance=TelemetryProvenanceJson(
            run_id=run_id, scenario_hash=run.scenario_hash, model_hash=run.model_hash,
            captured_at_utc=format_utc(clock.now().replace(microsecond=0))),
    )
    problems = schemas.validate("telemetry-manifest", to_builtins(manifest), prefix=MANIFEST_NAME)
    assert not problems, problems
    _write_atomic(folder / MANIFEST_NAME, encode(manifest))
    return manifest


def write_pulled_capture(
    out: str | os.PathLike[str],
    grid: TimeGrid,
    series: Sequence[tuple[str, str, Sequence[float]]],
    warnings: Sequence[RunWarning],
    template_id: str,
    sources: list[dict[str, Any]],
    clock: Clock,
    overwrite: bool = False,
) -> TelemetryManifestJson:
    """A capture directory from observed series already on the grid (`flowtime data pull`,
    POST /v1/telemetry/captures): `<id>.csv` (`t,value`; a gap's row is left out, which a
    telemetry run reports as a `telemetry_gap`) per (id, metric, values), and the manifest.
    An existing manifest is replaced only with `overwrite`."""
    folder = Path(out)
    if (folder / MANIFEST_NAME).exists() and not overwrite:
        raise conflict("directory", f"{folder.name} already holds a capture (overwrite to "
                       "replace it)")
    folder.mkdir(parents=True, exist_ok=True)
    files: list[TelemetryFileJson] = []
    for node_id, metric, values in series:
        rows = ["t,value"] + [f"{t},{format_value(v)}" for t, v in enumerate(values)
                              if math.isfinite(v)]
        data = ("\n".join(rows) + "\n").encode("utf-8")
        name = f"{node_id}.csv"
        _write_atomic(folder / name, data)
        files.append(TelemetryFileJson(node_id=node_id, metric=metric, path=name,
                                       hash=sha256_bytes(data), points=len(rows) - 1))
    manifest = TelemetryManifestJson(
        schema_version=1,
        window=WindowJson(start_time_utc=format_utc(grid.start),
                          duration_minutes=grid.duration_minutes),
        grid=GridJson(bins=grid.bins, bin_size=grid.bin_size, bin_unit=grid.bin_unit),
        files=files,
        warnings=[WarningJson(code=w.code, message=w.message, node_id=w.node_id,
                              bins=list(w.bins) if w.bins else None) for w in warnings],
        provenance=TelemetryProvenanceJson(
            captured_at_utc=format_utc(clock.now().replace(microsecond=0)),
            source="observed", template_id=template_id, sources=sources),
    )
    problems = schemas.validate("telemetry-manifest", to_builtins(manifest), prefix=MANIFEST_NAME)
    assert not problems, problems
    _write_atomic(folder / MANIFEST_NAME, encode(manifest))
    return manifest


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)
