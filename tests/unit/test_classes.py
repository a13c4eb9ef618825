"""Classes of work (MODELING §2): every expected number is worked out by hand in the
comment next to it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from flowtime.domain.compile.classes import carried_shares, check_invariant
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.evaluate.engine import evaluate_model
from tests.building import model_of

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

CLASSES = """\
    classes:
      - {id: orders}
      - {id: refunds, displayName: Refunds}
    traffic:
      arrivals:
        - {nodeId: demand, classId: orders, pattern: {kind: constant, ratePerBin: 30}}
        - {nodeId: demand, classId: refunds, pattern: {kind: constant, ratePerBin: 10}}
    """


def model(nodes: str, topology: str = "", bins: int = 4, classes: str = CLASSES) -> str:
    head = textwrap.dedent("""\
        metadata: {id: classes}
        window: {start: "2025-01-01T00:00:00Z"}
        grid: {bins: %d, binSize: 1, binUnit: hours}
        """) % bins
    return head + textwrap.dedent(classes) + textwrap.dedent(topology) + textwrap.dedent(nodes)


def run(text: str) -> dict[str, list[float]]:
    built = model_of(text)
    values = evaluate_model(built, seed=1)
    check_invariant(built.plan.class_series, values)
    return {k: v.tolist() for k, v in values.items()}


def problems(text: str) -> list[str]:
    with pytest.raises(FlowTimeError) as info:
        model_of(text)
    return [str(p) for p in info.value.problems]


def test_source_split_by_rates_and_min_keeps_shares():
    values = run(model("""\
        nodes:
          - {id: demand, kind: const, values: [40, 20, 0, 8]}
          - {id: served, kind: expr, expr: "MIN(demand, 25)"}
        """))
    # shares 30/40 = 0.75 and 10/40 = 0.25 of [40, 20, 0, 8]
    assert values["demand__class_orders"] == [30, 15, 0, 6]
    assert values["demand__class_refunds"] == [10, 5, 0, 2]
    # MIN(demand, 25) = [25, 20, 0, 8], same shares
    assert values["served__class_orders"] == [18.75, 15, 0, 6]
    assert values["served__class_refunds"] == [6.25, 5, 0, 2]


def test_router_routes_classes_directly_and_splits_the_rest_by_weight():
    values = run(model("""\
        nodes:
          - {id: demand, kind: const, values: [40, 20, 0, 8]}
          - id: split
            kind: router
            inputs: {queue: demand}
            routes:
              - {target: refund_desk, classes: [refunds]}
              - {target: shipping, weight: 3}
              - {target: audit, weight: 1}
        """))
    # refunds (10, 5, 0, 2) all go to refund_desk; orders (30, 15, 0, 6) split 3:1
    assert values["refund_desk"] == [10, 5, 0, 2]
    assert values["refund_desk__class_orders"] == [0, 0, 0, 0]
    assert values["shipping"] == [22.5, 11.25, 0, 4.5]
    assert values["shipping__class_orders"] == [22.5, 11.25, 0, 4.5]
    assert values["shipping__class_refunds"] == [0, 0, 0, 0]
    assert values["audit"] == [7.5, 3.75, 0, 1.5]


def test_queue_takes_inflow_shares_and_keeps_them_while_draining():
    values = run(model("""\
        nodes:
          - {id: demand, kind: const, values: [40, 0, 0, 0]}
          - {id: cap, kind: const, values: [10, 10, 10, 10]}
          - id: split
            kind: router
            inputs: {queue: demand}
            routes:
              - {target: desk_in, classes: [refunds]}
              - {target: desk_in, weight: 1}
              - {target: elsewhere, weight: 1}
        """, """\
        topology:
          nodes:
            - id: Desk
              kind: queue
              semantics: {arrivals: desk_in, capacity: cap}
        """))
    # desk_in = refunds 10 + orders 30 / 2 = 25 at bin 0: shares orders 15/25, refunds 10/25
    # Q = 25-10 = 15, 15-10 = 5, 0, 0; arrivals are 0 after bin 0, so the queue keeps the
    # bin-0 mix: orders 0.6, refunds 0.4
    assert values["desk_queue"] == [15, 5, 0, 0]
    assert values["desk_queue__class_orders"] == pytest.approx([9, 3, 0, 0])
    assert values["desk_queue__class_refunds"] == pytest.approx([6, 2, 0, 0])
    # served (capacity as outflow) = min(Q[t-1] + in, 10) = 10, 10, 5, 0
    assert values["desk_served"] == [10, 10, 5, 0]
    assert values["desk_served__class_refunds"] == pytest.approx([4, 4, 2, 0])


def test_before_any_flow_a_node_takes_the_model_mix():
    values = run(model("""\
        nodes:
          - {id: demand, kind: const, values: [0, 0, 8, 4]}
          - {id: backlog, kind: expr, expr: "demand + 4"}
        """))
    # demand is 0 at bins 0-1: backlog (4) takes the declared mix 30:10 there,
    # then demand's own shares (also 3:1)
    assert values["backlog__class_orders"] == [3, 3, 9, 6]
    assert values["backlog__class_refunds"] == [1, 1, 3, 2]


def test_edges_carry_per_class_flow():
    values = run(model("""\
        nodes:
          - {id: demand, kind: const, values: [40, 20, 0, 8]}
          - {id: done, kind: expr, expr: "MIN(demand, 25)"}
        """, """\
        topology:
          nodes:
            - {id: Desk, kind: service, semantics: {arrivals: demand, served: done}}
            - {id: Out, kind: sink, semantics: {arrivals: done}}
          edges:
            - {from: Desk, to: Out, multiplier: 2}
        """))
    # edge flow = served × 1 × 2 = [50, 40, 0, 16]; orders 3/4 of it
    assert values["edge.Desk-_Out"] == [50, 40, 0, 16]
    assert values["edge.Desk-_Out__class_orders"] == [37.5, 30, 0, 12]
    assert values["edge.Desk-_Out__class_refunds"] == [12.5, 10, 0, 4]


def test_topology_node_id_in_traffic_means_its_arrivals():
    text = model("""\
        nodes:
          - {id: incoming, kind: const, values: [8, 8, 8, 8]}
        """, """\
        topology:
          nodes:
            - {id: Desk, kind: service, semantics: {arrivals: incoming}}
        """, classes="""\
        classes: [{id: a}, {id: b}]
        traffic:
          arrivals:
            - {nodeId: Desk, classId: a, pattern: {ratePerBin: 1}}
            - {nodeId: Desk, classId: b, pattern: {ratePerBin: 3}}
        """)
    values = run(text)
    assert values["incoming__class_a"] == [2, 2, 2, 2]
    assert values["incoming__class_b"] == [6, 6, 6, 6]


def test_class_problems_are_reported_with_locations():
    assert problems(model("""\
        nodes:
          - {id: demand, kind: const, values: [1, 1, 1, 1]}
        """, classes="""\
        classes: [{id: a}, {id: a}, {id: DEFAULT}]
        traffic:
          arrivals:
            - {nodeId: demand, classId: zz, pattern: {ratePerBin: 1}}
            - {nodeId: nowhere, classId: a, pattern: {ratePerBin: 1}}
            - {nodeId: demand, classId: a, pattern: {ratePerBin: -1}}
        """)) == [
        "classes[1].id: duplicate class id 'a'",
        "classes[2].id: 'DEFAULT' is reserved (the bundle's name for a series' total)",
        "traffic.arrivals[0].classId: unknown class 'zz' (declared: a, a, DEFAULT)",
        "traffic.arrivals[1].nodeId: unknown node 'nowhere'",
        "traffic.arrivals[2].pattern.ratePerBin: must be a finite number ≥ 0, got -1",
    ]


def test_class_route_needs_classes_on_its_source():
    found = problems(model("""\
        nodes:
          - {id: demand, kind: const, values: [1, 1, 1, 1]}
          - {id: other, kind: const, values: [1, 1, 1, 1]}
          - id: split
            kind: router
            inputs: {queue: other}
            routes:
              - {target: x, classes: [orders]}
              - {target: y, weight: 1}
        """))
    assert found == ["nodes[2].routes: routes by class need classes on 'other', but none "
                     "reach it (name it, or a node it reads, in traffic.arrivals)"]


def test_carried_shares_fill_forward_and_fall_back():
    parts = [np.array([0.0, 1.0, 0.0, np.nan, 2.0]), np.array([0.0, 3.0, 0.0, 0.0, 2.0])]
    shares = carried_shares(parts, (0.5, 0.5))
    assert shares.tolist() == [[0.5, 0.25, 0.25, 0.25, 0.5], [0.5, 0.75, 0.75, 0.75, 0.5]]


def test_invariant_violation_fails_loudly():
    values = {"x": np.array([1.0, 2.0]), "x__class_a": np.array([0.5, 1.0]),
              "x__class_b": np.array([0.5, 0.9])}
    with pytest.raises(FlowTimeError, match=r"engine bug.*'x'.*bin 1"):
        check_invariant({"x": ("x__class_a", "x__class_b")}, values)


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("*.yaml")), ids=lambda p: p.stem)
def test_invariant_holds_on_every_shipped_template(path: Path):
    built = model_of(path.read_text())
    for seed in (1, 2, 3):
        values = evaluate_model(built, seed=seed)
        check_invariant(built.plan.class_series, values)  # raises on a violation


def test_a_sum_of_classed_series_carries_both_mixes():
    values = run(model("""\
        nodes:
          - {id: a, kind: const, values: [4, 0]}
          - {id: b, kind: const, values: [4, 4]}
          - {id: merged, kind: expr, expr: "a + b + 2"}
          - {id: first, kind: expr, expr: "MAX(a, b)"}
        """, bins=2, classes="""\
        classes: [{id: A}, {id: B}]
        traffic:
          arrivals:
            - {nodeId: a, classId: A, pattern: {ratePerBin: 1}}
            - {nodeId: b, classId: B, pattern: {ratePerBin: 1}}
        """))
    # merged = [10, 6]; bin 0 mix A 4 : B 4 → 5 / 5; bin 1 mix A 0 : B 4 → 0 / 6
    assert values["merged__class_A"] == [5, 0]
    assert values["merged__class_B"] == [5, 6]
    # not a sum: MAX takes its primary input's (a's) shares, carried over bin 1 where a = 0
    assert values["first__class_A"] == [4, 4]
    assert values["first__class_B"] == [0, 0]


def test_queue_mix_includes_overflow_from_another_queue():
    values = run(model("""\
        nodes:
          - {id: a, kind: const, values: [10, 0]}
          - {id: b, kind: const, values: [2, 0]}
          - {id: zero, kind: const, values: [0, 0]}
        """, """\
        topology:
          nodes:
            - id: Front
              kind: queue
              semantics: {arrivals: a, capacity: zero}
              wipLimit: 4
              wipOverflow: Back
            - id: Back
              kind: queue
              semantics: {arrivals: b, capacity: zero}
        """, bins=2, classes="""\
        classes: [{id: A}, {id: B}]
        traffic:
          arrivals:
            - {nodeId: a, classId: A, pattern: {ratePerBin: 1}}
            - {nodeId: b, classId: B, pattern: {ratePerBin: 1}}
        """))
    # Front holds 4 of 10, 6 overflow into Back: Back = 2 (B) + 6 (A) = 8 → A 6, B 2
    assert values["back_queue"] == [8, 8]
    assert values["back_queue__class_A"] == [6, 6]
    assert values["back_queue__class_B"] == [2, 2]
