"""Run-level checks (MODELING §5): facts about the evaluated series that a modeller should
see, written to run.json and model/metadata.json as warnings. Tolerance 1e-6; at most the
first five offending bins are listed.

- `served_exceeds_capacity`: served above (effective) capacity;
- `served_exceeds_arrivals`: served above arrivals (not for queue-like or dependency nodes,
  which may serve what waited);
- `errors_exceed_arrivals`;
- `<metric>_negative`: a metric series below zero;
- `dispatch_never_releases`: a dispatch schedule with no dispatch bin inside the grid;
- `edge_flow_mismatch_incoming`: a node's arrivals differ from the flow on its incoming
  throughput edges (shifted by each edge's lag) — only for nodes that have such edges;
- `queue_depth_mismatch`: a queue-like node whose queue series the model supplies (written
  by hand, or telemetry) differs from the §1.1 recurrence re-simulated from its arrivals,
  outflow (served, else capacity) and errors, starting from its initial condition.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from flowtime.domain.compiler import EvaluationPlan
from flowtime.domain.model import ModelDef
from flowtime.domain.runs import RunWarning

TOLERANCE = 1e-6
MAX_BINS = 5


def _bins(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.flatnonzero(mask)[:MAX_BINS])


def _safe(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, 0.0)


def _per_bin(code: str, node: str, what: str, mask: np.ndarray, amount: np.ndarray,
             unit: str | None, edge_ids: tuple[str, ...] | None = None) -> list[RunWarning]:
    """One warning for the bins in `mask` (none if it is empty): how many, the first few,
    and — with `unit` — the largest `amount` among them."""
    if not mask.any():
        return []
    largest = float(amount[mask].max())
    detail = f"; at most {largest:g} {unit}" if unit else ""
    return [RunWarning(
        code, f"{node}: {what} in {int(mask.sum())} bins (first: "
        f"{', '.join(map(str, _bins(mask)))}{detail})", node_id=node, bins=_bins(mask),
        value=largest, edge_ids=edge_ids)]


def run_checks(model: ModelDef, plan: EvaluationPlan,
               values: Mapping[str, np.ndarray]) -> list[RunWarning]:
    found: list[RunWarning] = []

    def warn(code: str, node: str, mask: np.ndarray, excess: np.ndarray, what: str) -> None:
        found.extend(_per_bin(code, node, what, mask, excess, "over"))

    for component in plan.components:
        m = {k: _safe(values[v]) for k, v in component.metrics.items() if v in values}
        served, capacity, arrivals, errors = (m.get(k) for k in ("served", "capacity",
                                                                  "arrivals", "errors"))
        if served is not None and capacity is not None:
            over = served - capacity
            warn("served_exceeds_capacity", component.id, over > TOLERANCE, over,
                 "served exceeds capacity")
        serves_backlog = component.queue_like or component.category == "dependency"
        if served is not None and arrivals is not None and not serves_backlog:
            over = served - arrivals
            warn("served_exceeds_arrivals", component.id, over > TOLERANCE, over,
                 "served exceeds arrivals")
        if errors is not None and arrivals is not None:
            over = errors - arrivals
            warn("errors_exceed_arrivals", component.id, over > TOLERANCE, over,
                 "errors exceed arrivals")
        for metric, series in m.items():
            if metric in ("served", "capacity", "arrivals", "errors", "queue", "attempts",
                          "failures"):
                warn(f"{metric}_negative", component.id, series < -TOLERANCE, -series,
                     f"{metric} is negative")
    bins = model.grid.bins
    for tnode in model.topology.nodes:
        schedule = tnode.dispatch_schedule
        if schedule is not None and schedule.phase_offset % schedule.period_bins >= bins:
            found.append(RunWarning(
                "dispatch_never_releases", f"{tnode.id}: the dispatch schedule (every "
                f"{schedule.period_bins} bins from bin {schedule.phase_offset}) never releases "
                f"within {bins} bins", node_id=tnode.id))
    found.extend(_incoming(plan, values))
    found.extend(_supplied_queues(model, plan, values))
    return found


def resimulate_queue(arrivals: np.ndarray, outflow: np.ndarray, loss: np.ndarray,
                     initial: float) -> np.ndarray:
    """MODELING §1.1 without a WIP limit: Q[t] = max(0, Q[t-1] + in − out − loss)."""
    queue = np.empty_like(arrivals)
    previous = initial
    for t, change in enumerate((arrivals - outflow - loss).tolist()):
        previous = max(0.0, previous + change)
        queue[t] = previous
    return queue


def _supplied_queues(model: ModelDef, plan: EvaluationPlan,
                     values: Mapping[str, np.ndarray]) -> list[RunWarning]:
    found = []
    tnodes = {t.id: t for t in model.topology.nodes}
    for component in plan.components:
        m = component.metrics
        queue_id = m.get("queue")
        outflow_id = m.get("served") or m.get("capacity")
        if (not component.queue_like or queue_id is None or queue_id in plan.roles
                or queue_id not in values or m.get("arrivals") not in values
                or outflow_id not in values):
            continue
        tnode = tnodes.get(component.id)
        ic = tnode.initial_condition if tnode is not None else None
        initial = plan.initial.get(queue_id, ic.queue_depth if ic and ic.queue_depth else 0.0)
        errors = m.get("errors")
        loss = _safe(values[errors]) if errors in values else np.zeros(model.grid.bins)
        expected = resimulate_queue(_safe(values[m["arrivals"]]), _safe(values[outflow_id]),
                                    loss, float(initial))
        gap = np.abs(_safe(values[queue_id]) - expected)
        found.extend(_per_bin("queue_depth_mismatch", component.id,
                              f"the supplied queue '{queue_id}' differs from the queue "
                              "re-simulated from arrivals, outflow and errors",
                              gap > TOLERANCE, gap, "apart"))
    return found


def _incoming(plan: EvaluationPlan, values: Mapping[str, np.ndarray]) -> list[RunWarning]:
    found = []
    components = {c.id: c for c in plan.components}
    by_target: dict[str, list] = {}
    for edge in plan.edges:
        if edge.type in ("throughput", "effort", "dependency") and edge.series in values:
            by_target.setdefault(edge.destination, []).append(edge)
    for target, edges in by_target.items():
        component = components.get(target)
        arrivals_id = component.metrics.get("arrivals") if component else None
        if arrivals_id is None or arrivals_id not in values:
            continue
        arrivals = _safe(values[arrivals_id])
        incoming = np.zeros_like(arrivals)
        for edge in edges:
            flow = _safe(values[edge.series])
            lag = min(edge.lag, len(flow))
            incoming[lag:] += flow[:len(flow) - lag]
        gap = np.abs(arrivals - incoming)
        found.extend(_per_bin("edge_flow_mismatch_incoming", target,
                              "arrivals differ from the flow on its incoming edges",
                              gap > TOLERANCE, gap, None, tuple(e.id for e in edges)))
    return found
