"""Time-travel projections: one bin (`/state`) or a window of bins (`/state_window`).

Derived metrics per topology node:
- utilization = served / capacity (null when capacity is missing or ≤ 0);
- throughputRatio = served / arrivals (null when arrivals is missing or 0);
- latencyMinutes = queue / served × bin minutes, for nodes with a queue (null when
  served ≤ 0);
- colour: services by utilization (null gray, < 0.7 green, < 0.9 yellow, else red);
  queues by latency against the node's `slaMinutes` (gray when either is missing,
  ≤ SLA green, ≤ 1.5 × SLA yellow, else red).
NaN and infinities become null (msgspec writes NaN as null).

The results are typed records (msgspec Structs, snake_case here, camelCase on the wire)
in the reference's closed time-travel-state shape (`schemas/time-travel-state.schema.json`);
the HTTP handlers return them as they are, so the OpenAPI document describes these.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from flowtime.domain.compile import derived
from flowtime.domain.compile.derived import has_flow
from flowtime.domain.compile.flow import category
from flowtime.domain.compile.kinds import kind_of
from flowtime.domain.modeling.grid import TimeGrid, format_utc
from flowtime.domain.modeling.model import SEMANTIC_FIELDS
from flowtime.domain.modeling.names import (
    CYCLE_TIME_MS,
    EXHAUSTED_FAILURES,
    FLOW_EFFICIENCY,
    FLOW_METRICS,
    PROCESSING_TIME_MS_SUM,
    QUEUE_TIME_MS,
    RETRY_RATE,
    SERVED_COUNT,
    SERVICE_TIME_MS,
)
from flowtime.domain.views.flow_analysis import (
    Links,
    NodeFlow,
    analyse,
    node_flow,
    serves_work,
    terminal_nodes,
    throughput_links,
)

MAX_WINDOW_BINS = 500
METRIC_NAMES = {f: ("externalDemand" if f == "external_demand" else f) for f in SEMANTIC_FIELDS}


class Record(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True, frozen=True):
    pass


class SchemaInfo(Record):
    id: str
    version: str
    hash: str


class StorageInfo(Record):
    model_path: str
    metadata_path: str
    provenance_path: str


class RngInfo(Record):
    kind: str
    seed: int


class StateMetadata(Record):
    run_id: str
    template_id: str
    mode: str
    schema: SchemaInfo
    storage: StorageInfo
    # exact | approx | partialClass | missing: how completely edges carry flow (edge_quality)
    edge_quality: str
    template_title: str | None = None
    template_version: str | None = None
    provenance_hash: str | None = None
    telemetry_sources_resolved: bool | None = None
    rng: RngInfo | None = None
    classes: list[ClassInfo] | None = None  # declared classes (MODELING §2)
    # full | partial | missing: how many topology nodes with series carry class series
    class_coverage: str | None = None


class ClassInfo(Record):
    id: str
    display_name: str | None = None


def class_coverage(with_classes: int, with_series: int) -> str:
    return "missing" if with_classes == 0 else "full" if with_classes >= with_series \
        else "partial"


def edge_quality(edges: list[EdgeView], classes: list[str]) -> str:
    """`missing` without edges (or none carries flow), `approx` when only some carry flow,
    `partialClass` when all do but some lack per-class flow, else `exact`."""
    flowing = [e for e in edges if e.flow is not None]
    if not flowing:
        return "missing"
    if len(flowing) < len(edges):
        return "approx"
    if classes and any(set(e.classes) != set(classes) for e in flowing):
        return "partialClass"
    return "exact"


class StateWarning(Record):
    code: str
    message: str
    severity: str | None = None
    node_id: str | None = None
    start_bin: int | None = None  # the first and last bins it applies to, when it has bins
    end_bin: int | None = None


class NodeWarning(Record):
    code: str
    message: str
    severity: str | None = None


class NodeTelemetry(Record):
    sources: list[str]
    warnings: list[NodeWarning]


class DerivedState(Record):
    utilization: float | None
    latency_minutes: float | None
    throughput_ratio: float | None
    color: str
    # Present only where they apply (null there when undefined in the bin).
    service_time_ms: float | msgspec.UnsetType | None = msgspec.UNSET
    retry_tax: float | msgspec.UnsetType | None = msgspec.UNSET
    queue_time_ms: float | msgspec.UnsetType | None = msgspec.UNSET
    cycle_time_ms: float | msgspec.UnsetType | None = msgspec.UNSET
    flow_efficiency: float | msgspec.UnsetType | None = msgspec.UNSET
    flow_latency_ms: float | msgspec.UnsetType | None = msgspec.UNSET


class SlaValue(Record):
    """One SLA of a node at one bin (the reference's slaMetricDescriptor)."""

    kind: str  # completion | backlogAge | scheduleAdherence
    status: str  # ok | unavailable | noEvents
    threshold: float | None = None
    value: float | None = None


class SlaSeries(Record):
    kind: str
    status: str
    values: list[float | None]
    threshold: float | None = None


class Analytical(Record):
    """What analysis applies to a node (the reference's nodeAnalyticalFacts)."""

    identity: str
    has_queue_semantics: bool
    has_service_semantics: bool
    has_cycle_time_decomposition: bool
    stationarity_warning_applicable: bool


class ConstraintMetrics(Record):
    metrics: dict[str, float | None]
    series_metadata: dict[str, SeriesSemantics] | None = None


class ConstraintSeriesOut(Record):
    series: dict[str, list[float | None]]
    series_metadata: dict[str, SeriesSemantics] | None = None


class ClassTruth(Record):
    """Which classes a node's series carry: all of the model's (full), some (partial) or
    none (missing); flowtime has no fallback ("*") class."""

    coverage: str
    has_specific_classes: bool
    has_fallback_class: bool


class SeriesSemantics(Record):
    """Where a series comes from (telemetry | explicit: a constant given in the template |
    model: computed | derived: from other series) and how a bin aggregates it (sum: a count
    in the bin, avg: a rate or duration over it, unknown: a level such as a queue depth)."""

    aggregation: str
    origin: str


class NodeState(Record):
    id: str
    kind: str
    metrics: dict[str, float | None]  # arrivals, served, errors, queue, capacity, … (§4)
    derived: DerivedState
    telemetry: NodeTelemetry
    category: str | None = None
    analytical: Analytical | None = None
    aliases: dict[str, str] | None = None  # display names by metric (semantics.aliases)
    by_class: dict[str, ClassState] | None = None
    # the shared constraints the node uses (MODELING §1.3): allocation, demand, shortfall …
    constraints: dict[str, ConstraintMetrics] | None = None
    constraint_status: dict[str, bool] | None = None  # whether each was limiting
    sla: list[SlaValue] | None = None
    class_truth: ClassTruth | None = None
    series_metadata: dict[str, SeriesSemantics] | None = None


class ClassState(Record):
    """One class at one node in one bin (MODELING §2); null where undefined, absent where
    the node has no such series."""

    arrivals: float | msgspec.UnsetType | None = msgspec.UNSET
    served: float | msgspec.UnsetType | None = msgspec.UNSET
    errors: float | msgspec.UnsetType | None = msgspec.UNSET
    queue: float | msgspec.UnsetType | None = msgspec.UNSET
    capacity: float | msgspec.UnsetType | None = msgspec.UNSET
    queue_time_ms: float | msgspec.UnsetType | None = msgspec.UNSET
    service_time_ms: float | msgspec.UnsetType | None = msgspec.UNSET
    cycle_time_ms: float | msgspec.UnsetType | None = msgspec.UNSET
    flow_efficiency: float | msgspec.UnsetType | None = msgspec.UNSET


class BinInfo(Record):
    index: int
    start_utc: str
    end_utc: str
    duration_minutes: int


class EdgeSeries(Record):
    """An edge over a window, in the reference's edgeSeries shape."""

    id: str
    from_: str = msgspec.field(name="from")
    to: str
    series: dict[str, list[float | None]]
    edge_type: str | None = None
    field: str | None = None
    multiplier: float | None = None
    lag: int | None = None
    by_class: dict[str, dict[str, list[float | None]]] | None = None


class GraphNode(Record):
    id: str
    kind: str
    category: str
    metrics: list[str]  # which metrics (series roles) the node has
    queue_like: bool
    aliases: dict[str, str] | None = None
    analytical: Analytical | None = None
    ui: dict[str, Any] | None = None
    semantics: dict[str, str] | None = None  # the series it states: {"arrivals": "series:x"}


class GraphEdge(Record):
    id: str
    from_: str = msgspec.field(name="from")
    to: str
    type: str
    weight: float
    measure: str | None = None
    # the reference's names for the same facts
    edge_type: str | None = None
    field: str | None = None
    multiplier: float | None = None
    lag: int | None = None


class Graph(Record):
    """GET /v1/runs/{runId}/graph: enough to draw the topology without parsing the model."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]


class StateSnapshot(Record):
    metadata: StateMetadata
    bin: BinInfo
    nodes: list[NodeState]
    warnings: list[StateWarning]
    edges: list[EdgeSeries] | msgspec.UnsetType = msgspec.UNSET  # one-bin series
    edge_warnings: dict[str, list[StateWarning]] | msgspec.UnsetType = msgspec.UNSET


class WindowSlice(Record):
    start_bin: int
    end_bin: int
    bin_count: int


class NodeSeries(Record):
    id: str
    kind: str
    # Each series is a JSON array already encoded (see RunView.full_lists): a window is a
    # join of whole-run value tokens, so a request does no float formatting.
    series: dict[str, msgspec.Raw]  # documented as arrays: adapters/http/wire_docs.py
    telemetry: NodeTelemetry
    category: str | None = None
    analytical: Analytical | None = None
    aliases: dict[str, str] | None = None
    by_class: dict[str, dict[str, list[float | None]]] | None = None
    constraints: dict[str, ConstraintSeriesOut] | None = None
    constraint_status: dict[str, list[float | None]] | None = None  # 1 where limiting
    sla: list[SlaSeries] | None = None
    class_truth: ClassTruth | None = None
    series_metadata: dict[str, SeriesSemantics] | None = None


class StateWindow(Record):
    metadata: StateMetadata
    window: WindowSlice
    timestamps_utc: list[str]
    nodes: list[NodeSeries]
    warnings: list[StateWarning]
    edges: list[EdgeSeries] | msgspec.UnsetType = msgspec.UNSET
    edge_warnings: dict[str, list[StateWarning]] | msgspec.UnsetType = msgspec.UNSET


@dataclass(frozen=True, slots=True)
class NodeView:
    id: str
    kind: str
    sla_minutes: float | None
    metrics: dict[str, np.ndarray]  # camelCase metric -> series (only those present)
    sources: list[str] = field(default_factory=list)
    warnings: list[NodeWarning] = field(default_factory=list)
    timing: dict[str, np.ndarray] = field(default_factory=dict)  # processingTimeMsSum, servedCount
    aliases: dict[str, str] = field(default_factory=dict)
    classes: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # class -> metrics
    overflow: np.ndarray | None = None  # WIP-limit overflow, when the node has a limit
    kingman: np.ndarray | None = None  # the bundle's Kingman wait series, when it has one
    queue_like: bool = False
    origins: dict[str, str] = field(default_factory=dict)  # metric -> telemetry | explicit | model
    schedule: tuple[int, int] | None = None  # dispatch schedule (periodBins, phase)
    constants: dict[str, float] = field(default_factory=dict)  # maxAttempts: 4, …

    @property
    def category(self) -> str:
        return category(self.kind)

    def wire_category(self) -> str:
        """The reference's node category (a `serviceWithBuffer` is a service with a queue)."""
        return kind_of(self.category).wire_category

    def analytical(self) -> Analytical:
        return analytical_facts(self.category, self.queue_like, self.metrics, self.timing)


def analytical_facts(category: str, queue_like: bool, metrics: Collection[str],
                     timing: Collection[str]) -> Analytical:
    """What a node's kind and series say it is: from the names of its metrics and timing
    series alone (the graph asks this of a compiled plan, /state of a run's view)."""
    queue = queue_like or "queue" in metrics
    timed = "processingTimeMsSum" in timing and "servedCount" in timing
    return Analytical(
        identity=kind_of(category).identity,
        has_queue_semantics=queue,
        has_service_semantics=kind_of(category).service_semantics,
        has_cycle_time_decomposition=queue and "served" in metrics and timed,
        stationarity_warning_applicable="arrivals" in metrics)


@dataclass(frozen=True, slots=True)
class ConstraintView:
    id: str
    capacity: np.ndarray
    demand: np.ndarray  # Σ of the sharing nodes' arrivals (NaN and ±inf as 0)
    admitted: dict[str, np.ndarray]  # topology node id -> admitted arrivals
    declared: dict[str, np.ndarray] = field(default_factory=dict)  # its own arrivals, errors

    @property
    def limiting(self) -> np.ndarray:
        capacity = np.where(np.isfinite(self.capacity), self.capacity, 0.0)
        return (self.demand > np.maximum(capacity, 0.0)) & (self.demand > 0)


@dataclass(frozen=True, slots=True)
class EdgeView:
    id: str
    origin: str
    destination: str
    type: str
    measure: str | None
    multiplier: float
    lag: int
    flow: np.ndarray | None
    classes: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunView:
    """Everything the projections need, loaded once per (immutable) run."""

    metadata: StateMetadata
    grid: TimeGrid
    nodes: list[NodeView]
    warnings: list[StateWarning]
    constraints: list[ConstraintView] = field(default_factory=list)
    edges: list[EdgeView] = field(default_factory=list)
    edge_warnings: dict[str, list[StateWarning]] = field(default_factory=dict)
    # Whole-run series as plain lists, built on the first window request and sliced after.
    _lists: dict[str, Any] = field(default_factory=dict)
    _derived: dict[str, DerivedSeries] = field(default_factory=dict)
    _window: dict[str, WindowInputs] = field(default_factory=dict)
    _by_class: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)
    _sla: dict[str, list[tuple[str, float | None, np.ndarray, np.ndarray]]] = field(
        default_factory=dict)
    _flows: list[Any] = field(default_factory=list)
    _window_warnings: dict[tuple[int, int], list[Any]] = field(default_factory=dict)
    _flow_latency: list[dict[str, np.ndarray]] = field(default_factory=list)

    def warnings_between(self, start: int, end: int) -> list[StateWarning]:
        """`window_warnings` for bins start..end, kept for the last few windows asked for
        (a viewer asks for the same window again as it redraws; the run never changes)."""
        key = (start, end)
        found = self._window_warnings.get(key)
        if found is None:
            found = window_warnings(self, start, end)
            if len(self._window_warnings) >= 64:
                with contextlib.suppress(RuntimeError, StopIteration):  # a racing thread
                    self._window_warnings.pop(next(iter(self._window_warnings)), None)
            self._window_warnings[key] = found
        return found

    def flows(self) -> tuple[list[NodeFlow], Links]:
        """The flow-analysis view of the nodes and their throughput links, built once."""
        if not self._flows:  # from the series cleaned once (NaN/±inf as 0): analyse(cleaned)
            terminal = terminal_nodes(self.edges)
            nodes = [node_flow(n.id, self.window_inputs(n).clean,
                               None if n.overflow is None
                               else np.where(np.isfinite(n.overflow), n.overflow, 0.0),
                               serves_work(n.category, n.id, terminal))
                     for n in self.nodes]
            self._flows.extend([nodes, throughput_links(self.edges)])
        return self._flows[0], self._flows[1]

    def by_class(self, node: NodeView) -> dict[str, dict[str, np.ndarray]]:
        """Per class: the node's class metrics and the derived times, over every bin."""
        if node.id not in self._by_class:
            self._by_class[node.id] = {
                class_id: class_metrics(metrics, self.derived(node).service_time_ms,
                                        self.grid.bin_minutes * 60_000.0)
                for class_id, metrics in node.classes.items()}
        return self._by_class[node.id]

    def sla(self, node: NodeView) -> list[tuple[str, float | None, np.ndarray, np.ndarray]]:
        """The node's SLA descriptors over every bin (`sla_series`), computed once per run."""
        if node.id not in self._sla:
            self._sla[node.id] = sla_series(node, self.derived(node))
        return self._sla[node.id]

    def derived(self, node: NodeView) -> DerivedSeries:
        """The node's derived series (flowLatencyMs included), computed once per run."""
        if node.id not in self._derived:
            self.flow_latencies()  # derives every node of the run once, on the way
        return self._derived[node.id]

    def flow_latencies(self) -> dict[str, np.ndarray]:
        """MODELING §4 `flowLatencyMs`: a node's cycle time plus the flow-weighted mean of
        its predecessors' flowLatencyMs over throughput and effort edges, in topological
        order (nodes on a cycle see what their predecessors have so far); null where
        served ≤ 0, or for a sink where arrivals ≤ 0."""
        if self._flow_latency:
            return self._flow_latency[0]
        bins = self.grid.bins
        inbound: dict[str, list[EdgeView]] = {}
        for e in self.edges:
            if e.type in ("throughput", "effort") and e.flow is not None \
                    and e.origin != e.destination:
                inbound.setdefault(e.destination, []).append(e)
        found: dict[str, np.ndarray] = {}
        bases: dict[str, DerivedSeries] = {}
        for node in _topological(self.nodes, inbound):
            bases[node.id] = derived_series(node, self.grid.bin_minutes)
            cycle = bases[node.id].cycle_time_ms
            own = cycle if cycle is not None else np.full(bins, np.nan)
            total = np.zeros(bins)
            weighted = np.zeros(bins)
            for e in inbound.get(node.id, []):
                upstream = found.get(e.origin)
                if upstream is None or e.flow is None:
                    continue
                weight = np.where(np.isfinite(e.flow) & (e.flow > 0), e.flow, 0.0)
                usable = np.isfinite(upstream) & (weight > 0)
                total += np.where(usable, weight, 0.0)
                weighted += np.where(usable, weight * np.nan_to_num(upstream), 0.0)
            upstream_mean = np.full(bins, np.nan)
            np.divide(weighted, total, out=upstream_mean, where=total > 0)
            value = np.where(np.isfinite(own) & np.isfinite(upstream_mean), own + upstream_mean,
                             np.where(np.isfinite(own), own, upstream_mean))
            gate = node.metrics.get("arrivals" if kind_of(node.category).served_from_arrivals
                                    else "served")
            if gate is not None:
                value = np.where(np.nan_to_num(gate) > 0, value, np.nan)
            found[node.id] = value
        for node_id, base in bases.items():
            self._derived.setdefault(
                node_id, dataclasses.replace(base, flow_latency_ms=found[node_id]))
        self._flow_latency.append(found)
        return found

    def window_inputs(self, node: NodeView) -> WindowInputs:
        if node.id not in self._window:
            clean = {k: np.where(np.isfinite(v), v, 0.0) for k, v in node.metrics.items()}
            queue = clean.get("queue")
            latency = self.derived(node).latency_minutes
            late = None
            if latency is not None and _positive(node.sla_minutes):
                late = np.nan_to_num(latency, nan=0.0) > node.sla_minutes
            self._window[node.id] = WindowInputs(
                clean=clean, queue_rises=None if queue is None else rise_runs(queue), late=late)
        return self._window[node.id]

    def full_lists(self) -> dict[str, Any]:
        if not self._lists:
            nodes = []
            for node in self.nodes:
                derived = self.derived(node)
                series = {name: _tokens(s) for name, s in node.metrics.items()}
                # the inputs of the service time, echoed as the reference's window does
                series.update({name: _tokens(v) for name, v in node.timing.items()})
                series.update({name: _tokens(v) for name, v in derived.named() if v is not None})
                nodes.append(series)
            stamps = [format_utc(self.grid.bin_start(i)) for i in range(self.grid.bins)]
            self._lists.update(nodes=nodes, timestamps=stamps)
        return self._lists

    def raw_series(self, start: int, end: int) -> list[dict[str, msgspec.Raw]]:
        """Per node, each series of bins start..end as ready JSON; the whole run's is
        kept (the window clients ask for most), other windows are one slice of its text."""
        whole = start == 0 and end == self.grid.bins - 1
        if whole and "raw" in self._lists:
            return self._lists["raw"]  # type: ignore[no-any-return]
        if end < start:
            joined = [{name: msgspec.Raw(b"[]") for name in series}
                      for series in self.full_lists()["nodes"]]
        else:
            joined = [{name: msgspec.Raw(b"[" + text[starts[start]:ends[end]] + b"]")
                       for name, (text, starts, ends) in series.items()}
                      for series in self.full_lists()["nodes"]]
        if whole:
            self._lists["raw"] = joined
        return joined


# MODELING §4: numbers in /state and /state_window are null when not finite, 0 when
# |v| < 1e-9, else rounded to 6 decimals.
DECIMALS = 6
ZERO_BELOW = 1e-9


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return 0.0 if abs(value) < ZERO_BELOW else round(float(value), DECIMALS)


def state_numbers(series: np.ndarray) -> list[float | None]:
    """A series as /state_window writes numbers (`_list`: rounded in numpy, not value by
    value), null where not finite, ready for any JSON encoder."""
    values: list[float | None] = _list(series)  # type: ignore[assignment]
    for i in np.flatnonzero(~np.isfinite(series)).tolist():
        values[i] = None
    return values


@dataclass(frozen=True, slots=True)
class DerivedSeries:
    """Derived metrics of one node over every bin (NaN where undefined); None: not
    applicable to the node."""

    utilization: np.ndarray | None
    latency_minutes: np.ndarray | None
    throughput_ratio: np.ndarray | None
    service_time_ms: np.ndarray | None = None
    retry_tax: np.ndarray | None = None
    kingman_wait_ms: np.ndarray | None = None
    queue_time_ms: np.ndarray | None = None
    cycle_time_ms: np.ndarray | None = None
    flow_efficiency: np.ndarray | None = None
    flow_latency_ms: np.ndarray | None = None

    def named(self) -> list[tuple[str, np.ndarray | None]]:
        """(series name in /state_window, values)."""
        return [("utilization", self.utilization), ("latencyMinutes", self.latency_minutes),
                ("throughputRatio", self.throughput_ratio), ("serviceTimeMs", self.service_time_ms),
                ("retryTax", self.retry_tax), ("queueTimeMs", self.queue_time_ms),
                ("cycleTimeMs", self.cycle_time_ms), ("flowEfficiency", self.flow_efficiency),
                ("flowLatencyMs", self.flow_latency_ms), ("kingmanWaitMs", self.kingman_wait_ms)]


def derived_series(node: NodeView, bin_minutes: int) -> DerivedSeries:
    """The node's derived metrics by their one definition (derived.py), NaN where undefined."""
    m = node.metrics
    served = m.get("served")
    queue_time = derived.queue_time_ms(m.get("queue"), served, bin_minutes * derived.MS_PER_MINUTE)
    latency = derived.latency_minutes(queue_time)
    service_time = derived.service_time_ms(node.timing.get(PROCESSING_TIME_MS_SUM),
                                           node.timing.get(SERVED_COUNT))
    cycle = derived.cycle_time_ms(queue_time, service_time)
    attempts = m.get("attempts")
    if attempts is None and served is not None and m.get("failures") is not None:
        attempts = served + m["failures"]  # MODELING §1.5: attempts default to served + failures
    utilization = derived.utilization(served, m.get("capacity"))
    kingman = None
    if node.kingman is not None and utilization is not None:
        # the bundle's series (one definition, derived.kingman_expr); null where ρ ∉ (0, 1)
        kingman = np.where((utilization > 0) & (utilization < 1), node.kingman, np.nan)
    return DerivedSeries(
        utilization=utilization,
        latency_minutes=latency,
        throughput_ratio=derived.throughput_ratio(served, m.get("arrivals")),
        service_time_ms=service_time,
        retry_tax=derived.retry_tax(attempts, served),
        kingman_wait_ms=kingman,
        queue_time_ms=queue_time,
        cycle_time_ms=cycle,
        flow_efficiency=derived.flow_efficiency(service_time, cycle),
    )


CLASS_METRICS = FLOW_METRICS[:5]  # a class has no external demand of its own


def class_metrics(metrics: dict[str, np.ndarray], service_time: np.ndarray | None,
                  bin_ms: float) -> dict[str, np.ndarray]:
    """A class's metrics plus queueTimeMs = queue / served × bin ms (NaN where served ≤ 0),
    serviceTimeMs (the node's: classes share a service time unless timing is per class),
    cycleTimeMs = queue + service time (either alone), flowEfficiency = service / cycle."""
    out = {k: metrics[k] for k in CLASS_METRICS if k in metrics}
    queue_time = derived.queue_time_ms(metrics.get("queue"), metrics.get("served"), bin_ms)
    if queue_time is not None:
        out[QUEUE_TIME_MS] = queue_time
    if service_time is not None:
        out[SERVICE_TIME_MS] = service_time
    cycle = derived.cycle_time_ms(queue_time, service_time)
    if cycle is not None:
        out[CYCLE_TIME_MS] = cycle
        efficiency = derived.flow_efficiency(service_time, cycle)
        if efficiency is not None:
            out[FLOW_EFFICIENCY] = efficiency
    return out


def colour(node: NodeView, utilization: float | None, latency: float | None) -> str:
    """MODELING §4 (turn 3): a `dlq` is `dlq`; a queue-like node (`queue`,
    `serviceWithBuffer`) with an SLA > 0 by its latency against the SLA; a `queue` without
    one is gray; everything else (a `serviceWithBuffer` without an SLA included) by
    utilization."""
    kind = kind_of(node.category)
    if kind.fixed_colour is not None:
        return kind.fixed_colour
    if kind.colour_by_sla and _positive(node.sla_minutes):
        if latency is None:
            return "gray"
        ratio = latency / node.sla_minutes
        return "green" if ratio <= 1.0 else "yellow" if ratio <= 1.5 else "red"
    if kind.gray_without_sla:
        return "gray"
    if utilization is None:
        return "gray"
    return "green" if utilization < 0.7 else "yellow" if utilization < 0.9 else "red"


def colours(view: RunView, node: NodeView) -> list[str]:
    """`colour` of every bin, from the values /state shows (rounded as `state_at` rounds)."""
    derived = view.derived(node)
    return [colour(node, _at(derived.utilization, i), _at(derived.latency_minutes, i))
            for i in range(view.grid.bins)]


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _at(series: np.ndarray | None, index: int) -> float | None:
    return None if series is None else _finite(float(series[index]))


def _applies(series: np.ndarray | None, index: int) -> float | msgspec.UnsetType | None:
    return msgspec.UNSET if series is None else _finite(float(series[index]))


def _tokens(series: np.ndarray) -> tuple[bytes, list[int], list[int]]:
    """The series as JSON text (NaN and ±inf as null) with where each value starts and
    ends in it, so bins i..j are the one slice text[starts[i]:ends[j]]."""
    encoded = msgspec.json.encode(_list(series))
    commas = np.flatnonzero(np.frombuffer(encoded, dtype=np.uint8) == ord(",")).tolist()
    return encoded, [1, *(c + 1 for c in commas)], [*commas, len(encoded) - 1]


def _list(series: np.ndarray) -> list[float]:
    """Plain floats as in `_finite`; NaN and infinities become NaN, which the JSON encoders
    write as null."""
    finite = np.isfinite(series)
    rounded = np.where(np.abs(series) < ZERO_BELOW, 0.0, np.round(series, DECIMALS))
    return np.where(finite, rounded, np.nan).tolist()


_SNAKE = {"queueTimeMs": "queue_time_ms", "serviceTimeMs": "service_time_ms",
          "cycleTimeMs": "cycle_time_ms", "flowEfficiency": "flow_efficiency"}


def _snake(metric: str) -> str:
    return _SNAKE.get(metric, metric)


# how a bin aggregates each series (SeriesSemantics): counts add up, rates and durations
# average, levels (queue depth, a WIP limit) are neither
SUMMED = {"arrivals", "served", "errors", "attempts", "failures", "exhaustedFailures",
          "retryEcho", "externalDemand", "capacity", "overflow", "processingTimeMsSum",
          "servedCount"}
LEVELS = {"queue", "wipLimit"}
# ratios of two sums: neither their sum nor their mean over bins is the window's ratio
RATIOS = {"utilization", "throughputRatio"}


def series_metadata(node: NodeView, names: Collection[str]) -> dict[str, SeriesSemantics] | None:
    """Origin and aggregation of each of a node's series named in its /state or window."""
    found = {}
    for name in names:
        origin = node.origins.get(name, "derived")
        aggregation = "sum" if name in SUMMED else "unknown" if name in LEVELS | RATIOS \
            else "avg"
        found[name] = SeriesSemantics(aggregation=aggregation, origin=origin)
    return found or None


def class_truth(node: NodeView, classes: Collection[str]) -> ClassTruth | None:
    """Coverage of the model's classes by the node's class series (None without classes)."""
    if not classes:
        return None
    have = set(node.classes) & set(classes)
    coverage = "full" if have == set(classes) else "partial" if have else "missing"
    return ClassTruth(coverage=coverage, has_specific_classes=bool(have),
                      has_fallback_class=False)


def _telemetry(node: NodeView) -> NodeTelemetry:
    return NodeTelemetry(sources=node.sources, warnings=node.warnings)


def state_at(view: RunView, index: int) -> StateSnapshot:
    grid = view.grid
    nodes = []
    classes = [c.id for c in view.metadata.classes or []]
    uses = _constraint_uses(view)
    for node in view.nodes:
        derived = view.derived(node)
        utilization = _at(derived.utilization, index)
        latency = _at(derived.latency_minutes, index)
        mine = uses.get(node.id, [])
        derived_names = [name for name, series in (
            ("utilization", derived.utilization), ("latencyMinutes", derived.latency_minutes),
            ("throughputRatio", derived.throughput_ratio),
            ("serviceTimeMs", derived.service_time_ms), ("retryTax", derived.retry_tax),
            ("queueTimeMs", derived.queue_time_ms), ("cycleTimeMs", derived.cycle_time_ms),
            ("flowEfficiency", derived.flow_efficiency),
            ("flowLatencyMs", derived.flow_latency_ms)) if series is not None]
        nodes.append(NodeState(
            id=node.id, kind=node.kind,
            metrics={**{name: _at(s, index) for name, s in node.metrics.items()},
                     **node.constants},
            derived=DerivedState(
                utilization=utilization, latency_minutes=latency,
                throughput_ratio=_at(derived.throughput_ratio, index),
                color=colour(node, utilization, latency),
                service_time_ms=_applies(derived.service_time_ms, index),
                retry_tax=_applies(derived.retry_tax, index),
                queue_time_ms=_applies(derived.queue_time_ms, index),
                cycle_time_ms=_applies(derived.cycle_time_ms, index),
                flow_efficiency=_applies(derived.flow_efficiency, index),
                flow_latency_ms=_applies(derived.flow_latency_ms, index)),
            telemetry=_telemetry(node), category=node.wire_category(),
            analytical=node.analytical(), aliases=node.aliases or None,
            by_class={class_id: ClassState(**{_snake(k): _at(v, index) for k, v in m.items()})
                      for class_id, m in view.by_class(node).items()} or None,
            constraints={c.id: ConstraintMetrics(
                metrics={name: _at(values, index) for name, values in found},
                series_metadata=constraint_metadata([name for name, _ in found]))
                for c in mine if (found := _constraint_series(c, node.id))} or None,
            constraint_status={c.id: bool(c.limiting[index]) for c in mine} or None,
            sla=[SlaValue(kind=kind, status=str(status[index]), threshold=threshold,
                          value=_at(values, index))
                 for kind, threshold, values, status in view.sla(node)] or None,
            class_truth=class_truth(node, classes),
            series_metadata=series_metadata(node, [*node.metrics, *derived_names]),
        ))
    return StateSnapshot(
        metadata=view.metadata,
        bin=BinInfo(index=index, start_utc=format_utc(grid.bin_start(index)),
                    end_utc=format_utc(grid.bin_end(index)), duration_minutes=grid.bin_minutes),
        nodes=nodes, warnings=view.warnings,
        edges=[_edge_series(view, e, index, index) for e in view.edges
               if e.flow is not None] or msgspec.UNSET,
        edge_warnings=view.edge_warnings or msgspec.UNSET,
    )


def sla_series(node: NodeView, derived: DerivedSeries
               ) -> list[tuple[str, float | None, np.ndarray, np.ndarray]]:
    """The node's SLA descriptors over every bin: (kind, threshold, values, status per bin
    as an array of ok | unavailable | noEvents).
    `completion` = served / arrivals (no events where nothing arrived); `backlogAge` = the
    latency in minutes against slaMinutes (no events where nothing was served or queued,
    unavailable where work waits and nothing is served); `scheduleAdherence` for a node
    with a dispatch schedule (`schedule_adherence`)."""
    found = []
    arrivals, served = node.metrics.get("arrivals"), node.metrics.get("served")
    if derived.throughput_ratio is not None and arrivals is not None:
        ratio = derived.throughput_ratio
        status = np.where(np.isfinite(ratio), "ok",
                          np.where(np.nan_to_num(arrivals) > 0, "unavailable", "noEvents"))
        found.append(("completion", None, ratio, status))
    latency = derived.latency_minutes
    if latency is not None and _positive(node.sla_minutes):
        flow = has_flow(served, node.metrics.get("queue"), len(latency))
        status = np.where(np.isfinite(latency), "ok",
                          np.where(flow, "unavailable", "noEvents"))
        found.append(("backlogAge", node.sla_minutes, latency, status))
    if node.schedule is not None:
        found.append(("scheduleAdherence", None, *schedule_adherence(node)))
    return found


def schedule_adherence(node: NodeView) -> tuple[np.ndarray, np.ndarray]:
    """Per bin, whether the node kept its dispatch schedule (MODELING §4 as flowtime reads
    it; the reference names the descriptor without defining it): on a dispatch bin where
    work was waiting (queue carried in + arrivals > 0) 1 when it dispatched (served > 0),
    0 when it did not; off the schedule 0 when it dispatched anyway; otherwise no event.
    Without a served series every bin is unavailable."""
    assert node.schedule is not None
    period, phase = node.schedule
    served = node.metrics.get("served")
    bins = next(iter(node.metrics.values())).shape[0] if node.metrics else 0
    if served is None:
        return np.full(bins, np.nan), np.full(bins, "unavailable")
    t = np.arange(bins)
    on = (t >= phase) & ((t - phase) % period == 0)
    arrivals = np.nan_to_num(node.metrics.get("arrivals", np.zeros(bins)))
    queue = node.metrics.get("queue")
    carried = np.concatenate([[0.0], np.nan_to_num(queue[:-1])]) if queue is not None \
        else np.zeros(bins)
    dispatched = np.nan_to_num(served) > 0
    waiting = (carried + arrivals > 0) | dispatched
    values = np.where(on & waiting, dispatched.astype(float),
                      np.where(~on & dispatched, 0.0, np.nan))
    return values, np.where(np.isfinite(values), "ok", "noEvents")


def window_status(statuses: np.ndarray) -> str:
    """A window's status: ok when any bin is, else unavailable when any bin is."""
    return "ok" if (statuses == "ok").any() else "unavailable" \
        if (statuses == "unavailable").any() else "noEvents"


def _topological(nodes: list[NodeView], inbound: dict[str, list[EdgeView]]) -> list[NodeView]:
    """Nodes in an order where predecessors come first; those on a cycle last, as listed."""
    by_id = {n.id: n for n in nodes}
    waiting = {n.id: {e.origin for e in inbound.get(n.id, []) if e.origin in by_id}
               for n in nodes}
    successors: dict[str, list[str]] = {}  # in the nodes' order, as ready is filled
    for n in nodes:
        for origin in waiting[n.id]:
            successors.setdefault(origin, []).append(n.id)
    ordered: list[NodeView] = []
    ready = collections.deque(n.id for n in nodes if not waiting[n.id])
    done: set[str] = set()
    while ready:
        current = ready.popleft()
        if current in done:
            continue
        done.add(current)
        ordered.append(by_id[current])
        for n_id in successors.get(current, []):
            if n_id not in done and current in waiting[n_id]:
                waiting[n_id].discard(current)
                if not waiting[n_id]:
                    ready.append(n_id)
    ordered.extend(n for n in nodes if n.id not in done)
    return ordered


def _constraint_uses(view: RunView) -> dict[str, list[ConstraintView]]:
    uses: dict[str, list[ConstraintView]] = {}
    for c in view.constraints:
        for node_id in c.admitted:
            uses.setdefault(node_id, []).append(c)
    return uses


def _constraint_series(c: ConstraintView, node_id: str) -> list[tuple[str, np.ndarray]]:
    """What a node sees of a shared constraint: its capacity, the total demand on it, the
    node's own allocation, and the shortfall (demand the capacity could not admit). A
    constraint that states its own arrivals (the reference's resource series) also shows
    them as `arrivals`/`served`/`errors`, and its shortfall is measured against them."""
    capacity = np.maximum(np.where(np.isfinite(c.capacity), c.capacity, 0.0), 0.0)
    own = c.declared.get("arrivals")
    wanted = c.demand if own is None else np.where(np.isfinite(own), own, 0.0)
    found = [("capacity", c.capacity), ("demand", c.demand), ("allocation", c.admitted[node_id])]
    if own is not None:
        found += [("arrivals", own), ("served", c.capacity)]
        if (errors := c.declared.get("errors")) is not None:
            found.append(("errors", errors))
    return [*found, ("shortfall", np.maximum(wanted - capacity, 0.0))]


# how each constraint series came to be (the reference's seriesMetadata of a constraint)
CONSTRAINT_ORIGINS = {"arrivals": "explicit", "served": "explicit", "errors": "explicit",
                      "capacity": "explicit"}


def constraint_metadata(names: Collection[str]) -> dict[str, SeriesSemantics]:
    return {name: SeriesSemantics(aggregation="sum",
                                  origin=CONSTRAINT_ORIGINS.get(name, "derived"))
            for name in names}


EDGE_VOLUMES = {"attempts": "attemptsVolume", "load": "attemptsVolume",
                "failures": "failuresVolume", "errors": "failuresVolume"}


def _shifted(values: np.ndarray, lag: int, start: int, end: int) -> list[float | None]:
    """Bins start..end of `values` delayed by `lag` bins (null before the first)."""
    out: list[float | None] = []
    for i in range(start, end + 1):
        j = i - lag
        out.append(_finite(float(values[j])) if 0 <= j < len(values) else None)
    return out


def _edge_series(view: RunView, e: EdgeView, start: int, end: int) -> EdgeSeries:
    """An edge over bins start..end in the reference's edgeSeries shape: its volume (named
    by what it measures) with the edge's lag applied, and for retry edges the source's
    retry rate (failures / attempts) at the lagged bin."""
    assert e.flow is not None
    name = EDGE_VOLUMES.get((e.measure or "").lower(), "flowVolume")
    series = {name: _shifted(e.flow, e.lag, start, end)}
    if name != "flowVolume":
        source = next((n for n in view.nodes if n.id == e.origin), None)
        if source is not None:
            attempts = source.metrics.get("attempts")
            failures = source.metrics.get("failures", source.metrics.get("errors"))
            # the source's other loads ride along, as the reference's effort edges carry
            # them: its series × the edge's multiplier, lagged (the edge's own measure is
            # its flow above, weight share included)
            for key, values in (("attemptsVolume", attempts), ("failuresVolume", failures),
                                ("exhaustedFailuresVolume",
                                 source.metrics.get(EXHAUSTED_FAILURES))):
                if key != name and values is not None:
                    series[key] = _shifted(values * e.multiplier, e.lag, start, end)
            if attempts is None and failures is not None and "served" in source.metrics:
                attempts = source.metrics["served"] + failures
            rate = derived.ratio(failures, attempts)
            if rate is not None:
                series[RETRY_RATE] = _shifted(rate, e.lag, start, end)
    return EdgeSeries(id=e.id, from_=e.origin, to=e.destination, series=series,
                      edge_type=e.type, field=e.measure, multiplier=e.multiplier, lag=e.lag,
                      by_class={c: {name: _shifted(v, e.lag, start, end)}
                                for c, v in e.classes.items()} or None)


def rise_runs(values: np.ndarray) -> np.ndarray:
    """For each bin, how many bins in a row the values rose up to it (0 where they did not)."""
    index = np.arange(len(values))
    if len(values) == 0:
        return index
    rose = np.concatenate(([False], np.diff(values) > 0))
    last_reset = np.maximum.accumulate(np.where(rose, 0, index))
    return index - last_reset


def longest_rise(runs: np.ndarray, start: int, end: int) -> int:
    """Bins in the longest run of strictly increasing values inside bins start..end, from
    `rise_runs` of the whole series (a run may not reach back before `start`)."""
    if end < start:
        return 0
    window = runs[start:end + 1]
    return int(np.minimum(window, np.arange(len(window))).max()) + 1


def rise_end(runs: np.ndarray, start: int, end: int) -> int:
    """The last bin of the (first) longest rise inside start..end (see `longest_rise`)."""
    window = runs[start:end + 1]
    return start + int(np.argmax(np.minimum(window, np.arange(len(window)))))


@dataclass(frozen=True, slots=True)
class WindowInputs:
    """Per-node inputs of the window warnings, computed once per loaded run."""

    clean: dict[str, np.ndarray]  # metrics with NaN and ±inf as 0
    queue_rises: np.ndarray | None
    late: np.ndarray | None  # latency above the SLA, per bin


def window_warnings(view: RunView, start: int, end: int) -> list[StateWarning]:
    """MODELING §5 window warnings, for windows of at least 3 bins: a queue that keeps
    growing, demand above capacity, latency above the SLA, arrivals whose two halves
    differ by more than 25 %, and the bottleneck, starved and blocked nodes
    (`flow_analysis`)."""
    if end - start + 1 < 3:
        return []
    window = slice(start, end + 1)
    found: list[StateWarning] = []
    for node in view.nodes:
        inputs = view.window_inputs(node)
        arrivals, capacity = inputs.clean.get("arrivals"), inputs.clean.get("capacity")
        if arrivals is not None:
            arrivals = arrivals[window]
        if capacity is not None:
            capacity = capacity[window]
        if inputs.queue_rises is not None and (
                streak := longest_rise(inputs.queue_rises, start, end)) >= 3:
            last = rise_end(inputs.queue_rises, start, end)
            found.append(StateWarning(
                code="backlog_growth_streak", severity="warning", node_id=node.id,
                message=f"{node.id}: the queue grew {streak} bins in a row",
                start_bin=last - streak + 1, end_bin=last))
        if arrivals is not None and capacity is not None and capacity.sum() > 0:
            ratio = arrivals.sum() / capacity.sum()
            if ratio > 1:
                found.append(StateWarning(
                    code="backlog_overload_ratio", severity="warning", node_id=node.id,
                    message=f"{node.id}: arrivals are {ratio:.2f}× capacity over the window"))
        if inputs.late is not None and (late := int(inputs.late[window].sum())):
            late_bins = np.flatnonzero(inputs.late[window]) + start
            found.append(StateWarning(
                code="backlog_age_risk", severity="warning", node_id=node.id,
                message=f"{node.id}: latency above the {node.sla_minutes:g} min SLA in "
                f"{late} bins", start_bin=int(late_bins[0]), end_bin=int(late_bins[-1])))
        if arrivals is not None:
            half = len(arrivals) // 2
            first, second = arrivals[:half].mean(), arrivals[len(arrivals) - half:].mean()
            larger = max(first, second)
            if larger > 0 and abs(first - second) > 0.25 * larger:
                found.append(StateWarning(
                    code="non_stationary", severity="info", node_id=node.id,
                    message=f"{node.id}: mean arrivals moved from {first:g} to {second:g} "
                    "between the window's halves"))
    nodes, links = view.flows()
    for finding in analyse(nodes, links, start, end, cleaned=True):
        found.append(StateWarning(
            code=finding.code, message=finding.message,
            severity="info" if finding.code == "starved" else "warning",
            node_id=finding.node_id,
            start_bin=finding.span[0] if finding.span else None,
            end_bin=finding.span[1] if finding.span else None))
    return found


def _constraint_out(c: ConstraintView, node_id: str, window: slice) -> ConstraintSeriesOut:
    found = _constraint_series(c, node_id)
    return ConstraintSeriesOut(series={name: _list(values[window]) for name, values in found},
                               series_metadata=constraint_metadata([name for name, _ in found]))


def state_window(view: RunView, start: int, end: int) -> StateWindow:
    """Bins start..end inclusive; bounds are checked by the caller."""
    lists = view.full_lists()
    window = slice(start, end + 1)
    nodes = []
    uses = _constraint_uses(view)
    classes = [c.id for c in view.metadata.classes or []]
    for node, series in zip(view.nodes, view.raw_series(start, end), strict=True):
        # No per-bin colours here: the reference's window shape has no place for them;
        # /state gives the colour of any bin. A node none of whose series was written
        # (outputs left them out) has nothing to show, and the shape needs ≥ 1 series.
        if not series:
            continue
        mine = uses.get(node.id, [])
        nodes.append(NodeSeries(
            id=node.id, kind=node.kind,
            series=series,
            telemetry=_telemetry(node), category=node.wire_category(),
            analytical=node.analytical(), aliases=node.aliases or None,
            by_class={class_id: {k: _list(v[window]) for k, v in m.items()}
                      for class_id, m in view.by_class(node).items()} or None,
            constraints={c.id: _constraint_out(c, node.id, window) for c in mine} or None,
            constraint_status={c.id: _list(c.limiting[window].astype(np.float64))
                               for c in mine} or None,
            sla=[SlaSeries(kind=kind, threshold=threshold, values=_list(values[window]),
                           status=window_status(status[window]))
                 for kind, threshold, values, status in view.sla(node)]
            or None,
            class_truth=class_truth(node, classes), series_metadata=series_metadata(node, series),
        ))
    return StateWindow(
        metadata=view.metadata,
        window=WindowSlice(start_bin=start, end_bin=end, bin_count=end - start + 1),
        timestamps_utc=lists["timestamps"][window], nodes=nodes,
        warnings=[*view.warnings, *view.warnings_between(start, end)],
        edges=[_edge_series(view, e, start, end) for e in view.edges
               if e.flow is not None] or msgspec.UNSET,
        edge_warnings=view.edge_warnings or msgspec.UNSET,
    )
