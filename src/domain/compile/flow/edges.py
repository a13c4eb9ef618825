"""Edges (MODELING §3): each edge's flow series — the source's measure × weight share ×
multiplier — and the warning when a router's split makes declared weights moot."""

from __future__ import annotations

from flowtime.domain.compile.flow.base import Builder, EdgeUse, mul, ref, safe
from flowtime.domain.expressions.ast import Num
from flowtime.domain.modeling.model import Edge
from flowtime.domain.modeling.names import edge_series_name
from flowtime.domain.runs import RunWarning

_MEASURES = {"attempts": "attempts", "load": "attempts", "errors": "errors",
             "failures": "failures"}


def _measure(edge: Edge) -> str:
    return _MEASURES.get((edge.measure or "").lower(), "served")


def compile_edges(b: Builder) -> None:
    """Per-edge flow: the source's series for the measure (served by default) × weight / Σ
    weights of the edges leaving the same source with the same measure × multiplier.
    (Ours: an errors edge to a DLQ does not take a share of what was served; an edge from a
    node whose served series a router splits, to a node whose arrivals are one of that
    router's targets, carries that target's routed flow × multiplier, not a weight share.)"""
    components = {c.id: c for c in b.out.components}
    routed: dict[str, set[str]] = {}
    for route in b.out.routes:
        routed.setdefault(route.source, set()).add(route.target)
    edges = b.model.topology.edges
    totals: dict[tuple[str, str], float] = {}
    for edge in edges:
        key = (edge.origin, _measure(edge))
        totals[key] = totals.get(key, 0.0) + edge.weight
    for edge in edges:
        edge_id = edge.id or f"{edge.origin}->{edge.destination}"
        component = components.get(edge.origin)
        if component is not None:
            source = component.metrics.get(_measure(edge))
        else:  # a series that is not a topology node flows as itself
            source = edge.origin if b.known(edge.origin) else None
        total = totals[(edge.origin, _measure(edge))]
        share = edge.weight / total if total > 0 else 0.0
        target = components.get(edge.destination)
        arrivals = target.metrics.get("arrivals") if target is not None else None
        if source is not None and arrivals in routed.get(source, ()):
            _weight_ignored(b, edge_id, source, arrivals, share)
            source, share = arrivals, 1.0  # the router's flow to this target
        multiplier = edge.multiplier if edge.multiplier is not None else 1.0
        series = None
        if source is not None:
            series = b.add(edge_series_name(edge_id),
                           mul(safe(ref(source)), Num(share * multiplier)), "flow", edge_id)
        b.out.edges.append(EdgeUse(edge_id, edge.origin, edge.destination, edge.type,
                                   edge.measure, edge.weight, multiplier, edge.lag or 0, series))


def _weight_ignored(b: Builder, edge_id: str, source: str, target: str, declared: float) -> None:
    """MODELING §3 (turn 3): an edge leaving a router carries the routed flow; when its
    declared weight share differs from the router's share for its target, say so."""
    uses = [r for r in b.out.routes if r.source == source and r.target == target]
    if any(r.classes for r in uses):
        routed = "its class routes (" + ", ".join(
            c for r in uses for c in (r.classes or ())) + ")"
        share = None
    else:
        share = sum(r.share for r in uses)
        routed = f"{share:.4g}"
    if share is not None and abs(share - declared) <= 1e-9:
        return
    b.out.warnings.append(RunWarning(
        "edge_weight_ignored",
        f"edge '{edge_id}': its declared weight share {declared:.4g} is not used; it carries "
        f"the router's flow to '{target}' (route share {routed})",
        severity="info", edge_ids=(edge_id,), value=share))
