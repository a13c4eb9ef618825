"""Shared constraints (MODELING §1.3): the demand of the nodes sharing one is admitted
proportionally to its capacity."""

from __future__ import annotations

from flowtime.domain.compile.flow.base import Builder, ConstraintUse, add_all, call, div, mul, ref, safe, sub
from flowtime.domain.expressions.ast import Num
from flowtime.domain.modeling.model import TopologyNode
from flowtime.domain.modeling.names import snake

# -- shared constraints ------------------------------------------------------------------

def compile_constraints(b: Builder, nodes: list[TopologyNode]) -> dict[str, str]:
    """Topology node id -> the series of its admitted arrivals (MODELING §1.3)."""
    defined = {c.id: (j, c) for j, c in enumerate(b.model.topology.constraints)}
    for j, constraint in enumerate(b.model.topology.constraints):
        if not constraint.semantics.served:
            b.problem(f"topology.constraints[{j}].semantics.served",
                      "is required (the shared capacity series)")
    users: dict[str, list[TopologyNode]] = {}
    for i, tnode in enumerate(nodes):
        for k, cid in enumerate(tnode.constraints):
            if cid not in defined:
                b.problem(f"topology.nodes[{i}].constraints[{k}]",
                          f"unknown constraint '{cid}' (defined: {', '.join(defined) or 'none'})")
            elif not tnode.semantics.arrivals:
                b.problem(f"topology.nodes[{i}].semantics.arrivals",
                          f"is required to share constraint '{cid}'")
            else:
                users.setdefault(cid, []).append(tnode)
    admitted: dict[str, list[str]] = {}
    for cid, members in users.items():
        capacity_series = defined[cid][1].semantics.served
        if not capacity_series:
            continue
        cap = call("MAX", Num(0.0), safe(ref(capacity_series)))
        demand = add_all(safe(ref(t.semantics.arrivals or "")) for t in members)
        uses = []
        for tnode in members:
            own = safe(ref(tnode.semantics.arrivals or ""))
            share = call("IF", sub(demand, cap), div(mul(cap, own), demand), own)
            name = b.add(f"{snake(tnode.id)}_capped_{cid}", share, "flow", tnode.id)
            admitted.setdefault(tnode.id, []).append(name)
            uses.append((tnode.id, tnode.semantics.arrivals or "", name))
        own = defined[cid][1].semantics
        declared = {k: v for k, v in (("arrivals", own.arrivals), ("errors", own.errors)) if v}
        b.out.constraints.append(ConstraintUse(cid, capacity_series, tuple(uses), declared))
    result: dict[str, str] = {}
    for node_id, names in admitted.items():
        if len(names) == 1:
            result[node_id] = names[0]
        else:  # several constraints: the tightest admission
            result[node_id] = b.add(f"{snake(node_id)}_admitted",
                                    call("MIN", *(ref(n) for n in names)), "flow", node_id)
    return result
