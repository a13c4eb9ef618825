"""Monte Carlo in one batch: a model evaluated for many seeds at once.

Every series is a (samples × bins) array: PMF nodes draw one row per seed from the same
per-node streams a single run uses, expressions run as whole-array numpy operations over
all samples (time functions work along the last axis), and feedback loops run once over
bins with all samples per numpy call (`expressions/columns.py`; numba's loop per sample
when the model uses numba anyway, the compiled loop per sample for a handful of samples).
Row i is bit-for-bit what `evaluate_model` gives for seed i (tests/unit/test_batch.py
checks every shipped template with PMF nodes).
Series that do not depend on any draw stay one row and are broadcast at the end.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from flowtime.domain.compile.compiler import EvalContext, PmfStep
from flowtime.domain.evaluate.random import batch_uniforms, sample_pmf
from flowtime.domain.modeling.model import Model

# A batch holds every series of every sample at once: callers split their seeds so that one
# batch stays within this many float64 values (64 MB; `samples_per_batch`).
BATCH_VALUES = 8_000_000


def samples_per_batch(model: Model) -> int:
    """How many samples one batch of `model` may take within BATCH_VALUES."""
    series = len(model.plan.node_ids) + len(model.plan.class_ids())
    return max(1, BATCH_VALUES // (model.grid.bins * max(series, 1)))


def evaluate_batches(model: Model, seeds: Sequence[int],
                     overrides: dict[str, np.ndarray] | None = None, pmf_mode: str = "sample",
                     shares: dict[str, float] | None = None) -> Iterator[dict[str, np.ndarray]]:
    """`evaluate_batch` over `seeds` in consecutive parts of at most `samples_per_batch`
    seeds, so memory stays bounded whatever the number of samples."""
    size = samples_per_batch(model)
    for start in range(0, len(seeds), size):
        yield evaluate_batch(model, seeds[start:start + size], overrides, pmf_mode=pmf_mode,
                             shares=shares)


def evaluate_batch(model: Model, seeds: Sequence[int], overrides: dict[str, np.ndarray] | None
                   = None, rng_kind: str | None = None, pmf_mode: str = "sample",
                   shares: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Every node's series for every seed: name -> float64 array (len(seeds) × bins).
    The arguments mean what they mean for `evaluate_model`."""
    plan = model.plan
    bins = model.grid.bins
    samples = len(seeds)
    kind = rng_kind or plan.rng_kind
    ctx = EvalContext(bins, int(seeds[0]) if samples else 0, kind, plan.initial,
                      overrides or {}, pmf_mode=pmf_mode, shares=shares or {},
                      # numba is chosen as for one run: many samples run as column
                      # programs (columns.py), which need no JIT import
                      feedback_work=plan.feedback_members * bins)
    with np.errstate(all="ignore"):
        for step in plan.steps:
            if isinstance(step, PmfStep) and pmf_mode == "sample":
                uniforms = batch_uniforms(kind, seeds, step.node_id, bins)
                series = sample_pmf(list(step.values), list(step.probabilities), uniforms)
                if step.profile is not None:
                    series = series * np.asarray(step.profile)
                ctx.env[step.node_id] = series
            else:
                step.run(ctx)
    names = [*plan.node_ids, *plan.class_ids()]
    return {name: _rows(ctx.env[name], samples, bins) for name in names}


def _rows(values: np.ndarray, samples: int, bins: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2:
        return values
    return np.array(np.broadcast_to(values, (samples, bins)))
