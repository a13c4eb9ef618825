"""Router model nodes (MODELING §1.2): class routes take their classes' series; the
remainder is split over weight routes."""

from __future__ import annotations

import math

from flowtime.domain.compile.flow.base import Builder, RouteUse, add_all, mul, ref, safe, sub
from flowtime.domain.expressions.ast import Expr, Num
from flowtime.domain.modeling.model import RouterNode
from flowtime.domain.modeling.names import class_series_name

# -- routers -------------------------------------------------------------------------------

def compile_routers(b: Builder) -> None:
    """Class routes take the source's series of their classes; the remainder (source − Σ
    class-routed) is split over weight routes by w / Σw; routes to one target add up."""
    declared = {c.id for c in b.model.classes}
    for i, node in enumerate(b.model.nodes):
        if not isinstance(node, RouterNode):
            continue
        loc = f"nodes[{i}]"
        spec = node.spec
        source = spec.inputs.queue
        if source not in b.defined:
            b.problem(f"{loc}.inputs.queue", f"unknown series '{source}'")
            continue
        weights = [r.weight for r in spec.routes if not r.classes]
        routed: list[str] = []
        for j, route in enumerate(spec.routes):
            for k, class_id in enumerate(route.classes or []):
                if class_id not in declared:
                    known = (f"declared: {', '.join(sorted(declared))}" if declared
                             else "the model declares no classes")
                    b.problem(f"{loc}.routes[{j}].classes[{k}]",
                              f"unknown class '{class_id}' ({known})")
                elif class_id not in routed:
                    routed.append(class_id)
            if not math.isfinite(route.weight) or route.weight < 0:
                b.problem(f"{loc}.routes[{j}].weight", "must be a finite number ≥ 0")
        total = sum(w for w in weights if math.isfinite(w))
        if weights and total <= 0:
            b.problem(f"{loc}.routes", f"the weights sum to {total:g}; they must sum to > 0")
            continue
        if any(p.loc.startswith(loc + ".") for p in b.out.problems):
            continue
        remainder: Expr = safe(ref(source))
        if routed:
            remainder = sub(remainder, add_all(safe(ref(class_series_name(source, c)))
                                             for c in routed))
        parts: dict[str, list[Expr]] = {}
        for route in spec.routes:
            if route.classes:
                part = add_all(safe(ref(class_series_name(source, c))) for c in route.classes)
                use = RouteUse(node.id, source, route.target, tuple(route.classes), 1.0)
            else:
                part = mul(remainder, Num(route.weight / total))
                use = RouteUse(node.id, source, route.target, None, route.weight / total,
                               tuple(routed))
            parts.setdefault(route.target, []).append(part)
            b.out.routes.append(use)
        for target, terms in parts.items():
            b.add(target, add_all(terms), "flow", node.id)
