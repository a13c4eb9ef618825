"""Where a flow is held up, over a window of bins (MODELING §5 "Ours"; the reference lists
these as planned and never built them). One sentence each:

- `bottleneck` (MODELING §5, turn 3): among the nodes that serve work (a capacity, or
  served < arrivals; never a `dlq`, a `sink` or a node reached only by terminal edges) and
  whose queue grew over the window (Q[last] − Q[first] > 0) or overflowed, the one with the
  highest mean utilization on its path (the nodes its edges connect it to, up- and
  downstream); ties: most overflow, then most growth. The message states its numbers.
- `starved`: a node with capacity that received nothing in bins where a queue upstream of
  it (through throughput edges) held work.
- `blocked`: a node whose WIP limit overflowed (work turned away or sent elsewhere).

Inputs are plain arrays (NaN and ±inf count as 0), so the run-level summary
(`analysis.bottlenecks` in metadata.json) and `/state_window` apply the same rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
import numpy as np
from msgspec import field

from flowtime.domain.compile import derived
from flowtime.domain.compile.flow import Component, EdgeUse
from flowtime.domain.compile.kinds import kind_of

TOLERANCE = 1e-6
MAX_BINS = 5


class NodeFlow(msgspec.Struct, frozen=True):
    """What the rules read of one topology node (None: the node has no such series)."""

    id: str
    queue: np.ndarray | None = None
    served: np.ndarray | None = None
    capacity: np.ndarray | None = None
    arrivals: np.ndarray | None = None
    overflow: np.ndarray | None = None
    serves: bool = True  # False for a dlq, a sink, a node reached only by terminal edges


class Finding(msgspec.Struct, frozen=True):
    code: str  # bottleneck | starved | blocked
    node_id: str
    message: str
    bins: tuple[int, ...]  # the first few bins it applies to (absolute bin indices)
    nodes: tuple[str, ...] = ()  # the other nodes involved
    value: float | None = None
    utilization: float | None = None
    growth: float | None = None
    span: tuple[int, int] | None = None  # the first and last bin it applies to


class Links(msgspec.Struct, frozen=True):
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


def _span(mask: np.ndarray, start: int) -> tuple[int, int] | None:
    hits = np.flatnonzero(mask)
    return (int(hits[0]) + start, int(hits[-1]) + start) if hits.size else None


def _mean_utilization(node: NodeFlow, window: slice,
                      clean: Callable[[np.ndarray], np.ndarray]) -> float | None:
    if node.served is None or node.capacity is None:
        return None
    utilization = derived.utilization(clean(node.served[window]), clean(node.capacity[window]))
    assert utilization is not None
    valid = ~np.isnan(utilization)  # bins where the capacity is > 0
    if not valid.any():
        return None
    return float(utilization[valid].mean())


class _Candidate(msgspec.Struct, frozen=True):
    """A node that qualifies as a bottleneck over a window, with the numbers it is ranked by."""

    utilization: float | None
    overflow: float
    first: float
    last: float
    bins: tuple[int, ...]
    span: tuple[int, int] | None = None

    @property
    def growth(self) -> float:
        return self.last - self.first

    @property
    def rank(self) -> tuple[float, float, float]:
        return (-1.0 if self.utilization is None else self.utilization, self.overflow,
                self.growth)

    def message(self, node_id: str, start: int, end: int, on_path: list[str]) -> str:
        facts = []
        if self.growth > TOLERANCE:
            facts.append(f"its queue went from {self.first:g} to {self.last:g} "
                         f"(+{self.growth:g})")
        if self.overflow > TOLERANCE:
            facts.append(f"{self.overflow:g} overflowed its WIP limit")
        shown = "unknown" if self.utilization is None else f"{self.utilization:.2f}"
        where = f" ({', '.join(on_path)})" if on_path else ""
        return (f"{node_id}: over bins {start}–{end} " + " and ".join(facts)
                + f" at {shown} mean utilization, the highest of the held-up nodes on its "
                f"path{where}")


def _candidate(node: NodeFlow, start: int, end: int,
               clean: Callable[[np.ndarray], np.ndarray]) -> _Candidate | None:
    """The node's numbers when it qualifies as a bottleneck over bins start..end."""
    if not node.serves or (node.queue is None and node.overflow is None):
        return None
    window = slice(start, end + 1)
    if node.capacity is None:  # no capacity: only a node that served less than it received
        if node.served is None or node.arrivals is None:
            return None
        if clean(node.served[window]).sum() >= clean(node.arrivals[window]).sum() - TOLERANCE:
            return None
    first = last = 0.0
    rises = np.zeros(end - start + 1, dtype=bool)
    if node.queue is not None:
        queue = clean(node.queue[window])
        first, last = float(queue[0]), float(queue[-1])
        rises[1:] = np.diff(queue) > TOLERANCE
    overflow = 0.0
    over = np.zeros_like(rises)
    if node.overflow is not None:
        spilled = clean(node.overflow[window])
        overflow, over = float(spilled.sum()), spilled > TOLERANCE
    if last - first <= TOLERANCE and overflow <= TOLERANCE:
        return None
    return _Candidate(_mean_utilization(node, window, clean), overflow, first, last,
                      _first(rises | over, start), _span(rises | over, start))


def analyse(nodes: list[NodeFlow], links: Links, start: int, end: int,
            cleaned: bool = False) -> list[Finding]:
    """Bottlenecks, starved and blocked nodes in bins start..end (inclusive). `cleaned`:
    the series already hold 0 where they were not finite (a loaded run cleans them once)."""
    _clean = _same if cleaned else _finite_or_zero
    window = slice(start, end + 1)
    found: list[Finding] = []
    qualifying: dict[str, _Candidate] = {}
    for node in nodes:
        candidate = _candidate(node, start, end, _clean)
        if candidate is not None:
            qualifying[node.id] = candidate
    for node_id, candidate in qualifying.items():
        rivals = [n for n in links.path.get(node_id, ()) if n in qualifying]
        if any(qualifying[r].rank > candidate.rank for r in rivals):
            continue
        on_path = sorted(links.path.get(node_id, ()))
        found.append(Finding(
            "bottleneck", node_id, candidate.message(node_id, start, end, on_path),
            candidate.bins, tuple(on_path), candidate.growth,
            candidate.utilization, candidate.growth, candidate.span))
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
                tuple(holders), float(idle.sum()), span=_span(idle, start)))
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
                float(overflow.sum()), span=_span(over, start)))
    return found




def terminal_nodes(edges: Iterable[EdgeUse | Any]) -> set[str]:
    """Nodes every inbound edge of which is `terminal` (where work ends, not where it is
    served)."""
    inbound: dict[str, set[str]] = {}
    for e in edges:
        inbound.setdefault(e.destination, set()).add(e.type)
    return {node for node, types in inbound.items() if types == {"terminal"}}


def node_flow(node_id: str, metrics: Mapping[str, np.ndarray],
              overflow: np.ndarray | None, serves: bool = True) -> NodeFlow:
    """The rules' view of one node from its metric series (camelCase names, as in /state)."""
    return NodeFlow(node_id, queue=metrics.get("queue"), served=metrics.get("served"),
                    capacity=metrics.get("capacity"), arrivals=metrics.get("arrivals"),
                    overflow=overflow, serves=serves)


def serves_work(category: str, node_id: str, terminal: set[str]) -> bool:
    return kind_of(category).serves_work and node_id not in terminal


def node_flows(components: Iterable[Component], edges: Iterable[EdgeUse],
               series: Callable[[str], np.ndarray | None]) -> list[NodeFlow]:
    """The rules' view of compiled topology nodes; `series` looks a series up by name."""
    flows = []
    terminal = terminal_nodes(edges)
    for c in components:
        metrics = {k: v for k, name in c.metrics.items() if (v := series(name)) is not None}
        flows.append(node_flow(c.id, metrics, series(c.overflow) if c.overflow else None,
                               serves_work(c.category, c.id, terminal)))
    return flows


def throughput_links(edges: Iterable[EdgeUse | Any]) -> Links:
    """Links over the edges that carry flow (anything with origin, destination and type:
    compiled edges, or the edges of a loaded run)."""
    return Links.of((e.origin, e.destination) for e in edges
                    if e.type in ("throughput", "effort", "dependency"))
