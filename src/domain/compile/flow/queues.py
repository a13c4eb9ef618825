"""The queue-like family (`serviceWithBuffer`, `queue`, `dlq`, a `service` whose queueDepth
is `self`; MODELING §1.1): the queue recurrence with WIP limits, overflow routing between
queues, dispatch gating, parallelism and loss; and a `serviceWithBuffer` model node's own
queue."""

from __future__ import annotations

import math

from flowtime.domain.compile.flow.base import Builder, add_all, call, mul, past, ref, safe, sub
from flowtime.domain.compile.kinds import kind_of
from flowtime.domain.expressions.ast import BinOp, Expr, Num
from flowtime.domain.modeling.model import BufferNode, TopologyNode
from flowtime.domain.modeling.names import snake


def buffer_expression(node: BufferNode) -> Expr:
    """The queue recurrence of a `serviceWithBuffer` model node (its own series)."""
    outflow: Expr = ref(node.outflow)
    if node.dispatch_schedule is not None:
        schedule = node.dispatch_schedule
        period = schedule.period_bins
        amount = outflow if not schedule.capacity_series else call(
            "MIN", outflow, safe(ref(schedule.capacity_series), math.inf))
        outflow = call("PULSE", Num(float(period)), Num(float(schedule.phase_offset % period)),
                        amount)
    loss = safe(ref(node.loss)) if node.loss else Num(0.0)
    grown = BinOp("+", past(node.id), safe(ref(node.inflow)))
    return call("MAX", Num(0.0), sub(sub(grown, safe(outflow)), loss))


# -- queues ------------------------------------------------------------------------------

def overflow_targets(b: Builder, nodes: list[TopologyNode], queues: dict[str, int]
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


def compile_queue(b: Builder, i: int, tnode: TopologyNode, metrics: dict[str, str],
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
    capacity = effective_capacity(b, i, tnode)
    if capacity:
        metrics["capacity"] = capacity
    if name in b.defined:
        return  # the model writes this queue itself (a SHIFT recurrence): keep it
    ic = tnode.initial_condition
    if ic is not None and ic.queue_depth is not None:
        b.out.initial[name] = float(ic.queue_depth)
    # a DLQ fed only by overflow has no arrivals series of its own
    inflow: list[Expr] = [safe(ref(admitted or sem.arrivals))] if (admitted or sem.arrivals) else []
    for source in overflow_sources:
        feed = f"{s}_inflow_from_{snake(source)}"
        inflow.append(safe(ref(b.add(feed, ref(f"{snake(source)}_overflow"), "flow",
                                       tnode.id))))
    arrivals = add_all(inflow)
    own = admitted or sem.arrivals
    inflow_names = [*([own] if own else []),
                    *(f"{s}_inflow_from_{snake(source)}" for source in overflow_sources)]
    if not own:  # a DLQ fed only by overflow: its arrivals are what overflows into it
        metrics["arrivals"] = b.add(f"{s}_arrivals", arrivals, "flow", tnode.id)
    for series in (name, f"{s}_overflow", f"{s}_served"):
        b.out.mix[series] = inflow_names  # class shares follow the whole inflow
    # a DLQ without served or capacity holds what reaches it (outflow 0)
    outflow: Expr = (ref(sem.served) if sem.served else ref(capacity or sem.capacity)
                     if (capacity or sem.capacity) else Num(0.0))
    if tnode.dispatch_schedule is not None:
        outflow = ref(b.add(f"{s}_gated_outflow", gate(tnode, outflow), "flow", tnode.id))
    loss = safe(ref(sem.errors)) if sem.errors else Num(0.0)
    pre = call("MAX", Num(0.0), sub(sub(BinOp("+", past(name), arrivals), safe(outflow)),
                                      loss))
    limit: Expr | None = None
    if tnode.wip_limit_series:
        limit = ref(tnode.wip_limit_series)
    elif tnode.wip_limit is not None:
        # its own series, so the knob `Node.wipLimit` can set it without recompiling
        limit = ref(b.add(f"{s}_wip_limit", Num(float(tnode.wip_limit)), "state", tnode.id))
    if limit is None:
        b.add(name, pre, "state", tnode.id)
    else:
        bounded = safe(limit, math.inf)
        b.add(name, call("MIN", pre, bounded), "state", tnode.id)
        b.add(f"{s}_overflow", call("MAX", Num(0.0), sub(pre, bounded)), "flow", tnode.id)
    if not sem.served:
        # Ours: with capacity as the outflow, what actually left (so utilization exists).
        served = call("MAX", Num(0.0), call("MIN", sub(BinOp("+", past(name), arrivals),
                                                          loss), safe(outflow)))
        metrics["served"] = b.add(f"{s}_served", served, "flow", tnode.id)


def effective_capacity(b: Builder, i: int, tnode: TopologyNode) -> str | None:
    """`{s}_effective_capacity` = capacity × parallelism, when both are given."""
    sem = tnode.semantics
    if sem.capacity is None or sem.parallelism is None:
        return sem.capacity
    p: Expr = ref(sem.parallelism) if isinstance(sem.parallelism, str) else Num(
        float(sem.parallelism))
    factor = call("IF", safe(p), safe(p), Num(1.0))  # missing, ≤ 0 or non-finite: 1
    return b.add(f"{snake(tnode.id)}_effective_capacity", mul(ref(sem.capacity), factor),
                 "flow", tnode.id)


def gate(tnode: TopologyNode, outflow: Expr) -> Expr:
    """Outflow only on dispatch bins: t ≥ phase and (t − phase) mod period = 0."""
    schedule = tnode.dispatch_schedule
    assert schedule is not None
    period = schedule.period_bins
    phase = schedule.phase_offset % period
    amount = outflow
    if schedule.capacity_series:
        amount = call("MIN", outflow, safe(ref(schedule.capacity_series), math.inf))
    return call("PULSE", Num(float(period)), Num(float(phase)), amount)
