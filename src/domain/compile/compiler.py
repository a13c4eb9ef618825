"""The model compiler: a validated model becomes one flat, ordered plan of steps.

Each model-node kind has one compile rule (`RULES`, keyed by its Struct): it says which
nodes it reads (all, and those read in the same bin) and which step produces its series.
The compiler orders every node once (Tarjan over the dependency graph); nodes on a loop
through a delay become one `FeedbackStep` evaluated bin by bin, everything else runs
vectorised. The evaluator (`engine.py`) only runs the steps. Adding a kind means adding a
Struct in `model.py` and a rule here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np
from msgspec import field

from flowtime.domain.compile.classes import ClassCompilation, ShareStep, SplitStep, compile_classes
from flowtime.domain.compile.flow import (
    Component,
    ConstraintUse,
    EdgeUse,
    FlowCompilation,
    buffer_expression,
    compile_flow,
)
from flowtime.domain.evaluate.random import node_uniforms, sample_pmf
from flowtime.domain.expressions.ast import Expr, Ref, references
from flowtime.domain.expressions.scalar import evaluate_feedback_group
from flowtime.domain.expressions.vector import as_series, evaluate
from flowtime.domain.modeling.grid import BIN_UNIT_MINUTES, parse_utc
from flowtime.domain.modeling.model import (
    DEFAULT_RNG_KIND,
    BufferNode,
    ConstNode,
    ExprNode,
    ModelDef,
    ModelNode,
    PmfNode,
    Profile,
    RouterNode,
    initial_conditions,
)
from flowtime.domain.modeling.profiles import (
    builtin_weights,
    clock_weights,
    expected_value,
    inline_weights,
)
from flowtime.domain.views.graph import plan_steps


class EvalContext(msgspec.Struct):
    """What one evaluation of a plan needs besides the plan."""

    bins: int
    seed: int
    rng_kind: str
    initial: Mapping[str, float]
    overrides: Mapping[str, np.ndarray] = field(default_factory=dict)
    env: dict[str, np.ndarray] = field(default_factory=dict)
    pmf_mode: str = "sample"  # sample (per-bin draws) | expected (the reference's E = Σ v·p)
    shares: Mapping[str, float] = field(default_factory=dict)  # class series -> source share
    feedback_work: int = 0  # member-bins in every feedback group (numba pays above a size)

    def hoist(self, expr: Expr) -> np.ndarray | float:
        value = evaluate(expr, self.env, self.bins, self.initial)
        return as_series(value, self.bins) if isinstance(value, np.ndarray) else float(value)


@dataclass(frozen=True, slots=True)
class ConstStep:
    node_id: str
    values: tuple[float, ...]
    # the values as float64, converted once per plan (not once per evaluation: a year of
    # hourly values is 8,760 Python floats to convert)
    array: np.ndarray = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        array = np.array(self.values, dtype=np.float64)
        array.flags.writeable = False
        object.__setattr__(self, "array", array)

    @property
    def nodes(self) -> tuple[str, ...]:
        return (self.node_id,)

    def run(self, ctx: EvalContext) -> None:
        override = ctx.overrides.get(self.node_id)
        if override is not None:
            ctx.env[self.node_id] = np.array(override, dtype=np.float64)
        else:
            ctx.env[self.node_id] = self.array.copy()


class PmfStep(msgspec.Struct, frozen=True):
    node_id: str
    values: tuple[float, ...]
    probabilities: tuple[float, ...]
    profile: tuple[float, ...] | None = None  # time-of-day weights, averaging 1

    @property
    def nodes(self) -> tuple[str, ...]:
        return (self.node_id,)

    def run(self, ctx: EvalContext) -> None:
        if ctx.pmf_mode == "expected":
            series = np.full(ctx.bins, expected_value(self.values, self.probabilities))
        else:
            uniforms = node_uniforms(ctx.rng_kind, ctx.seed, self.node_id, ctx.bins)
            series = sample_pmf(list(self.values), list(self.probabilities), uniforms)
        if self.profile is not None:
            series = series * np.asarray(self.profile)
        ctx.env[self.node_id] = series


@dataclass(frozen=True, slots=True)
class ExprStep:
    node_id: str
    ast: Expr
    # the series the expression reads (its result may be one of them: then it is copied)
    reads: tuple[str, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reads", tuple({r.name for r in references(self.ast)}))

    @property
    def nodes(self) -> tuple[str, ...]:
        return (self.node_id,)

    def run(self, ctx: EvalContext) -> None:
        override = ctx.overrides.get(self.node_id)
        if override is not None:  # a knob set the node (analysis, what-if sessions)
            ctx.env[self.node_id] = np.array(override, dtype=np.float64)
            return
        value = evaluate(self.ast, ctx.env, ctx.bins, ctx.initial)
        env = ctx.env
        if (isinstance(value, np.ndarray) and value.base is None and value.dtype == np.float64
                and value.shape[-1:] == (ctx.bins,) and value.ndim <= 2
                and not any(value is env.get(name) for name in self.reads)):
            env[self.node_id] = value  # a fresh result: no copy needed
        else:
            env[self.node_id] = as_series(value, ctx.bins)


class FeedbackStep(msgspec.Struct, frozen=True):
    """Nodes on a loop through a delay, in same-bin dependency order, run bin by bin."""

    members: tuple[str, ...]
    asts: Mapping[str, Expr]

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.members

    def run(self, ctx: EvalContext) -> None:
        ctx.env.update(evaluate_feedback_group(list(self.members), self.asts, ctx.bins,
                                               ctx.initial, ctx.hoist, ctx.feedback_work))


Step = ConstStep | PmfStep | ExprStep | FeedbackStep | ShareStep | SplitStep


class CompiledNode(msgspec.Struct, frozen=True):
    """One node as the compiler sees it: what it reads, and its vectorised step. `ast` is
    its expression form, which a feedback group evaluates bin by bin (None: the node can
    never be on a loop because it reads nothing)."""

    step: Step
    reads: frozenset[str] = frozenset()
    reads_now: frozenset[str] = frozenset()  # read in the same bin (not through a delay)
    ast: Expr | None = None


def _const(node: ConstNode, asts: Mapping[str, Expr]) -> CompiledNode:
    return CompiledNode(ConstStep(node.id, tuple(node.values)))


def _pmf(node: PmfNode, asts: Mapping[str, Expr], grid: GridShape) -> CompiledNode:
    weights = None
    if node.profile is not None:
        weights = tuple(profile_weights(node.profile, grid).tolist())
    return CompiledNode(PmfStep(node.id, tuple(node.pmf.values), tuple(node.pmf.probabilities),
                                weights))


def expression_node(node_id: str, ast: Expr) -> CompiledNode:
    refs = references(ast)
    return CompiledNode(ExprStep(node_id, ast), frozenset(r.name for r in refs),
                        frozenset(r.name for r in refs if not r.delayed), ast)


def _expr(node: ExprNode, asts: Mapping[str, Expr]) -> CompiledNode:
    return expression_node(node.id, asts[node.id])


def _buffer(node: BufferNode, asts: Mapping[str, Expr]) -> CompiledNode:
    return expression_node(node.id, buffer_expression(node))


def _router(node: RouterNode, asts: Mapping[str, Expr]) -> CompiledNode:
    # The router's own series is its source; its targets come from the flow compiler.
    return expression_node(node.id, Ref(node.spec.inputs.queue))


RULES: dict[type, Callable[..., CompiledNode]] = {
    ConstNode: _const,
    PmfNode: _pmf,
    ExprNode: _expr,
    RouterNode: _router,
    BufferNode: _buffer,
}


class EvaluationPlan(msgspec.Struct, frozen=True):
    """A compiled model: steps in evaluation order and what every evaluation shares."""

    steps: tuple[Step, ...]
    asts: Mapping[str, Expr]  # expression form of every node that has one
    initial: Mapping[str, float]
    rng_kind: str
    node_ids: tuple[str, ...]  # every series: the model's, then the synthesized ones
    components: tuple[Component, ...] = ()  # the topology, compiled
    constraints: tuple[ConstraintUse, ...] = ()
    edges: tuple[EdgeUse, ...] = ()
    roles: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # synthesized series ->
    # (flow | state | derived, component id)
    classes: tuple[str, ...] = ()  # declared class ids
    feedback_members: int = 0  # nodes in feedback groups (× bins: the loops' work)
    class_rates: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # source
    # node -> its declared rate per class (knobs `node.classId` change them)
    class_series: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # series ->
    # its class series (`x__class_c`, in class order); not in node_ids
    # per step, the series it reads that other steps make (through SHIFT too): what a
    # change must re-run downstream (`evaluate.engine.reevaluate`)
    step_reads: tuple[frozenset[str], ...] = ()

    def class_ids(self) -> list[str]:
        return [name for names in self.class_series.values() for name in names]


class GridShape(msgspec.Struct, frozen=True):
    """What compile rules may need of the grid."""

    bins: int
    starts: tuple[datetime, ...]  # each bin's start (UTC)


def grid_shape(definition: ModelDef) -> GridShape:
    start = parse_utc(definition.window.start or definition.grid.start or "") or datetime(
        1970, 1, 1, tzinfo=UTC)
    minutes = definition.grid.bin_size * BIN_UNIT_MINUTES.get(definition.grid.bin_unit, 1)
    bins = definition.grid.bins
    return GridShape(bins, tuple(start + timedelta(minutes=i * minutes) for i in range(bins)))


def profile_weights(profile: Profile, grid: GridShape) -> np.ndarray:
    if profile.kind == "inline":
        return inline_weights(profile.weights or [])
    if profile.align == "clock":
        return clock_weights(profile.name or "", grid.starts)
    return builtin_weights(profile.name or "", grid.bins)


def compile_node(node: ModelNode, asts: Mapping[str, Expr], grid: GridShape) -> CompiledNode:
    if isinstance(node, PmfNode):
        return _pmf(node, asts, grid)
    return RULES[type(node)](node, asts)


def compile_model(
    definition: ModelDef, asts: Mapping[str, Expr], flow: FlowCompilation | None = None,
    classes: ClassCompilation | None = None,
) -> tuple[EvaluationPlan, list[list[str]]]:
    """The plan, plus every delay-free cycle found (each a closed node path; the plan is
    only usable when there is none). `asts` holds every expression node's parsed AST;
    `flow` and `classes` the flow and class compilers' results (computed when not given)."""
    flow = flow if flow is not None else compile_flow(definition)
    classes = classes if classes is not None else compile_classes(definition, asts, flow)
    grid = grid_shape(definition)
    compiled = {node.id: compile_node(node, asts, grid) for node in definition.nodes}
    for synthesized in flow.series:
        compiled[synthesized.node_id] = expression_node(synthesized.node_id, synthesized.ast)
    node_ids = tuple(compiled)
    for cls in classes.nodes:
        if cls.step is not None:
            compiled[cls.name] = CompiledNode(cls.step, cls.reads, cls.reads)
        else:
            assert cls.ast is not None
            compiled[cls.name] = expression_node(cls.name, cls.ast)
    reads = {node_id: set(c.reads) for node_id, c in compiled.items()}
    reads_now = {node_id: set(c.reads_now) for node_id, c in compiled.items()}
    order, cycles = plan_steps(reads, reads_now)
    steps: list[Step] = []
    step_reads: list[frozenset[str]] = []
    for group in order:
        step_reads.append(frozenset().union(*(reads[n] for n in group.nodes))
                          - set(group.nodes))
        if group.feedback:
            members = group.nodes
            steps.append(FeedbackStep(members, {m: compiled[m].ast for m in members
                                                if compiled[m].ast is not None}))
        else:
            steps.append(compiled[group.nodes[0]].step)
    rng = definition.rng
    plan = EvaluationPlan(
        steps=tuple(steps),
        step_reads=tuple(step_reads),
        asts={k: c.ast for k, c in compiled.items() if c.ast is not None},
        initial={**flow.initial, **initial_conditions(definition)},
        rng_kind=rng.kind if rng is not None else DEFAULT_RNG_KIND,
        node_ids=node_ids,
        components=tuple(flow.components),
        constraints=tuple(flow.constraints),
        edges=tuple(flow.edges),
        roles={s.node_id: (s.role, s.component) for s in flow.series},
        classes=classes.classes,
        feedback_members=sum(len(s.members) for s in steps if isinstance(s, FeedbackStep)),
        class_series=dict(classes.series),
        class_rates={k: dict(v) for k, v in classes.sources.items()},
    )
    return plan, cycles
