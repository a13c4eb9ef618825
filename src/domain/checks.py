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
  throughput edges (shifted by each edge's lag) — only for nodes that have such edges.
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


def run_checks(model: ModelDef, plan: EvaluationPlan,
               values: Mapping[str, np.ndarray]) -> list[RunWarning]:
    found: list[RunWarning] = []

    def warn(code: str, node: str, mask: np.ndarray, excess: np.ndarray, what: str) -> None:
        if mask.any():
            found.append(RunWarning(
                code, f"{node}: {what} in {int(mask.sum())} bins (first: "
                f"{', '.join(map(str, _bins(mask)))}; at most {float(excess[mask].max()):g} over)",
                node_id=node, bins=_bins(mask), value=float(excess[mask].max())))

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
        mask = gap > TOLERANCE
        if mask.any():
            found.append(RunWarning(
                "edge_flow_mismatch_incoming", f"{target}: arrivals differ from the flow on "
                f"its incoming edges in {int(mask.sum())} bins (first: "
                f"{', '.join(map(str, _bins(mask)))})", node_id=target, bins=_bins(mask),
                value=float(gap[mask].max()), edge_ids=tuple(e.id for e in edges)))
    return found
