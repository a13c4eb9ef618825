"""Classes of work (MODELING §2): the per-class series of every node fed by a classed source.

- Source split: a node named in `traffic.arrivals` gets `x__class_c = x × r_c / Σr`.
- Propagation: any other node that reads a class-aware node takes the class shares of its
  primary input, the first class-aware reference of its expression in the order written.
  **Ours:** a reference read in the same bin is preferred to one read through SHIFT, so a
  queue's shares come from its inflow rather than from its own past.
- **Ours (merges):** a node whose expression is a sum of series (`a + b + SAFE(c) + 2`)
  with two or more class-aware terms carries the mix of their sum, Σ_i a_i,c / Σ_i Σ_c a_i,c
  — a merge of airport riders and commuters carries both, where the primary-input rule
  would give it one side's classes (the reference picks that side by hash order). A queue
  likewise carries the mix of all its inflows (its arrivals and overflow from others).
- Routers: a class route's target gets the source's series of those classes; a weight
  route's target gets the classes no class route took, times its share.
- **Ours:** in bins where the primary input is 0 in every class, a node keeps the shares
  of the last bin that had some (a queue draining after arrivals stop keeps the mix it
  was filled with), and before any such bin the model's overall mix (Σ of the declared
  rates per class; equal shares when they are all 0). The reference leaves such bins
  without classes, which breaks Σ classes = total; here the invariant holds in every bin.
- Derived ratio series (utilization, queue time, …) are not additive and carry no class
  series; /state computes their per-class values from the class series of their inputs.

Class series are ordinary nodes of the compiled plan (`x__class_c`), so routers, edges and
analysis read them like any series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec
import numpy as np
from msgspec import field

from flowtime.domain.compile.flow import FlowCompilation, buffer_expression
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem
from flowtime.domain.expressions.ast import BinOp, Call, Expr, Num, Ref, Reference, references
from flowtime.domain.modeling.model import BufferNode, ExprNode, ModelDef, RouterNode
from flowtime.domain.modeling.names import class_series_name

INVARIANT_TOLERANCE = 1e-9


class ShareStep(msgspec.Struct, frozen=True):
    """`node_id` = total × (the primary's class k / Σ of the primary's classes), the shares
    carried forward over bins where that Σ is 0 (see the module docstring)."""

    node_id: str
    total: str
    inputs: tuple[tuple[str, ...], ...]  # per input: its class series, in class order
    index: int
    fallback: tuple[float, ...]

    @property
    def nodes(self) -> tuple[str, ...]:
        return (self.node_id,)

    def run(self, ctx: Any) -> None:
        parts = [ctx.env[s] for s in self.inputs[0]]
        for group in self.inputs[1:]:
            parts = [p + np.where(np.isfinite(ctx.env[s]), ctx.env[s], 0.0)
                     for p, s in zip(parts, group, strict=True)]
        shares = carried_shares(parts, self.fallback)
        ctx.env[self.node_id] = ctx.env[self.total] * shares[self.index]


class SplitStep(msgspec.Struct, frozen=True):
    """A source's class series: total × the class's rate share, unless the run supplies
    the class series itself (telemetry captured with classes)."""

    node_id: str
    total: str
    share: float

    @property
    def nodes(self) -> tuple[str, ...]:
        return (self.node_id,)

    def run(self, ctx: Any) -> None:
        supplied = ctx.overrides.get(self.node_id)
        if supplied is not None:
            ctx.env[self.node_id] = np.asarray(supplied, dtype=np.float64)
        else:
            ctx.env[self.node_id] = ctx.env[self.total] * ctx.shares.get(self.node_id,
                                                                         self.share)


def carried_shares(parts: list[np.ndarray], fallback: tuple[float, ...]) -> np.ndarray:
    """Class shares per bin (classes × bins, or classes × samples × bins for a batch):
    part / Σ parts where Σ ≠ 0, else the last such bin's shares, else `fallback`.
    Non-finite parts count as 0."""
    stacked = np.stack(np.broadcast_arrays(*[np.where(np.isfinite(p), p, 0.0) for p in parts]))
    total = stacked.sum(axis=0)
    known = total != 0
    bins = total.shape[-1]
    last = np.maximum.accumulate(np.where(known, np.arange(bins), -1), axis=-1)
    safe_total = np.where(known, total, 1.0)
    ratios = stacked / safe_total
    picked = np.take_along_axis(ratios, np.maximum(last, 0)[None, ...], axis=-1)
    default = np.asarray(fallback, dtype=np.float64).reshape((-1,) + (1,) * total.ndim)
    return np.where(last >= 0, picked, default)


class ClassNode(msgspec.Struct, frozen=True):
    """One class series: a step (ShareStep) or an expression, and what it reads."""

    name: str
    step: ShareStep | SplitStep | None
    ast: Expr | None
    reads: frozenset[str]


class ClassCompilation(msgspec.Struct):
    classes: tuple[str, ...] = ()
    series: dict[str, tuple[str, ...]] = field(default_factory=dict)  # total -> class series
    nodes: list[ClassNode] = field(default_factory=list)
    sources: dict[str, dict[str, float]] = field(default_factory=dict)  # node -> class rates
    problems: list[Problem] = field(default_factory=list)


def _sum_terms(ast: Expr) -> list[str]:
    """The series a pure sum adds (`a + b + SAFE(c) + 2` → a, b, c); [] when the
    expression is anything else."""
    if isinstance(ast, BinOp) and ast.op == "+":
        left, right = _sum_terms(ast.left), _sum_terms(ast.right)
        ok_left = bool(left) or isinstance(ast.left, Num)
        ok_right = bool(right) or isinstance(ast.right, Num)
        return left + right if ok_left and ok_right else []
    if isinstance(ast, Ref):
        return [ast.name]
    if isinstance(ast, Call) and ast.name == "SAFE" and len(ast.args) == 1 \
            and isinstance(ast.args[0], Ref):
        return [ast.args[0].name]
    return []


def _node_refs(model: ModelDef, asts: Mapping[str, Expr], flow: FlowCompilation
               ) -> tuple[dict[str, list[Reference]], dict[str, int], dict[str, list[str]]]:
    """References of every series that may carry classes, model node positions, and the
    terms of the nodes that are sums (or queues: their inflows)."""
    refs: dict[str, list[Reference]] = {}
    positions: dict[str, int] = {}
    sums: dict[str, list[str]] = dict(flow.mix)
    for i, node in enumerate(model.nodes):
        positions[node.id] = i
        if isinstance(node, ExprNode) and node.id in asts:
            refs[node.id] = references(asts[node.id])
            sums.setdefault(node.id, _sum_terms(asts[node.id]))
        elif isinstance(node, BufferNode):
            refs[node.id] = references(buffer_expression(node))
        elif isinstance(node, RouterNode):
            refs[node.id] = [Reference(node.spec.inputs.queue, False, 0)]
        else:
            refs[node.id] = []
    for s in flow.series:
        if s.role != "derived":
            refs[s.node_id] = references(s.ast)
            sums.setdefault(s.node_id, _sum_terms(s.ast))
    return refs, positions, sums


def _sources(model: ModelDef, classes: tuple[str, ...], known: set[str], out: ClassCompilation
             ) -> None:
    """Validate `traffic.arrivals` and collect each source node's rates per class."""
    topology = {t.id: t for t in model.topology.nodes}
    for i, arrival in enumerate(model.traffic.arrivals):
        loc = f"traffic.arrivals[{i}]"
        class_id = arrival.class_id
        if not classes:
            if class_id not in ("*", ""):
                out.problems.append(Problem(f"{loc}.classId", f"unknown class '{class_id}' "
                                            "(the model declares no classes)"))
            continue
        if class_id not in classes:
            out.problems.append(Problem(f"{loc}.classId", f"unknown class '{class_id}' "
                                        f"(declared: {', '.join(classes)})"))
            continue
        node_id = arrival.node_id
        if node_id not in known and node_id in topology:
            node_id = topology[node_id].semantics.arrivals or node_id
        if node_id not in known:
            out.problems.append(Problem(f"{loc}.nodeId", f"unknown node '{arrival.node_id}'"))
            continue
        rate = arrival.pattern.rate_per_bin
        if not math.isfinite(rate) or rate < 0:
            out.problems.append(Problem(f"{loc}.pattern.ratePerBin",
                                        f"must be a finite number ≥ 0, got {rate:g}"))
            continue
        rates = out.sources.setdefault(node_id, {})
        if class_id in rates:
            out.problems.append(Problem(f"{loc}.classId", f"class '{class_id}' already has a "
                                        f"rate at node '{arrival.node_id}'"))
            continue
        rates[class_id] = float(rate)


def normalised(weights: list[float], fallback: tuple[float, ...] | None = None
               ) -> tuple[float, ...]:
    total = 0.0
    for w in weights:  # plain left-to-right sum
        total += w
    if total > 0:
        return tuple(w / total for w in weights)
    if fallback is not None:
        return fallback
    return tuple(1.0 / len(weights) for _ in weights)


def compile_classes(model: ModelDef, asts: Mapping[str, Expr], flow: FlowCompilation
                    ) -> ClassCompilation:
    """Every class series of the model (none when it declares no classes)."""
    out = ClassCompilation(classes=tuple(c.id for c in model.classes))
    classes = out.classes
    seen: set[str] = set()
    for i, c in enumerate(model.classes):
        if c.id in seen:
            out.problems.append(Problem(f"classes[{i}].id", f"duplicate class id '{c.id}'"))
        if c.id == "DEFAULT":
            out.problems.append(Problem(f"classes[{i}].id", "'DEFAULT' is reserved (the "
                                        "bundle's name for a series' total)"))
        seen.add(c.id)
    refs, positions, sums = _node_refs(model, asts, flow)
    _sources(model, classes, set(refs), out)
    if not classes or out.problems:
        return out
    mix_rates = [sum(rates.get(c, 0.0) for rates in out.sources.values()) for c in classes]
    mix = normalised(mix_rates)
    # Router targets the flow compiler synthesized carry their source's classes directly.
    synthesized = {s.node_id: s.component for s in flow.series}
    targets: dict[str, list[Any]] = {}
    for route in flow.routes:
        if synthesized.get(route.target) == route.router:
            targets.setdefault(route.target, []).append(route)
    aware = set(out.sources)
    changed = True
    while changed:
        changed = False
        for name, node_refs in refs.items():
            if name in aware:
                continue
            if name in targets:
                hit = all(r.source in aware for r in targets[name])
            else:
                hit = any(r.name in aware for r in node_refs if r.name != name)
            if hit:
                aware.add(name)
                changed = True
    for route in flow.routes:
        if route.classes and route.source not in aware:
            out.problems.append(Problem(
                f"nodes[{positions.get(route.router, 0)}].routes",
                f"routes by class need classes on '{route.source}', but none reach it "
                "(name it, or a node it reads, in traffic.arrivals)"))
    inputs: dict[str, list[str]] = {}
    for name in aware:
        if name in out.sources or name in targets:
            continue
        merged = list(dict.fromkeys(t for t in sums.get(name, []) if t != name and t in aware))
        if len(merged) >= 2:
            inputs[name] = merged
            continue
        candidates = [r for r in refs[name] if r.name != name and r.name in aware]
        same_bin = [r for r in candidates if not r.delayed]
        inputs[name] = [(same_bin or candidates)[0].name]
    cycle = _find_cycle(inputs)
    if cycle:
        name = cycle[0]
        loc = f"nodes[{positions[name]}]" if name in positions else "classes"
        out.problems.append(Problem(loc, "the class shares of '" + name + "' come around a "
                                    "loop (" + " -> ".join(cycle) + "); give one of them a "
                                    "class-aware input read in the same bin"))
        return out
    if out.problems:
        return out
    for name in [n for n in refs if n in aware]:  # model order, then synthesized
        names = tuple(class_series_name(name, c) for c in classes)
        out.series[name] = names
        for k, (class_id, series) in enumerate(zip(classes, names, strict=True)):
            if name in out.sources:
                rates = out.sources[name]
                shares = normalised([rates.get(c, 0.0) for c in classes], mix)
                out.nodes.append(ClassNode(series, SplitStep(series, name, shares[k]), None,
                                           frozenset({name})))
            elif name in targets:
                ast = _target_class(targets[name], class_id)
                out.nodes.append(ClassNode(series, None, ast, frozenset(
                    r.name for r in references(ast))))
            else:
                groups = tuple(tuple(class_series_name(i, c) for c in classes)
                               for i in inputs[name])
                out.nodes.append(ClassNode(series, ShareStep(series, name, groups, k, mix),
                                           None, frozenset({name, *(n for g in groups
                                                                    for n in g)})))
    return out


def _find_cycle(inputs: Mapping[str, list[str]]) -> list[str]:
    """A closed path through the share inputs ([] when there is none)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for root in inputs:
        if state.get(root):
            continue
        path: list[str] = []
        stack = [(root, iter(inputs.get(root, [])))]
        state[root] = 1
        path.append(root)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                return [*path[path.index(child):], child]
            elif not state.get(child) and child in inputs:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(inputs[child])))
    return []


def _target_class(routes: list[Any], class_id: str) -> Expr:
    """A router target's share of one class: Σ over the routes into it."""
    terms: list[Expr] = []
    for route in routes:
        own = Call("SAFE", (Ref(class_series_name(route.source, class_id)),))
        if route.classes is not None:
            if class_id in route.classes:
                terms.append(own)
        elif class_id not in route.routed:
            terms.append(BinOp("*", own, Num(route.share)))
    if not terms:
        return Num(0.0)
    total = terms[0]
    for term in terms[1:]:
        total = BinOp("+", total, term)
    return total


def off_bins(parts: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Bins where Σ classes (`parts`) and the total differ by more than 1e-9 (relative
    above 1); bins whose total is not finite are not compared."""
    finite = np.isfinite(total)
    gap = np.abs(np.where(finite, parts - total, 0.0))
    allowed = INVARIANT_TOLERANCE * np.maximum(1.0, np.abs(np.where(finite, total, 0.0)))
    return np.flatnonzero(gap > allowed)


def check_invariant(class_series: Mapping[str, tuple[str, ...]],
                    values: Mapping[str, np.ndarray]) -> None:
    """Σ classes = total (`off_bins`) in every bin. A violation is an engine bug: it raises
    an internal error naming the series."""
    for total_id, names in class_series.items():
        total = values[total_id]
        parts = np.sum([values[n] for n in names], axis=0)
        bad = off_bins(parts, total)
        if bad.size:
            t = int(bad[0])
            raise FlowTimeError(ErrorKind.INTERNAL, (
                f"engine bug: the classes of '{total_id}' sum to {parts[t]!r} at bin {t}, "
                f"the total is {total[t]!r} (please report this model)"))
