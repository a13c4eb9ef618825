"""Model evaluation: const, pmf and expr nodes over the grid, in dependency order.

Everything is evaluated as whole numpy arrays except feedback groups (nodes on a loop
through SHIFT), which run bin by bin in a compiled loop.
"""

from __future__ import annotations

import numpy as np

from flowtime.domain.expressions.ast import Expr
from flowtime.domain.expressions.scalar import evaluate_feedback_group
from flowtime.domain.expressions.vector import as_series, evaluate
from flowtime.domain.model import Model, ModelDef
from flowtime.domain.random import node_uniforms, sample_pmf
from flowtime.domain.validation import EvaluationPlan, order_nodes, parse_node_expressions


def plan_evaluation(definition: ModelDef) -> EvaluationPlan:
    """Parse expressions and order every node; the model must already be validated."""
    asts, problems = parse_node_expressions(definition)
    assert not problems, problems
    plan, cycles = order_nodes(definition, asts)
    assert not cycles, cycles
    return plan


def evaluate_model(
    model: Model,
    seed: int,
    overrides: dict[str, np.ndarray] | None = None,
    rng_kind: str | None = None,
) -> dict[str, np.ndarray]:
    """Every node's series (float64, length bins). `overrides` replace const values."""
    definition = model.definition
    bins = model.grid.bins
    kind = rng_kind or (definition.rng.kind if definition.rng else "pcg64")
    initial = model.initial_conditions()
    nodes = {n.id: n for n in definition.nodes}
    plan = model.memo.get("plan")  # build_model stores the plan validation made
    if plan is None:
        plan = model.memo["plan"] = plan_evaluation(definition)
    env: dict[str, np.ndarray] = {}
    overrides = overrides or {}

    def hoist(expr: Expr) -> np.ndarray | float:
        value = evaluate(expr, env, bins, initial)
        return as_series(value, bins) if isinstance(value, np.ndarray) else float(value)

    for step in plan.steps:
        if step.feedback:
            env.update(evaluate_feedback_group(list(step.nodes), plan.asts, bins, initial, hoist))
            continue
        node_id = step.nodes[0]
        node = nodes[node_id]
        if node_id in overrides:
            env[node_id] = np.asarray(overrides[node_id], dtype=np.float64)
        elif node.kind == "const":
            env[node_id] = np.asarray(node.values, dtype=np.float64)
        elif node.kind == "pmf":
            assert node.pmf is not None
            uniforms = node_uniforms(kind, seed, node_id, bins)
            env[node_id] = sample_pmf(node.pmf.values, node.pmf.probabilities, uniforms)
        else:
            env[node_id] = as_series(evaluate(plan.asts[node_id], env, bins, initial), bins)
    return {node_id: env[node_id] for node_id in nodes}
