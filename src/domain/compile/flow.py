"""Compile rules for flow nodes (MODELING §1, §4): the topology and router nodes become
ordinary series of the compiled model.

- Queue-like kinds (`serviceWithBuffer`, `queue`, `dlq`, and a `service` whose queueDepth
  is `self`) get the queue recurrence, with WIP limits, overflow routing, dispatch gating,
  parallelism and loss; a queue series the model already defines is left as written.
- `topology.constraints` admit the demand of the nodes sharing them proportionally.
- `semantics.retryEcho` with a kernel becomes a convolution of the failures.
- `router` model nodes split their source over their targets (class routes by class).
- Every topology node gets the derived metrics that apply to it.

Every rule returns expressions (syntax trees built here, never parsed), so the evaluator
sees nothing new: recurrences through `SHIFT(q, 1)` run in the compiled feedback loops, all
else vectorised. Inputs are read through `SAFE` (NaN and ±inf count as 0). A series the
model defines keeps its definition: a synthesized series of the same name is not created.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import msgspec
from msgspec import field

from flowtime.domain.compile import derived
from flowtime.domain.compile.kinds import kind_of
from flowtime.domain.errors import Problem
from flowtime.domain.expressions.ast import ArrayLit, BinOp, Call, Expr, Num, Ref
from flowtime.domain.modeling.grid import BIN_UNIT_MINUTES
from flowtime.domain.modeling.model import BufferNode, Edge, ModelDef, PmfNode, RouterNode, TopologyNode
from flowtime.domain.modeling.names import class_series_name, edge_series_name, snake
from flowtime.domain.runs import RunWarning

DEFAULT_RETRY_KERNEL = (0.0, 0.6, 0.3, 0.1)
MAX_KERNEL = 32


def category(kind: str) -> str:
    """The kind's row name (compiler/kinds.py: case-insensitive; unknown → service)."""
    return kind_of(kind).name


# -- syntax-tree helpers ---------------------------------------------------------------

def _ref(name: str) -> Ref:
    return Ref(name)


def _call(name: str, *args: Expr) -> Call:
    return Call(name, tuple(args))


def _safe(x: Expr, default: float = 0.0) -> Expr:
    return _call("SAFE", x) if default == 0.0 else _call("SAFE", x, Num(default))


def _sum(terms: Iterable[Expr]) -> Expr:
    items = list(terms)
    total = items[0] if items else Num(0.0)
    for term in items[1:]:
        total = BinOp("+", total, term)
    return total


def _sub(a: Expr, b: Expr) -> Expr:
    return BinOp("-", a, b)


def _mul(a: Expr, b: Expr) -> Expr:
    return BinOp("*", a, b)


def _div(a: Expr, b: Expr) -> Expr:
    return BinOp("/", a, b)


def _past(name: str) -> Expr:
    return _call("SHIFT", _ref(name), Num(1.0))


# -- results ---------------------------------------------------------------------------

class Synthesized(msgspec.Struct, frozen=True):
    """A series the flow compiler adds: its expression and its role in the bundle."""

    node_id: str
    ast: Expr
    role: str  # flow | state | derived
    component: str  # the topology node (or router) it belongs to


class Component(msgspec.Struct, frozen=True):
    """A topology node as the projections see it once compiled."""

    id: str
    kind: str  # as declared
    category: str  # service | servicewithbuffer | queue | dlq | sink | dependency | router
    queue_like: bool
    metrics: dict[str, str]  # metric (camelCase, as in /state) -> series id
    sla_minutes: float | None
    aliases: dict[str, str] = field(default_factory=dict)
    timing: dict[str, str] = field(default_factory=dict)  # processingTimeMsSum, servedCount
    overflow: str | None = None  # the WIP-limit overflow series, when the node has a limit
    kingman: str | None = None  # the Kingman G/G/1 wait series, when the node has one
    schedule: tuple[int, int] | None = None  # its dispatch schedule: (periodBins, phase)
    # numbers stated in place of a series (maxAttempts: 4), echoed in /state's metrics
    constants: dict[str, float] = field(default_factory=dict)
    derived: tuple[str, ...] = ()  # metrics the compiler derived (a served capped by a constraint)


class ConstraintUse(msgspec.Struct, frozen=True):
    """A shared constraint as compiled: its capacity series and, per node sharing it, the
    node's demand (arrivals) and admitted series."""

    id: str
    capacity: str
    members: tuple[tuple[str, str, str], ...]  # (topology node id, demand, admitted)
    # the constraint's own series when it states them (the reference's arrivals and errors
    # of the resource): its shortfall is then measured against its own arrivals
    declared: dict[str, str] = field(default_factory=dict)


class EdgeUse(msgspec.Struct, frozen=True):
    """An edge as compiled; `series` is its flow series (None: its source has no such
    measure in this model)."""

    id: str
    origin: str
    destination: str
    type: str
    measure: str | None
    weight: float
    multiplier: float
    lag: int
    series: str | None


class RouteUse(msgspec.Struct, frozen=True):
    """One router route as compiled: a class route takes `classes` of the source; a weight
    route takes `share` of what the class routes leave (`routed`)."""

    router: str
    source: str
    target: str
    classes: tuple[str, ...] | None
    share: float
    routed: tuple[str, ...] = ()


class FlowCompilation(msgspec.Struct):
    series: list[Synthesized] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    constraints: list[ConstraintUse] = field(default_factory=list)
    edges: list[EdgeUse] = field(default_factory=list)
    routes: list[RouteUse] = field(default_factory=list)
    mix: dict[str, list[str]] = field(default_factory=dict)  # series -> the inflows whose
    # class mix it carries (queues: every inflow, overflow from other queues included)
    initial: dict[str, float] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[RunWarning] = field(default_factory=list)

    def ids(self) -> set[str]:
        return {s.node_id for s in self.series}


class _Builder:
    def __init__(self, model: ModelDef):
        self.model = model
        self.defined = {n.id for n in model.nodes}
        self.pmfs = {n.id: n for n in model.nodes if isinstance(n, PmfNode)}
        self.out = FlowCompilation()
        grid = model.grid
        self.bin_ms = grid.bin_size * BIN_UNIT_MINUTES.get(grid.bin_unit, 1) * 60_000.0

    def add(self, node_id: str, ast: Expr, role: str, component: str) -> str:
        """Create `node_id` unless the model defines it; the name to use either way."""
        if node_id not in self.defined and node_id not in self.out.ids():
            self.out.series.append(Synthesized(node_id, ast, role, component))
        return node_id

    def known(self, name: str) -> bool:
        return name in self.defined or name in self.out.ids()

    def variation(self, series: str | None) -> float:
        """σ/μ of the model node `series` when it is a PMF, else 0 (MODELING §4, Kingman)."""
        node = self.pmfs.get(series or "")
        if node is None:
            return 0.0
        return derived.coefficient_of_variation(node.pmf.values, node.pmf.probabilities)

    def problem(self, loc: str, msg: str) -> None:
        self.out.problems.append(Problem(loc, msg))


def compile_flow(model: ModelDef) -> FlowCompilation:
    """Every synthesized series, the compiled components and the problems found."""
    b = _Builder(model)
    _routers(b)
    nodes = model.topology.nodes
    buffers = {n.id for n in model.nodes if isinstance(n, BufferNode)}
    by_id = {n.id: n for n in model.nodes}
    queues = {t.id: i for i, t in enumerate(nodes) if _queue_like(t, buffers)}
    overflow_into = _overflow_targets(b, nodes, queues)
    capped = _constraints(b, nodes)
    for i, tnode in enumerate(nodes):
        metrics: dict[str, str] = {k: v for k, v in _metric_items(tnode)}
        derived: tuple[str, ...] = ()
        if tnode.id in queues:
            _queue(b, i, tnode, metrics, capped.get(tnode.id), overflow_into.get(tnode.id, []))
        elif tnode.id in capped and "served" in metrics and metrics["served"] != capped[tnode.id]:
            # MODELING §1.3 (turn 3): a node with its own served is capped by its allocation
            # of the constraint; every derived metric reads the capped series
            metrics["served"] = b.add(
                f"{snake(tnode.id)}_served_capped",
                _call("MIN", _safe(_ref(metrics["served"])), _ref(capped[tnode.id])),
                "flow", tnode.id)
            derived = ("served",)
        elif kind_of(tnode.kind).served_from_arrivals and "served" not in metrics \
                and "arrivals" in metrics:
            metrics["served"] = b.add(f"{snake(tnode.id)}_served", _sink_served(tnode),
                                      "flow", tnode.id)
        echo = _retry_echo(b, i, tnode)
        kingman = _derived(b, tnode, metrics)
        sem = tnode.semantics
        for metric, series in (("attempts", sem.attempts), ("failures", sem.failures),
                               ("retryEcho", echo), ("exhaustedFailures", sem.exhausted_failures),
                               ("retryBudgetRemaining", sem.retry_budget_remaining),
                               ("maxAttempts", sem.max_attempts)):
            if isinstance(series, str):
                metrics[metric] = series
        constants = {metric: float(value) for metric, value in (
            ("maxAttempts", sem.max_attempts), ("parallelism", sem.parallelism))
            if isinstance(value, int | float) and not isinstance(value, bool)}
        timing = {k: v for k, v in (("processingTimeMsSum", sem.processing_time_ms_sum),
                                    ("servedCount", sem.served_count)) if v}
        overflow = f"{snake(tnode.id)}_overflow"
        dispatch = tnode.dispatch_schedule
        if dispatch is None and isinstance(queue_node := by_id.get(sem.queue or ""), BufferNode):
            dispatch = queue_node.dispatch_schedule  # the schedule is on the model node
        b.out.components.append(Component(
            id=tnode.id, kind=tnode.kind, category=category(tnode.kind),
            queue_like=tnode.id in queues, metrics=metrics, sla_minutes=tnode.sla,
            aliases=dict(sem.aliases or {}), timing=timing,
            overflow=overflow if tnode.id in queues and b.known(overflow) else None,
            kingman=kingman,
            schedule=(dispatch.period_bins, dispatch.phase_offset % dispatch.period_bins)
            if dispatch is not None else None,
            constants=constants, derived=derived))
    _edges(b)
    return b.out


_MEASURES = {"attempts": "attempts", "load": "attempts", "errors": "errors",
             "failures": "failures"}


def _measure(edge: Edge) -> str:
    return _MEASURES.get((edge.measure or "").lower(), "served")


def _edges(b: _Builder) -> None:
    """Per-edge flow: the source's series for the measure (served by default) × weight / Σ
    weights of the edges leaving the same source with the same measure × multiplier.
    (Ours: an errors edge to a DLQ does not take a share of what was served; an edge from a
    node whose served series a router splits, to a node whose arrivals are one of that
    router's targets, carries that target's routed flow × multiplier, not a weight share.)"""
    components = {c.id: c for c in b.out.components}
    routed: dict[str, set[str]] = {}
    for route in b.out.routes:
        routed.setdefault(route.source, set()).add(route.target)
    edges = b.model.topology.edges
    totals: dict[tuple[str, str], float] = {}
    for edge in edges:
        key = (edge.origin, _measure(edge))
        totals[key] = totals.get(key, 0.0) + edge.weight
    for edge in edges:
        edge_id = edge.id or f"{edge.origin}->{edge.destination}"
        component = components.get(edge.origin)
        if component is not None:
            source = component.metrics.get(_measure(edge))
        else:  # a series that is not a topology node flows as itself
            source = edge.origin if b.known(edge.origin) else None
        total = totals[(edge.origin, _measure(edge))]
        share = edge.weight / total if total > 0 else 0.0
        target = components.get(edge.destination)
        arrivals = target.metrics.get("arrivals") if target is not None else None
        if source is not None and arrivals in routed.get(source, ()):
            _weight_ignored(b, edge_id, source, arrivals, share)
            source, share = arrivals, 1.0  # the router's flow to this target
        multiplier = edge.multiplier if edge.multiplier is not None else 1.0
        series = None
        if source is not None:
            series = b.add(edge_series_name(edge_id),
                           _mul(_safe(_ref(source)), Num(share * multiplier)), "flow", edge_id)
        b.out.edges.append(EdgeUse(edge_id, edge.origin, edge.destination, edge.type,
                                   edge.measure, edge.weight, multiplier, edge.lag or 0, series))


def _weight_ignored(b: _Builder, edge_id: str, source: str, target: str, declared: float) -> None:
    """MODELING §3 (turn 3): an edge leaving a router carries the routed flow; when its
    declared weight share differs from the router's share for its target, say so."""
    uses = [r for r in b.out.routes if r.source == source and r.target == target]
    if any(r.classes for r in uses):
        routed = "its class routes (" + ", ".join(
            c for r in uses for c in (r.classes or ())) + ")"
        share = None
    else:
        share = sum(r.share for r in uses)
        routed = f"{share:.4g}"
    if share is not None and abs(share - declared) <= 1e-9:
        return
    b.out.warnings.append(RunWarning(
        "edge_weight_ignored",
        f"edge '{edge_id}': its declared weight share {declared:.4g} is not used; it carries "
        f"the router's flow to '{target}' (route share {routed})",
        severity="info", edge_ids=(edge_id,), value=share))


_METRIC_NAMES = {"arrivals": "arrivals", "served": "served", "errors": "errors",
                 "queue": "queue", "capacity": "capacity", "external_demand": "externalDemand"}


def _metric_items(tnode: TopologyNode) -> list[tuple[str, str]]:
    return [(_METRIC_NAMES[f], series) for f, series in tnode.semantics.items()]


def _queue_like(tnode: TopologyNode, buffers: set[str] | frozenset[str] = frozenset()) -> bool:
    """Queue-like kinds; a `service` whose queueDepth is `self` or names a buffer node."""
    kind = kind_of(tnode.kind)
    if kind.queue_like:
        return True
    depth = tnode.semantics.queue_depth or tnode.semantics.queue
    return kind.queue_by_depth and (depth == "self" or depth in buffers)


def buffer_expression(node: BufferNode) -> Expr:
    """The queue recurrence of a `serviceWithBuffer` model node (its own series)."""
    outflow: Expr = _ref(node.outflow)
    if node.dispatch_schedule is not None:
        schedule = node.dispatch_schedule
        period = schedule.period_bins
        amount = outflow if not schedule.capacity_series else _call(
            "MIN", outflow, _safe(_ref(schedule.capacity_series), math.inf))
        outflow = _call("PULSE", Num(float(period)), Num(float(schedule.phase_offset % period)),
                        amount)
    loss = _safe(_ref(node.loss)) if node.loss else Num(0.0)
    grown = BinOp("+", _past(node.id), _safe(_ref(node.inflow)))
    return _call("MAX", Num(0.0), _sub(_sub(grown, _safe(outflow)), loss))


# -- queues ------------------------------------------------------------------------------

def _overflow_targets(b: _Builder, nodes: list[TopologyNode], queues: dict[str, int]
                      ) -> dict[str, list[str]]:
    """target id -> source ids whose WIP overflow flows into it; checks targets and cycles."""
    edges: dict[str, str] = {}
    ids = {t.id for t in nodes}
    for i, tnode in enumerate(nodes):
        target = tnode.wip_overflow
        if target in (None, "loss"):
            continue
        loc = f"topology.nodes[{i}].wipOverflow"
        if tnode.id not in queues:
            b.problem(loc, "only queue-like nodes (serviceWithBuffer, queue, dlq) overflow")
        elif target not in ids:
            b.problem(loc, f"unknown topology node '{target}' (use `loss` or a node id)")
        elif target not in queues:
            b.problem(loc, f"'{target}' is not queue-like, so it cannot take overflow")
        elif tnode.wip_limit is None and tnode.wip_limit_series is None:
            b.problem(loc, "overflow needs a WIP limit (wipLimit or wipLimitSeries)")
        else:
            edges[tnode.id] = target
    for start in edges:
        path, current = [start], edges[start]
        while current in edges and current not in path:
            path.append(current)
            current = edges[current]
        if current == start:
            cycle = " -> ".join([*path, start])
            b.problem(f"topology.nodes[{queues[start]}].wipOverflow",
                      f"overflow cycle: {cycle} (overflow must end in `loss` or a node that "
                      "does not overflow back)")
            return {}
    into: dict[str, list[str]] = {}
    for source, target in edges.items():
        into.setdefault(target, []).append(source)
    return into


def _queue(b: _Builder, i: int, tnode: TopologyNode, metrics: dict[str, str],
           admitted: str | None, overflow_sources: list[str]) -> None:
    sem, s, loc = tnode.semantics, snake(tnode.id), f"topology.nodes[{i}]"
    kind = kind_of(tnode.kind)
    if not sem.arrivals and not (kind.arrivals_from_overflow and overflow_sources):
        why = " (or WIP overflow sent into it)" if kind.arrivals_from_overflow else ""
        b.problem(f"{loc}.semantics.arrivals", f"is required for a {tnode.kind} node{why}")
        return
    if not (sem.served or sem.capacity or kind.holds_without_outflow):
        b.problem(f"{loc}.semantics", "a queue needs `served` or `capacity` (its outflow)")
        return
    name = sem.queue_name or (tnode.id if tnode.id in b.defined and not
                              (sem.queue_depth or sem.queue) else f"{s}_queue")
    metrics["queue"] = name
    capacity = _effective_capacity(b, i, tnode)
    if capacity:
        metrics["capacity"] = capacity
    if name in b.defined:
        return  # the model writes this queue itself (a SHIFT recurrence): keep it
    ic = tnode.initial_condition
    if ic is not None and ic.queue_depth is not None:
        b.out.initial[name] = float(ic.queue_depth)
    # a DLQ fed only by overflow has no arrivals series of its own
    inflow: list[Expr] = [_safe(_ref(admitted or sem.arrivals))] if (admitted or sem.arrivals) else []
    for source in overflow_sources:
        feed = f"{s}_inflow_from_{snake(source)}"
        inflow.append(_safe(_ref(b.add(feed, _ref(f"{snake(source)}_overflow"), "flow",
                                       tnode.id))))
    arrivals = _sum(inflow)
    own = admitted or sem.arrivals
    inflow_names = [*([own] if own else []),
                    *(f"{s}_inflow_from_{snake(source)}" for source in overflow_sources)]
    if not own:  # a DLQ fed only by overflow: its arrivals are what overflows into it
        metrics["arrivals"] = b.add(f"{s}_arrivals", arrivals, "flow", tnode.id)
    for series in (name, f"{s}_overflow", f"{s}_served"):
        b.out.mix[series] = inflow_names  # class shares follow the whole inflow
    # a DLQ without served or capacity holds what reaches it (outflow 0)
    outflow: Expr = (_ref(sem.served) if sem.served else _ref(capacity or sem.capacity)
                     if (capacity or sem.capacity) else Num(0.0))
    if tnode.dispatch_schedule is not None:
        outflow = _ref(b.add(f"{s}_gated_outflow", _gate(tnode, outflow), "flow", tnode.id))
    loss = _safe(_ref(sem.errors)) if sem.errors else Num(0.0)
    pre = _call("MAX", Num(0.0), _sub(_sub(BinOp("+", _past(name), arrivals), _safe(outflow)),
                                      loss))
    limit: Expr | None = None
    if tnode.wip_limit_series:
        limit = _ref(tnode.wip_limit_series)
    elif tnode.wip_limit is not None:
        # its own series, so the knob `Node.wipLimit` can set it without recompiling
        limit = _ref(b.add(f"{s}_wip_limit", Num(float(tnode.wip_limit)), "state", tnode.id))
    if limit is None:
        b.add(name, pre, "state", tnode.id)
    else:
        bounded = _safe(limit, math.inf)
        b.add(name, _call("MIN", pre, bounded), "state", tnode.id)
        b.add(f"{s}_overflow", _call("MAX", Num(0.0), _sub(pre, bounded)), "flow", tnode.id)
    if not sem.served:
        # Ours: with capacity as the outflow, what actually left (so utilization exists).
        served = _call("MAX", Num(0.0), _call("MIN", _sub(BinOp("+", _past(name), arrivals),
                                                          loss), _safe(outflow)))
        metrics["served"] = b.add(f"{s}_served", served, "flow", tnode.id)


def _effective_capacity(b: _Builder, i: int, tnode: TopologyNode) -> str | None:
    """`{s}_effective_capacity` = capacity × parallelism, when both are given."""
    sem = tnode.semantics
    if sem.capacity is None or sem.parallelism is None:
        return sem.capacity
    p: Expr = _ref(sem.parallelism) if isinstance(sem.parallelism, str) else Num(
        float(sem.parallelism))
    factor = _call("IF", _safe(p), _safe(p), Num(1.0))  # missing, ≤ 0 or non-finite: 1
    return b.add(f"{snake(tnode.id)}_effective_capacity", _mul(_ref(sem.capacity), factor),
                 "flow", tnode.id)


def _gate(tnode: TopologyNode, outflow: Expr) -> Expr:
    """Outflow only on dispatch bins: t ≥ phase and (t − phase) mod period = 0."""
    schedule = tnode.dispatch_schedule
    assert schedule is not None
    period = schedule.period_bins
    phase = schedule.phase_offset % period
    amount = outflow
    if schedule.capacity_series:
        amount = _call("MIN", outflow, _safe(_ref(schedule.capacity_series), math.inf))
    return _call("PULSE", Num(float(period)), Num(float(phase)), amount)


def _sink_served(tnode: TopologyNode) -> Expr:
    sem = tnode.semantics
    arrivals = _ref(sem.arrivals or "")
    if sem.errors:
        return _call("MAX", Num(0.0), _sub(arrivals, _ref(sem.errors)))
    return arrivals


# -- shared constraints ------------------------------------------------------------------

def _constraints(b: _Builder, nodes: list[TopologyNode]) -> dict[str, str]:
    """Topology node id -> the series of its admitted arrivals (MODELING §1.3)."""
    defined = {c.id: (j, c) for j, c in enumerate(b.model.topology.constraints)}
    for j, constraint in enumerate(b.model.topology.constraints):
        if not constraint.semantics.served:
            b.problem(f"topology.constraints[{j}].semantics.served",
                      "is required (the shared capacity series)")
    users: dict[str, list[TopologyNode]] = {}
    for i, tnode in enumerate(nodes):
        for k, cid in enumerate(tnode.constraints):
            if cid not in defined:
                b.problem(f"topology.nodes[{i}].constraints[{k}]",
                          f"unknown constraint '{cid}' (defined: {', '.join(defined) or 'none'})")
            elif not tnode.semantics.arrivals:
                b.problem(f"topology.nodes[{i}].semantics.arrivals",
                          f"is required to share constraint '{cid}'")
            else:
                users.setdefault(cid, []).append(tnode)
    admitted: dict[str, list[str]] = {}
    for cid, members in users.items():
        capacity_series = defined[cid][1].semantics.served
        if not capacity_series:
            continue
        cap = _call("MAX", Num(0.0), _safe(_ref(capacity_series)))
        demand = _sum(_safe(_ref(t.semantics.arrivals or "")) for t in members)
        uses = []
        for tnode in members:
            own = _safe(_ref(tnode.semantics.arrivals or ""))
            share = _call("IF", _sub(demand, cap), _div(_mul(cap, own), demand), own)
            name = b.add(f"{snake(tnode.id)}_capped_{cid}", share, "flow", tnode.id)
            admitted.setdefault(tnode.id, []).append(name)
            uses.append((tnode.id, tnode.semantics.arrivals or "", name))
        own = defined[cid][1].semantics
        declared = {k: v for k, v in (("arrivals", own.arrivals), ("errors", own.errors)) if v}
        b.out.constraints.append(ConstraintUse(cid, capacity_series, tuple(uses), declared))
    result: dict[str, str] = {}
    for node_id, names in admitted.items():
        if len(names) == 1:
            result[node_id] = names[0]
        else:  # several constraints: the tightest admission
            result[node_id] = b.add(f"{snake(node_id)}_admitted",
                                    _call("MIN", *(_ref(n) for n in names)), "flow", node_id)
    return result


# -- retries -----------------------------------------------------------------------------

def retry_kernel(kernel: list[float] | None) -> tuple[float, ...]:
    """MODELING §1.5: default when missing or empty; negatives and non-finite values are 0;
    scaled to sum 1 when the sum exceeds 1."""
    if not kernel:
        return DEFAULT_RETRY_KERNEL
    cleaned = [k if math.isfinite(k) and k > 0 else 0.0 for k in kernel]
    total = sum(cleaned)
    return tuple(k / total for k in cleaned) if total > 1 else tuple(cleaned)


def _retry_echo(b: _Builder, i: int, tnode: TopologyNode) -> str | None:
    """The retry echo series (synthesized unless the model defines it), if any."""
    sem = tnode.semantics
    if sem.retry_echo is None and sem.retry_kernel is None:
        return None
    if sem.retry_kernel is not None and len(sem.retry_kernel) > MAX_KERNEL:
        b.problem(f"topology.nodes[{i}].semantics.retryKernel",
                  f"has {len(sem.retry_kernel)} coefficients; at most {MAX_KERNEL}")
        return None
    name = sem.retry_echo or f"{snake(tnode.id)}_retry_echo"
    if b.known(name):
        return name
    failures = sem.failures or sem.errors
    if failures is None:
        b.problem(f"topology.nodes[{i}].semantics.retryEcho",
                  "needs `failures` or `errors` to echo")
        return None
    kernel = retry_kernel(sem.retry_kernel)
    return b.add(name, _call("CONV", _ref(failures), ArrayLit(kernel)), "flow", tnode.id)


# -- derived metrics -----------------------------------------------------------------------

def _derived(b: _Builder, tnode: TopologyNode, metrics: dict[str, str]) -> str | None:
    """The derived series of one node (derived.py holds each metric's one definition);
    returns its Kingman series when it has one."""
    s = snake(tnode.id)
    served, capacity, queue = metrics.get("served"), metrics.get("capacity"), metrics.get("queue")
    utilization = None
    if served and capacity:
        utilization = b.add(f"{s}_utilization",
                            derived.utilization_expr(_ref(served), _ref(capacity)),
                            "derived", tnode.id)
    queue_time = service_time = None
    if queue and served:
        queue_time = b.add(f"{s}_queue_time_ms",
                           derived.queue_time_ms_expr(_ref(queue), _ref(served), b.bin_ms),
                           "derived", tnode.id)
        b.add(f"{s}_latency_min", derived.latency_minutes_expr(_ref(queue_time)), "derived",
              tnode.id)
    sem = tnode.semantics
    if sem.processing_time_ms_sum and sem.served_count:
        service_time = b.add(f"{s}_service_time_ms",
                             derived.service_time_ms_expr(_ref(sem.processing_time_ms_sum),
                                                          _ref(sem.served_count)),
                             "derived", tnode.id)
    parts = [p for p in (queue_time, service_time) if p]
    if parts:
        cycle = b.add(f"{s}_cycle_time_ms", derived.cycle_time_ms_expr([_ref(p) for p in parts]),
                      "derived", tnode.id)
        if service_time:
            b.add(f"{s}_flow_efficiency",
                  derived.flow_efficiency_expr(_ref(service_time), _ref(cycle)), "derived",
                  tnode.id)
    if utilization and service_time:
        ca = b.variation(metrics.get("arrivals"))
        cs = b.variation(sem.processing_time_ms_sum)
        return b.add(f"{s}_kingman_wq",
                     derived.kingman_expr(_ref(utilization), _ref(service_time), ca, cs),
                     "derived", tnode.id)
    return None


# -- routers -------------------------------------------------------------------------------

def _routers(b: _Builder) -> None:
    """Class routes take the source's series of their classes; the remainder (source − Σ
    class-routed) is split over weight routes by w / Σw; routes to one target add up."""
    declared = {c.id for c in b.model.classes}
    for i, node in enumerate(b.model.nodes):
        if not isinstance(node, RouterNode):
            continue
        loc = f"nodes[{i}]"
        spec = node.spec
        source = spec.inputs.queue
        if source not in b.defined:
            b.problem(f"{loc}.inputs.queue", f"unknown series '{source}'")
            continue
        weights = [r.weight for r in spec.routes if not r.classes]
        routed: list[str] = []
        for j, route in enumerate(spec.routes):
            for k, class_id in enumerate(route.classes or []):
                if class_id not in declared:
                    known = (f"declared: {', '.join(sorted(declared))}" if declared
                             else "the model declares no classes")
                    b.problem(f"{loc}.routes[{j}].classes[{k}]",
                              f"unknown class '{class_id}' ({known})")
                elif class_id not in routed:
                    routed.append(class_id)
            if not math.isfinite(route.weight) or route.weight < 0:
                b.problem(f"{loc}.routes[{j}].weight", "must be a finite number ≥ 0")
        total = sum(w for w in weights if math.isfinite(w))
        if weights and total <= 0:
            b.problem(f"{loc}.routes", f"the weights sum to {total:g}; they must sum to > 0")
            continue
        if any(p.loc.startswith(loc + ".") for p in b.out.problems):
            continue
        remainder: Expr = _safe(_ref(source))
        if routed:
            remainder = _sub(remainder, _sum(_safe(_ref(class_series_name(source, c)))
                                             for c in routed))
        parts: dict[str, list[Expr]] = {}
        for route in spec.routes:
            if route.classes:
                part = _sum(_safe(_ref(class_series_name(source, c))) for c in route.classes)
                use = RouteUse(node.id, source, route.target, tuple(route.classes), 1.0)
            else:
                part = _mul(remainder, Num(route.weight / total))
                use = RouteUse(node.id, source, route.target, None, route.weight / total,
                               tuple(routed))
            parts.setdefault(route.target, []).append(part)
            b.out.routes.append(use)
        for target, terms in parts.items():
            b.add(target, _sum(terms), "flow", node.id)
