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
- `edge_flow_mismatch_outgoing`: a node's served differs from the flow on its outgoing
  throughput edges that carry served (a multiplier other than 1, or routes not drawn);
- `edge_class_mismatch`: for a class, a node's arrivals of that class differ from that
  class's flow on its incoming edges, in bins where the totals agree (so a total mismatch
  is reported once, as `edge_flow_mismatch_incoming`);
- `queue_depth_mismatch`: a queue-like node whose queue series the model supplies (written
  by hand, or telemetry) differs from the §1.1 recurrence re-simulated from its arrivals,
  outflow (served, else capacity) and errors, starting from its initial condition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from flowtime.domain.compile.compiler import EvaluationPlan
from flowtime.domain.compile.flow import EdgeUse
from flowtime.domain.compile.kinds import kind_of
from flowtime.domain.modeling.model import ModelDef
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
        serves_backlog = component.queue_like or kind_of(component.category).holds_backlog
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
    found.extend(_outgoing(plan, values))
    found.extend(_supplied_queues(model, plan, values))
    return found


def _grouped(plan: EvaluationPlan, values: Mapping[str, np.ndarray], by_origin: bool,
             accept: Callable[[EdgeUse], bool]) -> dict[str, list[EdgeUse]]:
    """Accepted edges with a written flow, by source (or destination) node."""
    groups: dict[str, list[EdgeUse]] = {}
    for edge in plan.edges:
        if edge.series in values and accept(edge):
            groups.setdefault(edge.origin if by_origin else edge.destination, []).append(edge)
    return groups


def _metric(plan: EvaluationPlan, values: Mapping[str, np.ndarray], node: str,
            metric: str) -> tuple[str, np.ndarray] | None:
    """A topology node's metric series (NaN and ±inf as 0), if the run has it."""
    component = next((c for c in plan.components if c.id == node), None)
    series = component.metrics.get(metric) if component else None
    if series is None or series not in values:
        return None
    return series, _safe(values[series])


def _carries_served(edge: EdgeUse) -> bool:
    return edge.type == "throughput" and (edge.measure or "served").lower() not in (
        "attempts", "load", "errors", "failures")


def _outgoing(plan: EvaluationPlan, values: Mapping[str, np.ndarray]) -> list[RunWarning]:
    found = []
    for source, edges in _grouped(plan, values, True, _carries_served).items():
        metric = _metric(plan, values, source, "served")
        if metric is None:
            continue
        outgoing = np.sum([_safe(values[str(e.series)]) for e in edges], axis=0)
        gap = np.abs(metric[1] - outgoing)
        found.extend(_per_bin("edge_flow_mismatch_outgoing", source,
                              "served differs from the flow on its outgoing edges",
                              gap > TOLERANCE, gap, None, tuple(e.id for e in edges)))
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
    flowing = _grouped(plan, values, False,
                       lambda e: e.type in ("throughput", "effort", "dependency"))
    for target, edges in flowing.items():
        metric = _metric(plan, values, target, "arrivals")
        if metric is None:
            continue
        arrivals_id, arrivals = metric
        incoming = np.sum([_lagged(_safe(values[str(e.series)]), e.lag) for e in edges], axis=0)
        gap = np.abs(arrivals - incoming)
        edge_ids = tuple(e.id for e in edges)
        found.extend(_per_bin("edge_flow_mismatch_incoming", target,
                              "arrivals differ from the flow on its incoming edges",
                              gap > TOLERANCE, gap, None, edge_ids))
        found.extend(_incoming_classes(plan, values, target, arrivals_id, edges,
                                       gap <= TOLERANCE))
    return found


def _lagged(flow: np.ndarray, lag: int) -> np.ndarray:
    out = np.zeros_like(flow)
    lag = min(lag, len(flow))
    out[lag:] = flow[:len(flow) - lag]
    return out


def _incoming_classes(plan: EvaluationPlan, values: Mapping[str, np.ndarray], target: str,
                      arrivals_id: str, edges: list, totals_agree: np.ndarray
                      ) -> list[RunWarning]:
    """Per class: arrivals of the class vs the class's incoming flow, where totals agree."""
    arrivals_classes = plan.class_series.get(arrivals_id)
    if not arrivals_classes:
        return []
    worst = np.zeros(len(totals_agree))
    classes_off: list[str] = []
    for k, class_id in enumerate(plan.classes):
        incoming = np.zeros(len(totals_agree))
        for edge in edges:
            names = plan.class_series.get(edge.series)
            if names is not None and names[k] in values:
                incoming += _lagged(_safe(values[names[k]]), edge.lag)
        gap = np.abs(_safe(values[arrivals_classes[k]]) - incoming)
        gap = np.where(totals_agree, gap, 0.0)
        if (gap > TOLERANCE).any():
            classes_off.append(class_id)
            worst = np.maximum(worst, gap)
    if not classes_off:
        return []
    return _per_bin("edge_class_mismatch", target,
                    f"arrivals of class {', '.join(classes_off)} differ from that class's flow "
                    "on its incoming edges", worst > TOLERANCE, worst, None,
                    tuple(e.id for e in edges))
