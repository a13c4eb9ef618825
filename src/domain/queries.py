"""Read side: describe, list, fetch files and project state of stored runs."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from flowtime.domain.bundle import (
    MANIFEST_JSON,
    METADATA_JSON,
    MODEL_YAML,
    RUN_JSON,
    SERIES_INDEX,
    TELEMETRY_MANIFEST,
    series_id,
)
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, invalid, not_found
from flowtime.domain.grid import TimeGrid, parse_utc
from flowtime.domain.orchestration import describe_run
from flowtime.domain.runs import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    STATE_SCHEMA_ID,
    STATE_SCHEMA_VERSION,
    RunFilter,
    RunPage,
    RunRecord,
)
from flowtime.domain.state import (
    MAX_WINDOW_BINS,
    METRIC_NAMES,
    NodeView,
    RunView,
    state_at,
    state_window,
)
from flowtime.domain.yaml_document import load_yaml
from flowtime.ports import ArtifactStore

VIEW_CACHE_SIZE = 64


def parse_csv_values(data: bytes) -> np.ndarray:
    lines = data.decode("utf-8").splitlines()[1:]
    return np.array([float(line.split(",", 1)[1]) for line in lines if line], dtype=np.float64)


class RunQueryService:
    def __init__(self, store: ArtifactStore):
        self.store = store
        self._views: OrderedDict[tuple[str, str], RunView] = OrderedDict()
        self._lock = threading.Lock()

    def get_run(self, run_id: str) -> RunRecord:
        return describe_run(self.store, run_id)

    def list_runs(
        self, run_filter: RunFilter, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE
    ) -> RunPage:
        problems = []
        if page < 1:
            problems.append(Problem("page", "must be ≥ 1"))
        if page_size < 1:
            problems.append(Problem("pageSize", f"must be between 1 and {MAX_PAGE_SIZE}"))
        if problems:
            raise invalid(problems)
        return self.store.list_runs(run_filter, page, min(page_size, MAX_PAGE_SIZE))

    def delete_run(self, run_id: str) -> None:
        self.store.delete(run_id)

    def read_file(self, run_id: str, path: str) -> bytes:
        return self.store.read(run_id, path)

    def series_index(self, run_id: str) -> dict[str, Any]:
        return json.loads(self.store.read(run_id, SERIES_INDEX))

    def series_csv(self, run_id: str, series: str) -> tuple[str, bytes]:
        """(series id, CSV bytes); a bare node id resolves to its series."""
        index = self.series_index(run_id)
        wanted = series if "@" in series else series_id(series)
        for entry in index.get("series", []):
            if entry["id"] == wanted or entry["id"].split("@", 1)[0] == series:
                return entry["id"], self.store.read(run_id, entry["path"])
        raise not_found("seriesId", f"run '{run_id}' has no series '{series}'")

    def verify_run(self, run_id: str) -> list[str]:
        """Re-hash every series and the model against manifest and index; mismatches."""
        from flowtime.domain.bundle import SPEC_YAML
        from flowtime.domain.hashing import sha256_bytes

        manifest = json.loads(self.store.read(run_id, MANIFEST_JSON))
        index = self.series_index(run_id)
        found: list[str] = []
        listed = {entry["id"]: entry for entry in index.get("series", [])}
        for series, expected in manifest.get("seriesHashes", {}).items():
            entry = listed.get(series)
            if entry is None:
                found.append(f"{series}: in manifest.json but not in series/index.json")
                continue
            try:
                actual = sha256_bytes(self.store.read(run_id, entry["path"]))
            except FlowTimeError:
                found.append(f"{entry['path']}: missing")
                continue
            if actual != expected:
                found.append(f"{entry['path']}: hash {actual} does not match the manifest")
            if entry.get("hash") != expected:
                found.append(f"{series}: index hash differs from the manifest")
        for series in sorted(set(listed) - set(manifest.get("seriesHashes", {}))):
            found.append(f"{series}: in series/index.json but not in manifest.json")
        model_hash = manifest.get("modelHash")
        if model_hash:
            for path in (MODEL_YAML, SPEC_YAML):
                if sha256_bytes(self.store.read(run_id, path)) != model_hash:
                    found.append(f"{path}: hash does not match modelHash")
        return found

    # -- state ----------------------------------------------------------------------
    def state(self, run_id: str, bin_index: int) -> dict[str, Any]:
        view = self._view(run_id)
        bins = view.grid.bins
        if not 0 <= bin_index < bins:
            raise invalid([Problem("binIndex", f"must be between 0 and {bins - 1}")])
        return state_at(view, bin_index)

    def state_window(self, run_id: str, start: int, end: int) -> dict[str, Any]:
        view = self._view(run_id)
        bins = view.grid.bins
        problems = []
        if not 0 <= start < bins:
            problems.append(Problem("startBin", f"must be between 0 and {bins - 1}"))
        if not 0 <= end < bins:
            problems.append(Problem("endBin", f"must be between 0 and {bins - 1}"))
        if end < start:
            problems.append(Problem("endBin", "must be ≥ startBin"))
        if problems:
            raise invalid(problems)
        count = end - start + 1
        if count > MAX_WINDOW_BINS:
            raise FlowTimeError(ErrorKind.TOO_LARGE, "window too large", [
                Problem("endBin", f"window of {count} bins exceeds the limit of "
                        f"{MAX_WINDOW_BINS}")])
        return state_window(view, start, end)

    def _view(self, run_id: str) -> RunView:
        run_bytes = self.store.read(run_id, RUN_JSON)
        key = (run_id, json.loads(run_bytes)["createdUtc"] + str(hash(run_bytes)))
        with self._lock:
            cached = self._views.get(key)
            if cached is not None:
                self._views.move_to_end(key)
                return cached
        view = self._load_view(run_id)
        with self._lock:
            self._views[key] = view
            while len(self._views) > VIEW_CACHE_SIZE:
                self._views.popitem(last=False)
        return view

    def _load_view(self, run_id: str) -> RunView:
        metadata = json.loads(self.store.read(run_id, METADATA_JSON))
        model = load_yaml(self.store.read(run_id, MODEL_YAML), MODEL_YAML)
        index = self.series_index(run_id)
        telemetry = json.loads(self.store.read(run_id, TELEMETRY_MANIFEST))
        grid_def = model["grid"]
        start = parse_utc(model.get("window", {}).get("start", "")) or parse_utc(
            "1970-01-01T00:00:00Z")
        assert start is not None
        grid = TimeGrid(grid_def["bins"], grid_def["binSize"], grid_def["binUnit"], start)
        paths = {entry["id"].split("@", 1)[0]: entry["path"] for entry in index["series"]}
        loaded: dict[str, np.ndarray] = {}

        def series_of(node_id: str) -> np.ndarray | None:
            if node_id not in paths:
                return None
            if node_id not in loaded:
                loaded[node_id] = parse_csv_values(self.store.read(run_id, paths[node_id]))
            return loaded[node_id]

        files_by_node: dict[str, list[str]] = {}
        for f in telemetry.get("files", []):
            files_by_node.setdefault(f["nodeId"], []).append(f["path"])
        warnings = metadata.get("warnings", [])
        nodes = []
        for tnode in model.get("topology", {}).get("nodes", []) or []:
            semantics = tnode.get("semantics") or {}
            metrics = {}
            member_ids = set()
            for name in METRIC_NAMES.values():
                node_id = semantics.get(name)
                values = series_of(node_id) if node_id else None
                if values is not None:
                    metrics[name] = values
                    member_ids.add(node_id)
            nodes.append(NodeView(
                id=tnode["id"],
                kind=tnode.get("kind", "service"),
                sla_minutes=tnode.get("slaMinutes"),
                metrics=metrics,
                sources=sorted(p for n in member_ids for p in files_by_node.get(n, [])),
                warnings=[state_warning(w, with_node=False) for w in warnings
                          if w.get("nodeId") in member_ids],
            ))
        manifest = json.loads(self.store.read(run_id, MANIFEST_JSON))
        meta = state_metadata(describe_run(self.store, run_id), manifest.get("rng"))
        return RunView(meta, grid, nodes, [state_warning(w) for w in warnings])


def state_metadata(record: RunRecord, rng: dict[str, Any] | None) -> dict[str, Any]:
    """The metadata block of /state and /state_window, in the reference's closed shape."""
    meta: dict[str, Any] = {
        "runId": record.run_id,
        "templateId": record.template_id,
        "templateTitle": record.template_title or None,
        "templateVersion": record.template_version or None,
        "mode": record.mode,
        "provenanceHash": record.provenance_hash,
        "telemetrySourcesResolved": record.telemetry_sources_resolved,
        "schema": {"id": STATE_SCHEMA_ID, "version": STATE_SCHEMA_VERSION,
                   "hash": record.schema_hash},
        "storage": dict(record.storage),
        "rng": {"kind": rng["kind"], "seed": rng["seed"]} if rng else None,
    }
    return {k: v for k, v in meta.items() if v is not None or k == "rng"}


def state_warning(warning: dict[str, Any], with_node: bool = True) -> dict[str, Any]:
    """A run warning in the closed shape state responses allow (the bins stay in run.json
    and metadata.json; gap messages name them)."""
    keys = ("code", "message", "severity", "nodeId") if with_node else ("code", "message",
                                                                          "severity")
    return {k: warning[k] for k in keys if warning.get(k) is not None}
