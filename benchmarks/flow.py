"""Case: first-class buffered nodes — N `serviceWithBuffer` nodes with a WIP limit over a
year of hourly bins, against the same recurrence as a plain Python loop."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from benchmarks.common import Row, median, repeat
from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.modeling.grid import TimeGrid
from flowtime.domain.modeling.model import (
    ConstNode,
    GridDef,
    Metadata,
    Model,
    ModelDef,
    Semantics,
    Topology,
    TopologyNode,
    Window,
)
from flowtime.domain.modeling.validation import validate_and_plan

LIMIT = 40.0


def buffered_model(nodes: int, bins: int, seed: int = 1) -> Model:
    rng = np.random.default_rng(seed)
    defs, tnodes = [], []
    for i in range(nodes):
        defs.append(ConstNode(id=f"a{i}", values=rng.uniform(0, 20, bins).round(2).tolist()))
        defs.append(ConstNode(id=f"s{i}", values=rng.uniform(0, 20, bins).round(2).tolist()))
        tnodes.append(TopologyNode(id=f"B{i}", kind="serviceWithBuffer", wip_limit=LIMIT,
                                   semantics=Semantics(arrivals=f"a{i}", served=f"s{i}")))
    definition = ModelDef(metadata=Metadata(id="bench-flow"), grid=GridDef(bins, 60, "minutes"),
                          nodes=defs, window=Window(start="2025-01-01T00:00:00Z"),
                          topology=Topology(nodes=tnodes))
    checked = validate_and_plan(definition)
    assert checked.plan is not None, checked.problems[:3]
    return Model(definition, TimeGrid(bins, 60, "minutes", datetime(2025, 1, 1, tzinfo=UTC)),
                 "", {}, checked.plan)


def plain_loop(model: Model) -> dict[str, list[float]]:
    """MODELING §1.1 by hand: one Python loop per node."""
    out = {}
    values = {n.id: n.values for n in model.definition.nodes}
    for i in range(len(model.definition.topology.nodes)):
        arrivals, served = values[f"a{i}"], values[f"s{i}"]
        q, queue = 0.0, []
        for a, s in zip(arrivals, served, strict=True):
            q = min(max(0.0, q + a - s), LIMIT)
            queue.append(q)
        out[f"b{i}_queue"] = queue
    return out


def run(quick: bool = False) -> list[Row]:
    nodes, bins, times = (20, 200, 2) if quick else (1000, 8760, 3)
    model = buffered_model(nodes, bins)
    ours = evaluate_model(model, 1)
    for key, queue in plain_loop(model).items():
        assert np.allclose(ours[key], queue), key
    engine_ms = median(repeat(lambda: evaluate_model(model, 1), times))
    base_ms = median(repeat(lambda: plain_loop(model), times))
    return [Row(f"buffered nodes {nodes}×{bins}", "median ms", engine_ms, base_ms,
                "report vs plain loop (compiled speed: issue 21)", True,
                note=f"speed-up {base_ms / engine_ms:.2f}×")]
