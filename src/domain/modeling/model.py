"""The model: a template with its parameters substituted, as typed structs.

Structs use camelCase names on the wire (YAML/JSON) and snake_case in Python.
Unknown keys are ignored here; the template JSON Schema decides what is allowed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from flowtime.domain.modeling.grid import TimeGrid

if TYPE_CHECKING:
    from flowtime.domain.compile.compiler import EvaluationPlan

SEMANTIC_FIELDS = ("arrivals", "served", "errors", "queue", "capacity", "external_demand")
# A semantics role set to `none` maps no series (the same as null or leaving it out); a
# series cannot be called `none`.
NO_SERIES = "none"
NO_SERIES_FIELDS = ("arrivals", "external_demand_alt", "served", "errors", "queue", "queue_depth",
                    "capacity", "external_demand", "attempts", "failures", "retry_echo",
                    "processing_time_ms_sum", "served_count", "exhausted_failures",
                    "retry_budget_remaining", "max_attempts", "parallelism")


T = TypeVar("T")

# msgspec builds a type's decoder on first use; two threads doing that at once for the
# same Struct (with postponed annotations) was seen to crash the process (msgspec 0.22,
# CPython 3.11). Conversions are tiny next to everything else, so they are serialised.
_CONVERT_LOCK = threading.Lock()


def convert(value: Any, kind: type[T]) -> T:
    """`msgspec.convert` in lax mode (5.0 fits an int field); inputs are schema-checked first."""
    with _CONVERT_LOCK:
        return msgspec.convert(value, kind, strict=False)


class Struct(msgspec.Struct, rename="camel", kw_only=True):
    pass


class Metadata(Struct):
    id: str
    title: str = ""
    description: str = ""
    version: str = "1.0.0"
    tags: list[str] = []
    narrative: str = ""  # a longer story of the model (shown by `templates list/show`)
    capture_key: str | None = None  # the telemetry capture this template pairs with


class Window(Struct):
    start: str | None = None
    timezone: str = "UTC"


class ParameterDef(Struct):
    name: str
    type: str
    title: str = ""
    description: str = ""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    min: float | None = None
    max: float | None = None
    array_of: str | None = None  # array element type: number (default) | integer
    required_flag: bool = msgspec.field(default=False, name="required")

    @property
    def lower(self) -> float | None:
        return self.minimum if self.minimum is not None else self.min

    @property
    def upper(self) -> float | None:
        return self.maximum if self.maximum is not None else self.max

    @property
    def required(self) -> bool:
        """A request must give the value: no default, or `required: true`."""
        return self.default is None or self.required_flag


class GridDef(Struct):
    bins: int
    bin_size: int
    bin_unit: str
    start: str | None = None  # the reference's place for the window start


# Semantics that name a series (besides the six metrics of SEMANTIC_FIELDS).
EXTRA_SERIES_FIELDS = ("attempts", "failures", "retry_echo", "processing_time_ms_sum",
                       "served_count", "exhausted_failures", "retry_budget_remaining")


class Semantics(Struct):
    arrivals: str | None = None
    external_demand_alt: str | None = msgspec.field(default=None, name="external_demand")
    served: str | None = None
    errors: str | None = None
    queue: str | None = None  # SPEC's name for the queue series
    queue_depth: str | None = None  # MODELING's name; `self` (or omitted): synthesized
    capacity: str | None = None
    external_demand: str | None = None
    attempts: str | None = None
    failures: str | None = None
    retry_echo: str | None = None
    retry_kernel: list[float] | None = None
    processing_time_ms_sum: str | None = None
    served_count: str | None = None
    exhausted_failures: str | None = None
    retry_budget_remaining: str | None = None
    exhausted_policy: str | None = None
    max_attempts: str | float | None = None  # a series id or a number
    parallelism: str | float | None = None  # a series id or a number
    aliases: dict[str, str] | None = None  # display names by metric
    sla_min: float | None = None  # the reference's current templates put the SLA here

    def __post_init__(self) -> None:
        if self.external_demand is None and self.external_demand_alt is not None:
            self.external_demand = self.external_demand_alt  # the reference's spelling
        for name in NO_SERIES_FIELDS:  # `none` (any case) means "no series", like null
            value = getattr(self, name)
            if isinstance(value, str) and value.strip().lower() == NO_SERIES:
                setattr(self, name, None)

    @property
    def queue_name(self) -> str | None:
        """The queue series the model names (None when omitted or `self`)."""
        name = self.queue_depth or self.queue
        return None if name in (None, "self") else name

    def items(self) -> list[tuple[str, str]]:
        """(metric, series id) for the six metrics that are set to a series."""
        found = []
        for f in SEMANTIC_FIELDS:
            value = self.queue_name if f == "queue" else getattr(self, f)
            if value:
                found.append((f, value))
        return found

    def all_series(self) -> list[tuple[str, str]]:
        """(field, series id) for every semantic that names a series."""
        found = self.items()
        found += [(f, getattr(self, f)) for f in EXTRA_SERIES_FIELDS if getattr(self, f)]
        for f in ("max_attempts", "parallelism"):
            if isinstance(getattr(self, f), str):
                found.append((f, getattr(self, f)))
        return found


class InitialCondition(Struct):
    queue_depth: float | None = None


class DispatchSchedule(Struct):
    period_bins: int
    kind: str = "time-based"
    phase_offset: int = 0
    capacity_series: str | None = None


class TopologyNode(Struct):
    id: str
    kind: str = "service"
    semantics: Semantics = msgspec.field(default_factory=Semantics)
    initial_condition: InitialCondition | None = None
    sla_minutes: float | None = None
    sla_min: float | None = None  # the reference's spelling of slaMinutes
    wip_limit: float | None = None
    wip_limit_series: str | None = None
    wip_overflow: str | None = None  # `loss` (default) or a topology node id
    dispatch_schedule: DispatchSchedule | None = None
    constraints: list[str] = []
    node_role: str | None = None
    group: str | None = None
    ui: dict[str, Any] | None = None  # display hints (informational; /graph echoes them)

    @property
    def sla(self) -> float | None:
        for value in (self.sla_minutes, self.sla_min, self.semantics.sla_min):
            if value is not None:
                return value
        return None


class ConstraintDef(Struct):
    id: str
    semantics: Semantics = msgspec.field(default_factory=Semantics)


class Edge(Struct):
    """An edge; `from`/`to` (or the reference's `source`/`target`) may carry a port."""

    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    source: str | None = None
    target: str | None = None
    id: str | None = None
    weight: float = 1.0
    type: str = "throughput"  # throughput | effort | dependency | terminal
    measure: str | None = None
    multiplier: float | None = None
    lag: int | None = None

    @property
    def origin(self) -> str:
        return (self.from_ or self.source or "").split(":", 1)[0]

    @property
    def destination(self) -> str:
        return (self.to or self.target or "").split(":", 1)[0]


class Topology(Struct):
    nodes: list[TopologyNode] = []
    edges: list[Edge] = []
    constraints: list[ConstraintDef] = []


class Pmf(Struct):
    values: list[float]
    probabilities: list[float]


class NodeBase(Struct, tag_field="kind"):
    """Fields every model node has. A kind is one Struct, tagged by `kind`, plus one compile
    rule in `compiler.py`."""

    id: str
    initial: float | None = None  # the value SHIFT reads before the grid starts
    group: str | None = None  # informational
    metadata: dict[str, str] | None = None  # informational (e.g. graph.hidden)
    dependencies: list[str] | None = None  # when given: exactly the ids the node reads
    telemetry: str | None = None  # informational: the telemetry this node is captured as

    @property
    def kind(self) -> str:
        return str(type(self).__struct_config__.tag)


class ConstNode(NodeBase, tag="const", kw_only=True):
    values: list[float]
    source: str | None = None  # telemetry file (`file://…`); "" means none

    @property
    def telemetry_source(self) -> str | None:
        return self.source or None


class ExprNode(NodeBase, tag="expr", kw_only=True):
    expr: str | float

    @property
    def expr_text(self) -> str:
        """Expression text; numbers (from a whole `${param}`) become their literal."""
        return self.expr if isinstance(self.expr, str) else repr(float(self.expr))


class Profile(Struct):
    """A time-of-day shape for a PMF node (MODELING §7)."""

    kind: str  # builtin | inline
    name: str | None = None  # builtin: weekday-office, three-shift, hub-rush-hour
    weights: list[float] | None = None  # inline: exactly `bins` non-negative weights
    align: str = "index"  # index (the reference's rule) | clock (bin start times)


class PmfNode(NodeBase, tag="pmf", kw_only=True):
    pmf: Pmf
    profile: Profile | None = None


class Route(Struct):
    target: str
    weight: float = 1.0
    classes: list[str] | None = None


class RouterInputs(Struct):
    queue: str


class RouterSpec(Struct):
    inputs: RouterInputs
    routes: list[Route]


class RouterNode(NodeBase, tag="router", kw_only=True):
    """Splits a source series over targets (MODELING §1.2). The routes sit in a `router:`
    block or, as the reference's templates write them, directly on the node."""

    router: RouterSpec | None = None
    inputs: RouterInputs | None = None
    routes: list[Route] | None = None

    @property
    def spec(self) -> RouterSpec:
        if self.router is not None:
            return self.router
        assert self.inputs is not None and self.routes is not None  # the schema checks it
        return RouterSpec(inputs=self.inputs, routes=self.routes)


class BufferNode(NodeBase, tag="serviceWithBuffer", kw_only=True):
    """A queue as a model node (the reference's form): its series is the queue,
    Q[t] = max(0, Q[t-1] + inflow − outflow − loss), the outflow gated by a dispatch
    schedule when one is given."""

    inflow: str
    outflow: str
    loss: str | None = None
    dispatch_schedule: DispatchSchedule | None = None


ModelNode = ConstNode | ExprNode | PmfNode | RouterNode | BufferNode


class ClassDef(Struct):
    """A class of work (MODELING §2)."""

    id: str
    display_name: str | None = None
    description: str | None = None


class TrafficPattern(Struct):
    rate_per_bin: float
    kind: str = "constant"


class TrafficArrival(Struct):
    """A class's arrival rate at a source node: the rates set the node's class shares."""

    node_id: str
    pattern: TrafficPattern
    class_id: str = "*"  # the reference's value when no classes are declared


class Traffic(Struct):
    arrivals: list[TrafficArrival] = []


class OutputDef(Struct):
    series: str | None = None
    source: str | None = None  # the reference's template spelling of `series`
    exclude: list[str] = []
    id: str | None = None
    description: str | None = None
    as_: str | None = msgspec.field(default=None, name="as")  # CSV name the reference writes
    filename: str | None = None  # the reference's template spelling of `as`

    @property
    def selector(self) -> str:
        """The node id or pattern this output selects (the schema requires one)."""
        return self.series or self.source or ""


DEFAULT_RNG_KIND = "pcg64"


class RngDef(Struct):
    kind: str = DEFAULT_RNG_KIND
    seed: int | None = None


class ModelDef(Struct):
    metadata: Metadata
    grid: GridDef
    nodes: list[ModelNode]
    schema_version: int = 1
    generator: str | None = None
    mode: str | None = None
    window: Window = msgspec.field(default_factory=Window)
    topology: Topology = msgspec.field(default_factory=Topology)
    outputs: list[OutputDef] = []
    rng: RngDef | None = None
    classes: list[ClassDef] = []
    traffic: Traffic = msgspec.field(default_factory=Traffic)


@dataclass(frozen=True, slots=True)
class Model:
    """A validated, substituted model ready to evaluate."""

    definition: ModelDef
    grid: TimeGrid
    text: str  # the exact YAML text of the substituted model (spec.yaml)
    parameters: dict[str, Any]  # resolved, typed
    plan: EvaluationPlan = field(compare=False, repr=False)  # the compiled model
    warnings: tuple[Any, ...] = ()  # RunWarnings validation raised (non-fatal)

    @property
    def rng_kind(self) -> str:
        return self.plan.rng_kind

    @property
    def node_ids(self) -> list[str]:
        return [n.id for n in self.definition.nodes]

    def initial_conditions(self) -> dict[str, float]:
        return dict(self.plan.initial)


def initial_conditions(definition: ModelDef) -> dict[str, float]:
    """Initial value per node: its own `initial`, else a topology node's
    `initialCondition.queueDepth`, which applies to the queue series its semantics name
    and, as in the reference, to a model node with the topology node's own id (the flow
    compiler adds the queues it synthesizes)."""
    node_ids = {n.id for n in definition.nodes}
    found: dict[str, float] = {}
    for tnode in definition.topology.nodes:
        ic = tnode.initial_condition
        if ic is None or ic.queue_depth is None:
            continue
        if tnode.id in node_ids:
            found[tnode.id] = float(ic.queue_depth)
        if tnode.semantics.queue_name:
            found[tnode.semantics.queue_name] = float(ic.queue_depth)
    for node in definition.nodes:
        if node.initial is not None:
            found[node.id] = float(node.initial)
    return found
