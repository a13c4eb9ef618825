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

One module per family of kinds: queues.py (queue-like), services.py (service, sink,
dependency; retries), routers.py, constraints.py, edges.py; metrics.py wires the derived
metrics; base.py holds the records, helpers and the Builder. compile_flow (here) runs
them in order. What differs by kind as data is the kinds table (compile/kinds.py).
"""

from __future__ import annotations

from flowtime.domain.compile.flow.base import (
    Builder,
    Component,
    ConstraintUse,
    EdgeUse,
    FlowCompilation,
    RouteUse,
    Synthesized,
    call,
    category,
    is_queue_like,
    metric_items,
    ref,
    safe,
)
from flowtime.domain.compile.flow.constraints import compile_constraints
from flowtime.domain.compile.flow.edges import compile_edges
from flowtime.domain.compile.flow.metrics import derived_metrics
from flowtime.domain.compile.flow.queues import buffer_expression, compile_queue, overflow_targets
from flowtime.domain.compile.flow.routers import compile_routers
from flowtime.domain.compile.flow.services import (
    DEFAULT_RETRY_KERNEL,
    MAX_KERNEL,
    retry_echo,
    retry_kernel,
    sink_served,
)
from flowtime.domain.compile.kinds import kind_of
from flowtime.domain.modeling.model import BufferNode, ModelDef
from flowtime.domain.modeling.names import snake

__all__ = [
    "DEFAULT_RETRY_KERNEL",
    "MAX_KERNEL",
    "Builder",
    "Component",
    "ConstraintUse",
    "EdgeUse",
    "FlowCompilation",
    "RouteUse",
    "Synthesized",
    "buffer_expression",
    "category",
    "compile_flow",
    "retry_kernel",
]


def compile_flow(model: ModelDef) -> FlowCompilation:
    """Every synthesized series, the compiled components and the problems found."""
    b = Builder(model)
    compile_routers(b)
    nodes = model.topology.nodes
    buffers = {n.id for n in model.nodes if isinstance(n, BufferNode)}
    by_id = {n.id: n for n in model.nodes}
    queues = {t.id: i for i, t in enumerate(nodes) if is_queue_like(t, buffers)}
    overflow_into = overflow_targets(b, nodes, queues)
    capped = compile_constraints(b, nodes)
    for i, tnode in enumerate(nodes):
        metrics: dict[str, str] = {k: v for k, v in metric_items(tnode)}
        derived_names: tuple[str, ...] = ()
        if tnode.id in queues:
            compile_queue(b, i, tnode, metrics, capped.get(tnode.id), overflow_into.get(tnode.id, []))
        elif tnode.id in capped and "served" in metrics and metrics["served"] != capped[tnode.id]:
            # MODELING §1.3 (turn 3): a node with its own served is capped by its allocation
            # of the constraint; every derived metric reads the capped series
            metrics["served"] = b.add(
                f"{snake(tnode.id)}_served_capped",
                call("MIN", safe(ref(metrics["served"])), ref(capped[tnode.id])),
                "flow", tnode.id)
            derived_names = ("served",)
        elif kind_of(tnode.kind).served_from_arrivals and "served" not in metrics \
                and "arrivals" in metrics:
            metrics["served"] = b.add(f"{snake(tnode.id)}_served", sink_served(tnode),
                                      "flow", tnode.id)
        echo = retry_echo(b, i, tnode)
        kingman = derived_metrics(b, tnode, metrics)
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
            constants=constants, derived=derived_names))
    compile_edges(b)
    return b.out
