"""Read side: describe, list, fetch files and project state of stored runs.

Every bundle file is decoded with the bundle codec; a run's series are loaded through one
`SeriesReader` (by node id, by series id, or all of them).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
from msgspec.structs import replace

from flowtime.domain.artifacts.codec import (
    INTEGRITY_JSON,
    MANIFEST_JSON,
    MODEL_YAML,
    RUN_JSON,
    SERIES_INDEX,
    SPEC_YAML,
    TELEMETRY_MANIFEST,
    D,
    IndexEntryJson,
    IntegrityJson,
    ManifestJson,
    RunJson,
    SeriesIndexJson,
    TelemetryManifestJson,
    damaged,
    decode,
    decode_model,
    decode_series,
)
from flowtime.domain.artifacts.export import WideTable, wide_table
from flowtime.domain.artifacts.hashing import sha256_bytes
from flowtime.domain.artifacts.tags import check_tags, read_tags, write_tags
from flowtime.domain.compile.compiler import EvaluationPlan
from flowtime.domain.compile.kinds import kind_of
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, invalid, not_found
from flowtime.domain.modeling.grid import TimeGrid, format_utc, parse_utc
from flowtime.domain.modeling.model import ModelDef, Semantics
from flowtime.domain.modeling.names import DEFAULT_CLASS, EPOCH, class_series_name, is_series_id
from flowtime.domain.modeling.validation import validate_and_plan
from flowtime.domain.runs import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    SORTS,
    STATE_SCHEMA_ID,
    STATE_SCHEMA_VERSION,
    SWEEP_MEMBERS,
    RunFilter,
    RunPage,
    RunRecord,
    RunWarning,
    created_bound,
    paginate,
)
from flowtime.domain.services.catalog import bootstrap, ensure_listed, summary_of_record
from flowtime.domain.services.orchestration import describe_run
from flowtime.domain.views import scenarios
from flowtime.domain.views.compare import Comparison, check_ids, compare, distinct_ids
from flowtime.domain.views.overview import DEFAULT_BUCKETS, MAX_BUCKETS, Overview, overview
from flowtime.domain.views.scenarios import NodeDiff, Overlay
from flowtime.domain.views.state import (
    MAX_WINDOW_BINS,
    ClassInfo,
    ConstraintView,
    EdgeView,
    Graph,
    GraphEdge,
    GraphNode,
    NodeView,
    NodeWarning,
    RngInfo,
    RunView,
    SchemaInfo,
    StateMetadata,
    StateSnapshot,
    StateWarning,
    StateWindow,
    StorageInfo,
    analytical_facts,
    class_coverage,
    colours,
    edge_quality,
    state_at,
    state_window,
)
from flowtime.ports import ArtifactStore
from flowtime.ports.catalog import RunCatalog

VIEW_CACHE_SIZE = 64


def _utc(text: str) -> Any:
    return parse_utc(f"{text}T00:00:00Z" if len(text) == 10 else text)


def _is_utc(text: str) -> bool:
    return _utc(text) is not None


def _utc_text(text: str | None) -> str | None:
    """A created bound in the catalog's form (`2026-01-31T00:00:00Z`); a date is midnight."""
    return None if text is None else created_bound(_utc(text))


def _with_tags(record: RunRecord, store: ArtifactStore) -> RunRecord:
    return replace(record, tags=read_tags(store, record.run_id))


class SeriesReader:
    """A run's series, read from the store on first use and kept."""

    def __init__(self, store: ArtifactStore, run_id: str, index: SeriesIndexJson):
        self.store = store
        self.run_id = run_id
        self.index = index
        self.entries: dict[str, IndexEntryJson] = {e.series_name: e for e in index.series}
        self._loaded: dict[str, np.ndarray] = {}

    def entry(self, series: str) -> IndexEntryJson | None:
        """The index entry for a node id or a full series id."""
        if is_series_id(series):
            return next((e for e in self.index.series if e.id == series), None)
        return self.entries.get(series)

    def values(self, series: str) -> np.ndarray | None:
        """The values of a node id or series id; None when the run has no such series."""
        entry = self.entry(series)
        if entry is None:
            return None
        if entry.id not in self._loaded:
            data = self.store.read(self.run_id, entry.path)
            self._loaded[entry.id] = decode_series(data, entry.path, self.run_id)
        return self._loaded[entry.id]

    def by_node(self) -> dict[str, np.ndarray]:
        return {node: self.values(node) for node in self.entries}  # type: ignore[misc]

    def by_series_id(self) -> dict[str, np.ndarray]:
        return {e.id: self.values(e.id) for e in self.index.series}  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class RunDiff:
    run_id: str
    against_run_id: str
    nodes: list[NodeDiff]


@dataclass(frozen=True, slots=True)
class SlaReport:
    start_bin: int
    end_bin: int
    nodes: list[scenarios.Attainment]  # flowtime's: latency against each node's SLA
    # the reference's aggregate over the same window (its /metrics): window start, bin
    # length, and per node with arrivals and served (DLQs left out) its completion
    window_start_utc: str = ""
    bin_minutes: int = 0
    services: list[scenarios.Completion] = field(default_factory=list)


def _diff_series(view: RunView, node: NodeView) -> dict[str, np.ndarray]:
    derived = view.derived(node)
    found = {k: v for k, v in (('queue', node.metrics.get('queue')),
                               ('served', node.metrics.get('served')),
                               ('overflow', node.overflow),
                               ('latencyMinutes', derived.latency_minutes),
                               ('utilization', derived.utilization)) if v is not None}
    return found


def _sla_status(view: RunView, node: NodeView) -> list[str | None]:
    derived = view.derived(node)
    return scenarios.attainment(node.id, node.sla_minutes or 0.0, node.metrics.get('served'),
                                node.metrics.get('queue'), derived.latency_minutes).status


def check_window(start: int, end: int, bins: int) -> None:
    """Bins start..end (inclusive) of a run with `bins` bins, located problems otherwise."""
    problems = []
    if not 0 <= start < bins:
        problems.append(Problem("startBin", f"must be between 0 and {bins - 1}"))
    if not 0 <= end < bins:
        problems.append(Problem("endBin", f"must be between 0 and {bins - 1}"))
    if end < start:
        problems.append(Problem("endBin", "must be ≥ startBin"))
    if problems:
        raise invalid(problems)


# tag and parameter filters in one listing: each is a join in the catalog's query
MAX_FILTERS = 32


class RunQueryService:
    """Reads runs. With a catalog, listing and search read only the catalog, and fetching
    a run by id repairs its catalog row when a crash lost it; without one (a service built
    by hand over a store), listing scans the store's summaries."""

    def __init__(self, store: ArtifactStore, catalog: RunCatalog | None = None,
                 clock: Any = None):
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self._filled = False  # the catalog has had its first sync from the store
        self._views: OrderedDict[tuple[str, bytes], RunView] = OrderedDict()
        self._lock = threading.Lock()

    def get_run(self, run_id: str) -> RunRecord:
        record = _with_tags(describe_run(self.store, run_id), self.store)
        if self.catalog is not None:
            ensure_listed(self.catalog, record)
        return record

    def tag_run(self, run_id: str, changes: dict[str, Any]) -> dict[str, str]:
        """Merge `changes` into the run's tags (a null value removes a tag)."""
        record = describe_run(self.store, run_id)  # unknown run: 404 (before the body)
        checked = check_tags(changes, allow_delete=True)
        tags = read_tags(self.store, run_id)
        for key, value in checked.items():
            if value is None:
                tags.pop(key, None)
            else:
                tags[key] = value
        written = write_tags(self.store, run_id, tags)
        if self.catalog is not None:
            if self.catalog.get(run_id) is None:
                self.catalog.upsert(summary_of_record(replace(record, tags=written)))
            else:
                self.catalog.set_tags(run_id, written)
        return written

    def list_runs(
        self, run_filter: RunFilter, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE,
        sort: str = "-createdUtc", cursor: str | None = None,
    ) -> RunPage:
        problems = []
        filters = len(run_filter.tags) + len(run_filter.parameters)
        if filters > MAX_FILTERS:
            problems.append(Problem("filters", f"{filters} tag and parameter filters; at most "
                                    f"{MAX_FILTERS} in one listing"))
        if page < 1 or page > MAX_PAGE:
            problems.append(Problem("page", f"must be between 1 and {MAX_PAGE}"))
        if page_size < 1:
            problems.append(Problem("pageSize", f"must be between 1 and {MAX_PAGE_SIZE}"))
        if sort not in SORTS:
            problems.append(Problem("sort", f"must be one of {', '.join(SORTS)}"))
        if run_filter.sweep_members not in SWEEP_MEMBERS:
            problems.append(Problem("sweepMembers", f"must be one of {', '.join(SWEEP_MEMBERS)}"))
        for name, value in (("createdFrom", run_filter.created_from),
                            ("createdTo", run_filter.created_to)):
            if value is not None and not _is_utc(value):
                problems.append(Problem(name, "must be an ISO-8601 UTC time, e.g. "
                                              "2026-01-31T00:00:00Z"))
        if problems:
            raise invalid(problems)
        run_filter = replace(run_filter, created_from=_utc_text(run_filter.created_from),
                             created_to=_utc_text(run_filter.created_to))
        size = min(page_size, MAX_PAGE_SIZE)
        if self.catalog is not None:
            self._fill_catalog()
            return self.catalog.search(run_filter, page, size, sort, cursor)
        if cursor is not None:
            raise invalid([Problem("cursor", "cursors need a run catalog")])
        return self._scan(run_filter, page, size, sort)

    def _fill_catalog(self) -> None:
        """A new catalog lists nothing until its first sync from the store: when that could
        not happen at start (the store was down), it happens before the first listing, or
        the listing fails as the store does (never an empty list that is not true)."""
        if self._filled or self.catalog is None:
            return
        now = self.clock.now() if self.clock is not None else None
        bootstrap(self.store, self.catalog, format_utc(now) if now else "unknown")
        self._filled = True

    def delete_run(self, run_id: str) -> None:
        try:
            self.store.delete(run_id)
        finally:  # a row whose bundle is gone goes too (also when the store says 404)
            if self.catalog is not None and not self.store.exists(run_id):
                self.catalog.delete(run_id)

    def read_file(self, run_id: str, path: str) -> bytes:
        return self.store.read(run_id, path)

    def series_index(self, run_id: str) -> SeriesIndexJson:
        return decode(self.store.read(run_id, SERIES_INDEX), SeriesIndexJson, SERIES_INDEX,
                      run_id)

    def run_json(self, run_id: str) -> RunJson:
        return decode(self.store.read(run_id, RUN_JSON), RunJson, RUN_JSON, run_id)

    def series(self, run_id: str) -> SeriesReader:
        return SeriesReader(self.store, run_id, self.series_index(run_id))

    def series_csv(self, run_id: str, series: str) -> tuple[str, bytes]:
        """(series id, CSV bytes); a bare node id resolves to its series."""
        entry = self.series(run_id).entry(series)
        if entry is None:
            raise not_found("seriesId", f"run '{run_id}' has no series '{series}'")
        return entry.id, self.store.read(run_id, entry.path)

    def verify_run(self, run_id: str) -> list[str]:
        """Re-hash every file against manifest.json, the series index and integrity.json;
        every mismatch, missing or unreadable file is one line (an empty list: intact)."""
        found: list[str] = []
        # every file of one version, read together and never from a cache (unknown: 404)
        bundle = self.store.read_many(run_id, fresh=True)

        def document(path: str, kind: type[D]) -> D | None:
            data = bundle.data.get(path)
            if data is None:
                found.append(f"{path}: missing")
                return None
            try:
                return decode(data, kind, path, run_id)
            except FlowTimeError:
                found.append(f"{path}: cannot be read")
                return None

        def digest(path: str) -> str | None:
            data = bundle.data.get(path)
            if data is None:
                found.append(f"{path}: missing")
                return None
            return sha256_bytes(data)

        manifest = document(MANIFEST_JSON, ManifestJson)
        index = document(SERIES_INDEX, SeriesIndexJson)
        listed = {entry.id: entry for entry in index.series} if index else {}
        if manifest is not None:
            for series, expected in manifest.series_hashes.items():
                entry = listed.get(series)
                if entry is None:
                    if index is not None:
                        found.append(f"{series}: in manifest.json but not in series/index.json")
                    continue
                actual = digest(entry.path)
                if actual is not None and actual != expected:
                    found.append(f"{entry.path}: hash {actual} does not match the manifest")
                if entry.hash != expected:
                    found.append(f"{series}: index hash differs from the manifest")
            for series in sorted(set(listed) - set(manifest.series_hashes)):
                found.append(f"{series}: in series/index.json but not in manifest.json")
            if manifest.model_hash:
                for path in (MODEL_YAML, SPEC_YAML):
                    actual = digest(path)
                    if actual is not None and actual != manifest.model_hash:
                        found.append(f"{path}: hash does not match modelHash")
        if INTEGRITY_JSON in bundle.files:
            integrity = document(INTEGRITY_JSON, IntegrityJson)
            for path, expected in (integrity.files.items() if integrity else ()):
                actual = digest(path)
                if actual is not None and actual != expected:
                    found.append(f"{path}: hash does not match integrity.json")
        return found

    # -- state ----------------------------------------------------------------------
    def state(self, run_id: str, bin_index: int) -> StateSnapshot:
        view = self._view(run_id)
        bins = view.grid.bins
        if not 0 <= bin_index < bins:
            raise invalid([Problem("binIndex", f"must be between 0 and {bins - 1}")])
        return state_at(view, bin_index)

    def overview(self, run_id: str, buckets: int = DEFAULT_BUCKETS) -> Overview:
        """Every node's series reduced to at most `buckets` bucket maxima (views/overview.py)."""
        if not 1 <= buckets <= MAX_BUCKETS:
            raise invalid([Problem("buckets", f"must be between 1 and {MAX_BUCKETS}")])
        return overview(self._view(run_id), buckets)

    def state_window(self, run_id: str, start: int = 0, end: int | None = None) -> StateWindow:
        """Bins start..end inclusive; `end` defaults to the last bin, or to the last of the
        largest window (500 bins) from `start` in longer runs."""
        view = self._view(run_id)
        bins = view.grid.bins
        if end is None:
            end = min(bins - 1, start + MAX_WINDOW_BINS - 1)
        check_window(start, end, bins)
        count = end - start + 1
        if count > MAX_WINDOW_BINS:
            raise FlowTimeError(ErrorKind.TOO_LARGE, "window too large", [
                Problem("endBin", f"window of {count} bins exceeds the limit of "
                        f"{MAX_WINDOW_BINS}")])
        return state_window(view, start, end)

    def diff(self, run_id: str, against: str) -> RunDiff:
        """What the scenario `run_id` changed against `against` (MODELING §10): per node,
        Δ mean / Δ max / Σ Δ of queue, latency, served, overflow and utilization; the first
        bin whose colour or SLA status differs; when the queue is back on the baseline; the
        extra backlog."""
        scenario, base = self._view(run_id), self._view(against)  # unknown: 404 first
        if scenario.metadata.template_id != base.metadata.template_id:
            raise invalid([Problem("against", f"'{against}' runs template "
                                   f"'{base.metadata.template_id}', not "
                                   f"'{scenario.metadata.template_id}'")])
        grid_a, grid_b = scenario.grid, base.grid
        if (grid_a.bins, grid_a.bin_size, grid_a.bin_unit) != \
                (grid_b.bins, grid_b.bin_size, grid_b.bin_unit):
            raise invalid([Problem("against", "the runs have different grids")])
        record = self.get_run(run_id)
        after = max((Overlay.from_record(o).to_bin for o in record.overlays), default=0)
        base_nodes = {n.id: n for n in base.nodes}
        nodes = []
        for node in scenario.nodes:
            other = base_nodes.get(node.id)
            if other is None:
                continue
            mine, theirs = _diff_series(scenario, node), _diff_series(base, other)
            metrics = {name: scenarios.metric_delta(mine[name], theirs[name])
                       for name in scenarios.DIFF_METRICS if name in mine and name in theirs}
            flips = [scenarios.first_difference(
                colours(scenario, node), colours(base, other))]
            if node.sla_minutes:
                flips.append(scenarios.first_difference(
                    _sla_status(scenario, node), _sla_status(base, other)))
            flip = min((f for f in flips if f is not None), default=None)
            queue_s, queue_b = mine.get("queue"), theirs.get("queue")
            nodes.append(NodeDiff(
                node.id, metrics, flip,
                scenarios.recovery_bin(queue_s, queue_b, after)
                if queue_s is not None and queue_b is not None else None,
                float(np.maximum(np.nan_to_num(queue_s) - np.nan_to_num(queue_b), 0.0).sum())
                if queue_s is not None and queue_b is not None else None))
        return RunDiff(run_id, against, nodes)

    def sla_metrics(self, run_id: str, start: int = 0, end: int | None = None
                    ) -> SlaReport:
        """SLA attainment per node with an SLA over bins start..end (MODELING §10)."""
        view = self._view(run_id)
        bins = view.grid.bins
        end = bins - 1 if end is None else end
        check_window(start, end, bins)
        window = slice(start, end + 1)
        nodes = []
        for node in view.nodes:
            if not node.sla_minutes or node.sla_minutes <= 0:
                continue
            derived = view.derived(node)
            served, queue = node.metrics.get("served"), node.metrics.get("queue")
            latency = derived.latency_minutes
            nodes.append(scenarios.attainment(
                node.id, node.sla_minutes,
                None if served is None else served[window],
                None if queue is None else queue[window],
                None if latency is None else latency[window]))
        services = [
            scenarios.completion(node.id, node.metrics["arrivals"][window],
                                 node.metrics["served"][window])
            for node in view.nodes
            if kind_of(node.category).completion_counted
            and node.metrics.get("arrivals") is not None
            and node.metrics.get("served") is not None]
        return SlaReport(start, end, nodes, format_utc(view.grid.bin_start(start)),
                         view.grid.bin_minutes, services)

    def _view(self, run_id: str) -> RunView:
        # Runs are immutable, but an overwrite replaces one: key the cache by run.json's bytes.
        key = (run_id, self.store.read(run_id, RUN_JSON))
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
        record = describe_run(self.store, run_id)
        model = decode_model(self.store.read(run_id, MODEL_YAML), run_id)
        telemetry = decode(self.store.read(run_id, TELEMETRY_MANIFEST), TelemetryManifestJson,
                           TELEMETRY_MANIFEST, run_id)
        manifest = decode(self.store.read(run_id, MANIFEST_JSON), ManifestJson, MANIFEST_JSON,
                          run_id)
        start = parse_utc(model.window.start or model.grid.start or EPOCH) or parse_utc(EPOCH)
        assert start is not None
        grid = TimeGrid(model.grid.bins, model.grid.bin_size, model.grid.bin_unit, start)
        series = self.series(run_id)
        files_by_node: dict[str, list[str]] = {}
        for f in telemetry.files:
            files_by_node.setdefault(f.node_id, []).append(f.path)
        warnings = [_warning_record(w) for w in record.warnings]
        nodes = []
        plan = compiled_plan(model, run_id)
        for component in plan.components:
            metrics, member_ids = {}, set()
            for metric, node_id in component.metrics.items():
                values = series.values(node_id)
                if values is not None:
                    metrics[metric] = values
                    member_ids.add(node_id)
            timing = {name: values for name, node_id in component.timing.items()
                      if (values := series.values(node_id)) is not None}
            by_class = {class_id: found for class_id in plan.classes if (found := {
                metric: values for metric, node_id in component.metrics.items()
                if (values := series.values(class_series_name(node_id, class_id))) is not None
            })}
            explicit = {n.id for n in model.nodes if n.kind == "const"}
            bound = {node_id for node_id in member_ids if files_by_node.get(node_id)}
            origins = {metric: "telemetry" if node_id in bound else "derived"
                       if metric in component.derived else "explicit"
                       if node_id in explicit else "model"
                       for metric, node_id in [*component.metrics.items(),
                                               *component.timing.items()]
                       if metric in metrics or metric in timing}
            nodes.append(NodeView(
                id=component.id, kind=component.kind, sla_minutes=component.sla_minutes,
                origins=origins,
                metrics=metrics, timing=timing, aliases=component.aliases, classes=by_class,
                overflow=series.values(component.overflow) if component.overflow else None,
                kingman=series.values(component.kingman) if component.kingman else None,
                queue_like=component.queue_like, schedule=component.schedule,
                constants=component.constants,
                sources=sorted(p for n in member_ids for p in files_by_node.get(n, [])),
                warnings=[NodeWarning(code=w.code, message=w.message, severity=w.severity)
                          for w in warnings if w.node_id in member_ids],
            ))
        edges = [EdgeView(e.id, e.origin, e.destination, e.type, e.measure, e.multiplier, e.lag,
                          series.values(e.series) if e.series else None,
                          {c: v for c in plan.classes if e.series and (
                              v := series.values(class_series_name(e.series, c))) is not None})
                 for e in plan.edges]
        metadata = state_metadata(record, manifest, edge_quality(edges, list(plan.classes)))
        metadata = msgspec.structs.replace(metadata, class_coverage="missing")
        if plan.classes:
            names = {c.id: c.display_name for c in model.classes}
            metadata = msgspec.structs.replace(
                metadata, classes=[ClassInfo(id=c, display_name=names.get(c)) for c in plan.classes],
                class_coverage=class_coverage(sum(1 for n in nodes if n.classes),
                                              sum(1 for n in nodes if n.metrics)))
        by_edge: dict[str, list[StateWarning]] = {}
        for w in record.warnings:
            for edge_id in w.edge_ids or ():
                by_edge.setdefault(edge_id, []).append(_warning_record(w))
        return RunView(metadata, grid, nodes, warnings, constraint_views(plan, series), edges,
                       by_edge)

    def _scan(self, run_filter: RunFilter, page: int, size: int, sort: str) -> RunPage:
        """Listing without a catalog: every summary from the store, tags read per run."""
        everything = self.store.list_runs(replace(run_filter, tags={}), 1, 1 << 62)
        summaries = [replace(s, tags=read_tags(self.store, s.run_id)) for s in everything.items]
        return paginate(summaries, run_filter, page, size, sort)

    def compare(self, ids: list[str], with_values: bool = True,
                only: list[str] | None = None) -> Comparison:
        """Parameters and series of 2–5 runs side by side (domain/views/compare.py)."""
        given = distinct_ids(ids)
        if len(given) == 1:
            self.get_run(given[0])  # an unknown run is a 404 before "give two different ids"
        chosen = check_ids(ids)
        return compare([(self.get_run(i), self.series(i).by_node()) for i in chosen],
                       with_values, only)

    def export_cells(self, run_id: str, with_classes: bool = False) -> int:
        """How many values the run's wide table holds (read off its index, nothing loaded)."""
        index = self.series_index(run_id)
        totals = [e for e in index.series if e.class_ == DEFAULT_CLASS]
        labels = 1 + (len({e.class_ for e in index.series} - {DEFAULT_CLASS})
                      if with_classes else 0)
        return len(totals) * index.grid.bins * labels

    def export_table(self, run_id: str, with_classes: bool = False) -> WideTable:
        """Every series of the run as one wide table (domain/artifacts/export.py)."""
        record = self.get_run(run_id)
        reader = self.series(run_id)
        grid = reader.index.grid
        start = parse_utc(record.grid.start_time_utc or EPOCH) or parse_utc(EPOCH)
        assert start is not None
        values = reader.by_series_id()
        return wide_table(reader.index, TimeGrid(grid.bins, grid.bin_size, grid.bin_unit,
                                                 start), values, with_classes)

    def graph(self, run_id: str) -> Graph:
        """The run's topology as compiled: nodes with their kinds and metrics, edges."""
        model = decode_model(self.store.read(run_id, MODEL_YAML), run_id)
        plan = compiled_plan(model, run_id)
        ui = {t.id: t.ui for t in model.topology.nodes if t.ui}
        wire_names = {f.name: f.encode_name for f in msgspec.structs.fields(Semantics)}
        # the series each node states, as the reference's graph writes them (`series:<id>`)
        semantics = {t.id: {wire_names[f]: f"series:{v}" for f, v in t.semantics.all_series()}
                     for t in model.topology.nodes}
        return Graph(
            nodes=[GraphNode(id=c.id, kind=c.kind, category=c.category, metrics=list(c.metrics),
                             queue_like=c.queue_like, aliases=c.aliases or None,
                             analytical=analytical_facts(c.category, c.queue_like, c.metrics,
                                                         c.timing),
                             ui=ui.get(c.id), semantics=semantics.get(c.id) or None)
                   for c in plan.components],
            edges=[GraphEdge(id=e.id, from_=e.origin, to=e.destination, type=e.type,
                             weight=e.weight, measure=e.measure, edge_type=e.type,
                             field=e.measure or ("served" if e.type == "throughput" else None),
                             multiplier=e.multiplier, lag=e.lag)
                   for e in plan.edges] + overflow_edges(model),
        )


def overflow_edges(model: ModelDef) -> list[GraphEdge]:
    """A WIP limit's overflow into another node (`wipOverflow: Target`, MODELING §1.1) as an
    edge of type `overflow`, so a DLQ fed only by overflow is drawn connected."""
    ids = {t.id for t in model.topology.nodes}
    return [GraphEdge(id=f"{t.id}->{t.wip_overflow}:overflow", from_=t.id,
                      to=str(t.wip_overflow), type="overflow", weight=1.0, measure="overflow",
                      edge_type="overflow", field="overflow")
            for t in model.topology.nodes if t.wip_overflow in ids]


def compiled_plan(model: ModelDef, run_id: str) -> EvaluationPlan:
    """The run's model as compiled (which series are each node's queue, served, …)."""
    checked = validate_and_plan(model)
    if checked.plan is None:
        raise damaged(MODEL_YAML, "no longer validates ("
                      + "; ".join(str(p) for p in checked.problems[:3]) + ")", run_id)
    return checked.plan


def constraint_views(plan: EvaluationPlan, series: SeriesReader) -> list[ConstraintView]:
    """Shared constraints whose series the run wrote (outputs may leave some out)."""
    views = []
    for use in plan.constraints:
        capacity = series.values(use.capacity)
        demands = [series.values(demand) for _, demand, _ in use.members]
        admitted = {node: series.values(name) for node, _, name in use.members}
        if capacity is None or any(d is None for d in demands) or any(
                a is None for a in admitted.values()):
            continue
        demand = np.sum([np.where(np.isfinite(d), d, 0.0) for d in demands], axis=0)
        declared = {role: values for role, name in use.declared.items()
                    if (values := series.values(name)) is not None}
        views.append(ConstraintView(use.id, capacity, demand, admitted,  # type: ignore[arg-type]
                                    declared))
    return views


def _warning_record(warning: RunWarning) -> StateWarning:
    return StateWarning(code=warning.code, message=warning.message, severity=warning.severity,
                        node_id=warning.node_id)


def state_metadata(record: RunRecord, manifest: ManifestJson,
                   quality: str = "missing") -> StateMetadata:
    """The metadata block of /state and /state_window, in the reference's closed shape."""
    return StateMetadata(
        edge_quality=quality,
        run_id=record.run_id, template_id=record.template_id, mode=record.mode,
        schema=SchemaInfo(id=STATE_SCHEMA_ID, version=STATE_SCHEMA_VERSION,
                          hash=record.schema_hash),
        storage=StorageInfo(model_path=record.storage.model_path,
                            metadata_path=record.storage.metadata_path,
                            provenance_path=record.storage.provenance_path),
        template_title=record.template_title or None,
        template_version=record.template_version or None,
        provenance_hash=record.provenance_hash,
        telemetry_sources_resolved=record.telemetry_sources_resolved,
        rng=RngInfo(kind=manifest.rng.kind, seed=manifest.rng.seed),
    )

