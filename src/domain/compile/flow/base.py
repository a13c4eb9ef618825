"""What every flow rule shares: the syntax-tree helpers (rules build expressions, never
text), the compiled records (components, constraint/edge/route uses), and the Builder that
collects synthesized series and problems."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from msgspec import field

from flowtime.domain.compile import derived
from flowtime.domain.compile.kinds import kind_of
from flowtime.domain.errors import Problem
from flowtime.domain.expressions.ast import BinOp, Call, Expr, Num, Ref
from flowtime.domain.modeling.grid import BIN_UNIT_MINUTES
from flowtime.domain.modeling.model import SEMANTIC_FIELDS, ModelDef, PmfNode, TopologyNode
from flowtime.domain.modeling.names import FLOW_METRICS
from flowtime.domain.runs import RunWarning


def category(kind: str) -> str:
    """The kind's row name (compiler/kinds.py: case-insensitive; unknown → service)."""
    return kind_of(kind).name


# -- syntax-tree helpers ---------------------------------------------------------------

def ref(name: str) -> Ref:
    return Ref(name)


def call(name: str, *args: Expr) -> Call:
    return Call(name, tuple(args))


def safe(x: Expr, default: float = 0.0) -> Expr:
    return call("SAFE", x) if default == 0.0 else call("SAFE", x, Num(default))


def add_all(terms: Iterable[Expr]) -> Expr:
    items = list(terms)
    total = items[0] if items else Num(0.0)
    for term in items[1:]:
        total = BinOp("+", total, term)
    return total


def sub(a: Expr, b: Expr) -> Expr:
    return BinOp("-", a, b)


def mul(a: Expr, b: Expr) -> Expr:
    return BinOp("*", a, b)


def div(a: Expr, b: Expr) -> Expr:
    return BinOp("/", a, b)


def past(name: str) -> Expr:
    return call("SHIFT", ref(name), Num(1.0))


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


class Builder:
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


# semantics field -> its metric name (`external_demand` -> `externalDemand`)
METRIC_NAMES = dict(zip(SEMANTIC_FIELDS, FLOW_METRICS, strict=True))


def metric_items(tnode: TopologyNode) -> list[tuple[str, str]]:
    return [(METRIC_NAMES[f], series) for f, series in tnode.semantics.items()]


def is_queue_like(tnode: TopologyNode, buffers: set[str] | frozenset[str] = frozenset()) -> bool:
    """Queue-like kinds; a `service` whose queueDepth is `self` or names a buffer node."""
    kind = kind_of(tnode.kind)
    if kind.queue_like:
        return True
    depth = tnode.semantics.queue_depth or tnode.semantics.queue
    return kind.queue_by_depth and (depth == "self" or depth in buffers)
