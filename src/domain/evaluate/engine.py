"""Model evaluation: run a compiled plan (`compiler.py`) over the grid.

Everything is evaluated as whole numpy arrays except feedback groups (nodes on a loop
through SHIFT), which run bin by bin in a compiled loop.
"""

from __future__ import annotations

import numpy as np

from flowtime.domain.compile.compiler import EvalContext
from flowtime.domain.modeling.model import Model


def evaluate_model(
    model: Model,
    seed: int,
    overrides: dict[str, np.ndarray] | None = None,
    rng_kind: str | None = None,
    pmf_mode: str = "sample",
    shares: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Every node's series (float64, length bins), class series (`x__class_c`) included.
    `overrides` replace const values;
    `pmf_mode` "expected" evaluates PMF nodes as their expected value (the reference);
    `shares` replace sources' class shares (class-rate knobs)."""
    plan = model.plan
    ctx = EvalContext(model.grid.bins, seed, rng_kind or plan.rng_kind, plan.initial,
                      overrides or {}, pmf_mode=pmf_mode, shares=shares or {},
                      feedback_work=plan.feedback_members * model.grid.bins)
    with np.errstate(all="ignore"):  # overflow to ±inf and NaN are values, not failures
        for step in plan.steps:
            step.run(ctx)
    names = [*plan.node_ids, *plan.class_ids()]
    return {node_id: ctx.env[node_id] for node_id in names}
