"""Bottleneck, starved and blocked (MODELING §5 "Ours") on models built so the answer is
known, worked out by hand in the comments."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.views.flow_analysis import Links, NodeFlow, analyse, node_flows, throughput_links
from tests.building import model_of

LINE = (Path(__file__).resolve().parents[2] / "templates" / "assembly-line.yaml").read_text()


def findings(parameters: dict | None = None, start: int = 0, end: int = 11):
    model = model_of(LINE, parameters or {})
    values = evaluate_model(model, seed=1)
    return analyse(node_flows(model.plan.components, model.plan.edges, values.get),
                   throughput_links(model.plan.edges), start, end)


def test_the_slow_middle_stage_is_the_bottleneck_blocked_and_starves_the_next():
    found = {(f.code, f.node_id): f for f in findings()}
    assert sorted(found) == [("blocked", "Weld"), ("bottleneck", "Weld"), ("starved", "Paint")]
    # Weld gets 40/h and releases a batch of 70 on odd hours into a buffer of 60:
    # Q = 40, 10, 50, 20, 60, 30, 60 (+10 over), 30, 60 (+10), 30, 60 (+10), 30
    # MODELING §5 (turn 3): growth is Q[last] − Q[first] = 30 − 40 = −10, but Weld
    # overflowed (30 in all), so it qualifies; its bins are where the queue rose (2, 4, 6, 8,
    # 10) or overflowed (6, 8, 10), the first five
    bottleneck = found[("bottleneck", "Weld")]
    assert bottleneck.growth == -10 and bottleneck.bins == (2, 4, 6, 8, 10)
    assert "30 overflowed" in bottleneck.message and "(+" not in bottleneck.message
    assert bottleneck.utilization == 0.5  # 70 of 70 on dispatch hours, 0 between
    assert bottleneck.nodes == ("Cut", "Done", "Paint")
    blocked = found[("blocked", "Weld")]
    assert blocked.bins == (6, 8, 10) and blocked.value == 30
    # painting (capacity 80) gets nothing on even hours while parts wait at Weld
    starved = found[("starved", "Paint")]
    assert starved.bins == (0, 2, 4, 6, 8) and starved.value == 6 and starved.nodes == ("Weld",)


def test_a_window_sees_only_its_own_bins():
    # bins 7..9: Weld goes 30 → 60 → 30: no growth, one overflow of 10 (bin 8), which
    # still makes it the bottleneck of the window
    found = {(f.code, f.node_id): f for f in findings(start=7, end=9)}
    assert sorted(found) == [("blocked", "Weld"), ("bottleneck", "Weld"), ("starved", "Paint")]
    assert found[("bottleneck", "Weld")].bins == (8,)
    assert found[("blocked", "Weld")].bins == (8,)
    assert found[("starved", "Paint")].bins == (8,)


def test_a_balanced_line_raises_nothing():
    assert findings({"weldEvery": 1, "weldBatch": 40}) == []
    # a batch of 80 every two hours keeps up (Q = 40, 0, 40, 0, …) but paint still waits
    assert [(f.code, f.node_id) for f in findings({"weldBatch": 80})] == [("starved", "Paint")]


def test_the_highest_utilization_among_growing_queues_on_a_path_wins():
    grow = np.array([1.0, 2.0, 3.0])
    nodes = [NodeFlow("A", queue=grow, served=np.full(3, 5.0), capacity=np.full(3, 10.0)),
             NodeFlow("B", queue=grow, served=np.full(3, 9.0), capacity=np.full(3, 10.0)),
             NodeFlow("C", queue=grow, served=np.full(3, 1.0), capacity=np.full(3, 10.0))]
    found = analyse(nodes, Links.of([("A", "B")]), 0, 2)
    # A (0.5) and B (0.9) share a path: B wins; C is on no path with them: its own
    assert [(f.code, f.node_id) for f in found] == [("bottleneck", "B"), ("bottleneck", "C")]
