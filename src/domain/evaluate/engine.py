"""Model evaluation: run a compiled plan (`compiler.py`) over the grid.

Everything is evaluated as whole numpy arrays except feedback groups (nodes on a loop
through SHIFT), which run bin by bin in a compiled loop. `reevaluate` runs only the steps
downstream of what changed since a previous evaluation (what-if sessions): steps always
write fresh arrays, so the previous evaluation's arrays can be shared, never mutated.
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
    return reevaluate(model, seed, overrides, None, None, rng_kind, pmf_mode, shares)


def reevaluate(
    model: Model,
    seed: int,
    overrides: dict[str, np.ndarray] | None,
    previous: dict[str, np.ndarray] | None,
    changed: set[str] | None,
    rng_kind: str | None = None,
    pmf_mode: str = "sample",
    shares: dict[str, float] | None = None,
    ran: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """As `evaluate_model`, reusing `previous` (an evaluation of the same model and seed)
    for every step that neither makes a series in `changed` (an override or class share
    that differs) nor reads, directly or through other steps, one that was re-run. Without
    `previous` every step runs. `ran`, when given, receives the series of every step run."""
    plan = model.plan
    ctx = EvalContext(model.grid.bins, seed, rng_kind or plan.rng_kind, plan.initial,
                      overrides or {}, pmf_mode=pmf_mode, shares=shares or {},
                      feedback_work=plan.feedback_members * model.grid.bins)
    incremental = previous is not None and len(plan.step_reads) == len(plan.steps)
    if incremental:
        ctx.env.update(previous)  # type: ignore[arg-type]
    dirty = set(changed or ())
    with np.errstate(all="ignore"):  # overflow to ±inf and NaN are values, not failures
        for i, step in enumerate(plan.steps):
            if incremental:
                made = step.nodes
                if dirty.isdisjoint(made) and dirty.isdisjoint(plan.step_reads[i]):
                    continue
                dirty.update(made)
            step.run(ctx)
            if ran is not None:
                ran.extend(step.nodes)
    names = [*plan.node_ids, *plan.class_ids()]
    return {node_id: ctx.env[node_id] for node_id in names}
