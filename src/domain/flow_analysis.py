"""Where a flow is held up, over a window of bins (MODELING §5 "Ours"; the reference lists
these as planned and never built them). One sentence each:

- `bottleneck`: a node whose queue grew over the window and whose mean utilization is the
  highest among the growing queues on its path (the nodes its edges connect it to, up- and
  downstream).
- `starved`: a node with capacity that received nothing in bins where a queue upstream of
  it (through throughput edges) held work.
- `blocked`: a node whose WIP limit overflowed (work turned away or sent elsewhere).

Inputs are plain arrays (NaN and ±inf count as 0), so the run-level summary
(`analysis.bottlenecks` in metadata.json) and `/state_window` apply the same rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowtime.domain.flow import Component, EdgeUse

TOLERANCE = 1e-6
MAX_BINS = 5


@dataclass(frozen=True, slots=True)
class NodeFlow:
    """What the rules read of one topology node (None: the node has no such series)."""

    id: str
    queue: np.ndarray | None = None
    served: np.ndarray | None = None
    capacity: np.ndarray | None = None
    arrivals: np.ndarray | None = None
    overflow: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    code: str  # bottleneck | starved | blocked
    node_id: str
    message: str
    bins: tuple[int, ...]  # the first few bins it applies to (absolute bin indices)
    nodes: tuple[str, ...] = ()  # the other nodes involved
    value: float | None = None
    utilization: float | None = None
    growth: float | None = None


@dataclass(frozen=True, slots=True)
class Links:
    """Throughput edges as neighbour sets."""

    upstream: dict[str, set[str]] = field(default_factory=dict)  # transitive predecessors
    path: dict[str, set[str]] = field(default_factory=dict)  # transitive up- and downstream

    @staticmethod
    def of(edges: Iterable[tuple[str, str]]) -> Links:
        before: dict[str, set[str]] = {}
        after: dict[str, set[str]] = {}
        for origin, destination in edges:
            if origin != destination:
                before.setdefault(destination, set()).add(origin)
                after.setdefault(origin, set()).add(destination)
        nodes = set(before) | set(after)
        upstream = {n: _reach(n, before) for n in nodes}
        downstream = {n: _reach(n, after) for n in nodes}
        return Links(upstream, {n: upstream[n] | downstream[n] for n in nodes})


def _reach(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(graph.get(start, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(graph.get(node, ()))
    seen.discard(start)
    return seen


def _finite_or_zero(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, 0.0)


def _same(values: np.ndarray) -> np.ndarray:
    return values


def _first(mask: np.ndarray, start: int) -> tuple[int, ...]:
    return tuple(int(i) + start for i in np.flatnonzero(mask)[:MAX_BINS])


def _mean_utilization(node: NodeFlow, window: slice,
                      clean: Callable[[np.ndarray], np.ndarray]) -> float | None:
    if node.served is None or node.capacity is None:
        return None
    capacity = clean(node.capacity[window])
    served = clean(node.served[window])
    valid = capacity > 0
    if not valid.any():
        return None
    return float((served[valid] / capacity[valid]).mean())


def analyse(nodes: list[NodeFlow], links: Links, start: int, end: int,
            cleaned: bool = False) -> list[Finding]:
    """Bottlenecks, starved and blocked nodes in bins start..end (inclusive). `cleaned`:
    the series already hold 0 where they were not finite (a loaded run cleans them once)."""
    _clean = _same if cleaned else _finite_or_zero
    window = slice(start, end + 1)
    found: list[Finding] = []
    growing: dict[str, tuple[float, float, tuple[int, ...]]] = {}
    for node in nodes:
        if node.queue is None:
            continue
        queue = _clean(node.queue)
        before = queue[start - 1] if start > 0 else 0.0
        growth = float(queue[end] - before)
        if growth > TOLERANCE:
            rises = np.diff(np.concatenate(([before], queue[window]))) > TOLERANCE
            utilization = _mean_utilization(node, window, _clean)
            growing[node.id] = (-1.0 if utilization is None else utilization, growth,
                                _first(rises, start))
    for node_id, (utilization, growth, bins) in growing.items():
        rivals = [n for n in links.path.get(node_id, ()) if n in growing]
        if any(growing[r][0] > utilization for r in rivals):
            continue
        shown = f"{utilization:.2f}" if utilization >= 0 else "unknown"
        on_path = sorted(links.path.get(node_id, ()))
        found.append(Finding(
            "bottleneck", node_id,
            f"{node_id}: the queue grew by {growth:g} over the window at {shown} mean "
            "utilization, the highest of the growing queues on its path"
            + (f" ({', '.join(on_path)})" if on_path else ""),
            bins, tuple(on_path), growth, utilization if utilization >= 0 else None, growth))
    # which queues hold work in which bins, once per queue (not once per node downstream)
    working = {n.id: _clean(n.queue[window]) > TOLERANCE for n in nodes if n.queue is not None}
    holding = {node_id: bool(mask.any()) for node_id, mask in working.items()}
    for node in nodes:
        if node.capacity is None or node.arrivals is None:
            continue
        upstream = [u for u in sorted(links.upstream.get(node.id, ())) if u in working]
        if not upstream:
            continue
        holders = [u for u in upstream if holding[u]]
        if not holders:
            continue  # nothing upstream ever held work: the node cannot be starved
        held = np.logical_or.reduce([working[u] for u in holders])
        idle = ((_clean(node.capacity[window]) > TOLERANCE)
                & (_clean(node.arrivals[window]) <= TOLERANCE) & held)
        if idle.any():
            found.append(Finding(
                "starved", node.id,
                f"{node.id}: capacity but no arrivals in {int(idle.sum())} bins while "
                f"{', '.join(holders)} held work upstream", _first(idle, start),
                tuple(holders), float(idle.sum())))
    for node in nodes:
        if node.overflow is None:
            continue
        overflow = _clean(node.overflow[window])
        over = overflow > TOLERANCE
        if over.any():
            found.append(Finding(
                "blocked", node.id,
                f"{node.id}: the WIP limit overflowed in {int(over.sum())} bins "
                f"({overflow.sum():g} turned away or sent on)", _first(over, start), (),
                float(overflow.sum())))
    return found


def node_flow(node_id: str, metrics: Mapping[str, np.ndarray],
              overflow: np.ndarray | None) -> NodeFlow:
    """The rules' view of one node from its metric series (camelCase names, as in /state)."""
    return NodeFlow(node_id, queue=metrics.get("queue"), served=metrics.get("served"),
                    capacity=metrics.get("capacity"), arrivals=metrics.get("arrivals"),
                    overflow=overflow)


def node_flows(components: Iterable[Component],
               series: Callable[[str], np.ndarray | None]) -> list[NodeFlow]:
    """The rules' view of compiled topology nodes; `series` looks a series up by name."""
    flows = []
    for c in components:
        metrics = {k: v for k, name in c.metrics.items() if (v := series(name)) is not None}
        flows.append(node_flow(c.id, metrics, series(c.overflow) if c.overflow else None))
    return flows


def throughput_links(edges: Iterable[EdgeUse | Any]) -> Links:
    """Links over the edges that carry flow (anything with origin, destination and type:
    compiled edges, or the edges of a loaded run)."""
    return Links.of((e.origin, e.destination) for e in edges
                    if e.type in ("throughput", "effort", "dependency"))
