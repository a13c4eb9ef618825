"""First-class flow nodes (MODELING §1, §4): every expected number below is worked out by
hand in the comment next to it, from the recurrences as MODELING states them."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowtime.domain.compile.flow import retry_kernel
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.modeling.names import snake
from tests.building import model_of


def model_text(nodes: str, topology: str = "", bins: int = 3, extra: str = "") -> str:
    return textwrap.dedent("""\
        metadata: {id: flow}
        window: {start: "2025-01-01T00:00:00Z"}
        grid: {bins: %d, binSize: 1, binUnit: hours}
        """) % bins + textwrap.dedent(topology) + textwrap.dedent(nodes) + textwrap.dedent(extra)


def run(text: str) -> dict[str, list[float]]:
    model = model_of(text)
    return {k: v.tolist() for k, v in evaluate_model(model, seed=1).items()}


def problems(text: str) -> list[str]:
    with pytest.raises(FlowTimeError) as info:
        model_of(text)
    return [str(p) for p in info.value.problems]


def test_snake_case_names_follow_modeling_0():
    assert [snake(n) for n in ("Queue", "QueueA", "DLQ", "HTTPService", "orderApi", "q")] == [
        "queue", "queue_a", "dlq", "http_service", "order_api", "q"]


def test_queue_grows_from_its_initial_depth_and_loses_errors():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [10, 10, 10, 0]}
          - {id: s, kind: const, values: [4, 4, 20, 1]}
          - {id: e, kind: const, values: [1, 0, 0, 0]}
        """, """\
        topology:
          nodes:
            - id: Q
              kind: queue
              semantics: {arrivals: a, served: s, errors: e}
              initialCondition: {queueDepth: 5}
        """, bins=4)
    values = run(text)
    # 5+10-4-1 = 10; 10+10-4 = 16; 16+10-20 = 6; 6+0-1 = 5
    assert values["q_queue"] == [10, 16, 6, 5]
    # Q / served × 3,600,000 ms (one-hour bins): 10/4, 16/4, 6/20, 5/1
    assert values["q_queue_time_ms"] == [9e6, 14.4e6, 1.08e6, 18e6]
    assert values["q_latency_min"] == [150, 240, 18, 300]
    assert values["q_cycle_time_ms"] == values["q_queue_time_ms"]


def test_service_with_queue_depth_self_is_queue_like():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [3, 3, 3]}
          - {id: s, kind: const, values: [1, 1, 1]}
        """, """\
        topology:
          nodes:
            - {id: Svc, kind: service, semantics: {arrivals: a, served: s, queueDepth: self}}
        """)
    assert run(text)["svc_queue"] == [2, 4, 6]


BUFFER = """\
    topology:
      nodes:
        - {id: Buf, kind: serviceWithBuffer, semantics: {arrivals: a, served: s}%s}
    """


def test_wip_limit_caps_the_queue_and_the_excess_overflows():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [10, 10, 10]}
          - {id: s, kind: const, values: [3, 3, 3]}
        """, BUFFER % ", wipLimit: 12")
    values = run(text)
    # pre: 7 → 7; 7+7 = 14 → 12 (2 over); 12+7 = 19 → 12 (7 over)
    assert values["buf_queue"] == [7, 12, 12]
    assert values["buf_overflow"] == [0, 2, 7]


def test_a_time_varying_wip_limit():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [10, 10, 10]}
          - {id: s, kind: const, values: [3, 3, 3]}
          - {id: limit, kind: const, values: [5, 100, 2]}
        """, BUFFER % ", wipLimitSeries: limit, wipLimit: 1000")
    values = run(text)
    # 7 → 5 (2 over); 5+7 = 12 ≤ 100; 12+7 = 19 → 2 (17 over); the series wins over 1000
    assert values["buf_queue"] == [5, 12, 2]
    assert values["buf_overflow"] == [2, 0, 17]


def test_no_limit_means_no_overflow_series():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [10, 10, 10]}
          - {id: s, kind: const, values: [3, 3, 3]}
        """, BUFFER % "")
    values = run(text)
    assert values["buf_queue"] == [7, 14, 21] and "buf_overflow" not in values


def test_overflow_into_a_dlq():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [10, 10, 10]}
          - {id: s, kind: const, values: [3, 3, 3]}
          - {id: none, kind: const, values: [0, 0, 0]}
        """, """\
        topology:
          nodes:
            - {id: Buf, kind: serviceWithBuffer, semantics: {arrivals: a, served: s},
               wipLimit: 12, wipOverflow: DLQ}
            - {id: DLQ, kind: dlq, semantics: {arrivals: none, served: none}}
        """)
    values = run(text)
    assert values["dlq_inflow_from_buf"] == [0, 2, 7]
    assert values["dlq_queue"] == [0, 2, 9]  # it keeps what overflowed


def test_a_three_stage_overflow_cascade():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [10, 0]}
          - {id: zero, kind: const, values: [0, 0]}
        """, """\
        topology:
          nodes:
            - {id: A, kind: queue, semantics: {arrivals: a, served: zero}, wipLimit: 5,
               wipOverflow: B}
            - {id: B, kind: queue, semantics: {arrivals: zero, served: zero}, wipLimit: 3,
               wipOverflow: C}
            - {id: C, kind: queue, semantics: {arrivals: zero, served: zero}}
        """, bins=2)
    values = run(text)
    # t0: A 10 → 5 (5 to B); B 5 → 3 (2 to C); C 2. t1: nothing new arrives.
    assert values["a_queue"] == [5, 5] and values["a_overflow"] == [5, 0]
    assert values["b_queue"] == [3, 3] and values["b_overflow"] == [2, 0]
    assert values["c_queue"] == [2, 2]


def test_an_overflow_cycle_is_rejected_naming_the_cycle():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [1, 1, 1]}
        """, """\
        topology:
          nodes:
            - {id: A, kind: queue, semantics: {arrivals: a, served: a}, wipLimit: 1,
               wipOverflow: B}
            - {id: B, kind: queue, semantics: {arrivals: a, served: a}, wipLimit: 1,
               wipOverflow: A}
        """)
    found = problems(text)
    assert any("cycle" in p and "A -> B -> A" in p for p in found), found


def test_overflow_targets_must_exist_and_be_queue_like():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [1, 1, 1]}
        """, """\
        topology:
          nodes:
            - {id: A, kind: queue, semantics: {arrivals: a, served: a}, wipLimit: 1,
               wipOverflow: Nowhere}
            - {id: B, kind: queue, semantics: {arrivals: a, served: a}, wipLimit: 1,
               wipOverflow: S}
            - {id: S, kind: service, semantics: {arrivals: a}}
        """)
    found = problems(text)
    assert "topology.nodes[0].wipOverflow: unknown topology node 'Nowhere' (use `loss` or a " \
        "node id)" in found
    assert "topology.nodes[1].wipOverflow: 'S' is not queue-like, so it cannot take overflow" \
        in found


DISPATCH = """\
    topology:
      nodes:
        - id: Bus
          kind: queue
          semantics: {arrivals: a, served: s}
          dispatchSchedule: %s
    """


def test_dispatch_every_third_bin():
    nodes = """\
        nodes:
          - {id: a, kind: const, values: [4, 4, 4, 4, 4, 4]}
          - {id: s, kind: const, values: [10, 10, 10, 10, 10, 10]}
          - {id: cap, kind: const, values: [6, 6, 6, 6, 6, 6]}
        """
    values = run(model_text(nodes, DISPATCH % "{periodBins: 3}", bins=6))
    assert values["bus_gated_outflow"] == [10, 0, 0, 10, 0, 0]
    # max(0, 4-10) = 0; 4; 8; 8+4-10 = 2; 6; 10
    assert values["bus_queue"] == [0, 4, 8, 2, 6, 10]
    assert values["s"] == [10] * 6  # served itself is not changed
    capped = run(model_text(nodes, DISPATCH % "{periodBins: 3, capacitySeries: cap}", bins=6))
    assert capped["bus_gated_outflow"] == [6, 0, 0, 6, 0, 0]
    assert capped["bus_queue"] == [0, 4, 8, 6, 10, 14]
    shifted = run(model_text(nodes, DISPATCH % "{periodBins: 3, phaseOffset: 4}", bins=6))
    assert shifted["bus_gated_outflow"] == [0, 10, 0, 0, 10, 0]  # phase 4 mod 3 = 1


def test_parallelism_multiplies_capacity_and_capacity_drives_the_outflow():
    nodes = """\
        nodes:
          - {id: a, kind: const, values: [10, 10]}
          - {id: c, kind: const, values: [3, 3]}
        """
    topology = """\
        topology:
          nodes:
            - {id: Pool, kind: serviceWithBuffer, semantics: {arrivals: a, capacity: c,
               parallelism: %s}}
        """
    values = run(model_text(nodes, topology % "2", bins=2))
    assert values["pool_effective_capacity"] == [6, 6]
    assert values["pool_queue"] == [4, 8]  # 10-6; 4+10-6
    assert values["pool_served"] == [6, 6]  # min(Q[t-1] + in, 6)
    assert values["pool_utilization"] == [1, 1]
    unchanged = run(model_text(nodes, topology % "0", bins=2))  # ≤ 0: capacity as is
    assert unchanged["pool_effective_capacity"] == [3, 3]
    assert unchanged["pool_queue"] == [7, 14]


ROUTER = """\
    nodes:
      - {id: src, kind: const, values: [10, 20]}
      - {id: split, kind: router, %s}
    """


def test_weight_router_splits_by_share():
    text = model_text(ROUTER % "router: {inputs: {queue: src}, routes: [{target: a, weight: 1}, "
                      "{target: b, weight: 3}]}", bins=2)
    values = run(text)
    assert values["a"] == [2.5, 5] and values["b"] == [7.5, 15]
    assert values["split"] == [10, 20]  # the router's own series is its source


def test_default_weights_and_routes_to_one_target_add_up():
    # The reference's spelling: inputs and routes directly on the node.
    even = run(model_text(ROUTER % "inputs: {queue: src}, routes: [{target: a}, "
                          "{target: b}]", bins=2))
    assert even["a"] == [5, 10] and even["b"] == [5, 10]
    summed = run(model_text(ROUTER % "inputs: {queue: src}, routes: [{target: a, weight: 1},"
                            " {target: a, weight: 1}, {target: b, weight: 2}]", bins=2))
    assert summed["a"] == [5, 10] and summed["b"] == [5, 10]


def test_router_validation():
    classes = problems(model_text(ROUTER % "inputs: {queue: src}, routes: [{target: a, "
                                  "classes: [vip]}, {target: b}]", bins=2))
    assert "nodes[1].routes[0].classes[0]: unknown class 'vip' (the model declares no classes)" \
        in classes
    zero = problems(model_text(ROUTER % "inputs: {queue: src}, routes: [{target: a, "
                               "weight: 0}]", bins=2))
    assert "nodes[1].routes: the weights sum to 0; they must sum to > 0" in zero


def test_a_shared_constraint_admits_proportionally():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [6, 2, 4]}
          - {id: b, kind: const, values: [4, 2, 6]}
          - {id: cap, kind: const, values: [5, 10, 0]}
          - {id: one, kind: const, values: [1, 1, 1]}
        """, """\
        topology:
          nodes:
            - {id: A, kind: queue, semantics: {arrivals: a, served: one}, constraints: [db]}
            - {id: B, kind: service, semantics: {arrivals: b}, constraints: [db]}
          constraints:
            - {id: db, semantics: {served: cap}}
        """)
    values = run(text)
    # t0: demand 10 > 5 → 5×6/10 = 3 and 2; t1: 4 ≤ 10 → as asked; t2: capacity 0 → nothing
    assert values["a_capped_db"] == [3, 2, 0]
    assert values["b_capped_db"] == [2, 2, 0]
    assert values["a_queue"] == [2, 3, 2]  # the admitted inflow feeds the queue: 3-1, +2-1, +0-1


def test_an_unknown_constraint_is_an_error():
    found = problems(model_text("""\
        nodes:
          - {id: a, kind: const, values: [1, 1, 1]}
        """, """\
        topology:
          nodes:
            - {id: A, semantics: {arrivals: a}, constraints: [nope]}
        """))
    assert "topology.nodes[0].constraints[0]: unknown constraint 'nope' (defined: none)" in found


def test_retry_echo_default_and_custom_kernels():
    def echo(kernel: str) -> list[float]:
        return run(model_text("""\
            nodes:
              - {id: f, kind: const, values: [10, 0, 0, 0]}
            """, """\
            topology:
              nodes:
                - {id: S, semantics: {failures: f, retryEcho: echo%s}}
            """ % kernel, bins=4))["echo"]

    assert echo("") == [0, 6, 3, 1]  # [0, 0.6, 0.3, 0.1]
    assert echo(", retryKernel: [0, 2, 2]") == [0, 5, 5, 0]  # Σ 4 > 1: scaled to [0, .5, .5]
    assert echo(", retryKernel: [-1, 1]") == [0, 10, 0, 0]  # negatives are 0
    assert retry_kernel([]) == (0, 0.6, 0.3, 0.1)
    assert retry_kernel([0.2, math.nan, 0.3]) == (0.2, 0, 0.3)  # Σ ≤ 1: unscaled


def test_nan_and_infinite_inputs_count_as_zero():
    text = model_text("""\
        nodes:
          - {id: spike, kind: const, values: [0, 1, 0]}
          - {id: a, kind: expr, expr: "5 + spike * 1e308 * 10"}
          - {id: inf, kind: expr, expr: "spike * 1e308 * 10"}
          - {id: s, kind: expr, expr: "1 + inf - inf"}
        """, """\
        topology:
          nodes:
            - {id: Q, kind: queue, semantics: {arrivals: a, served: s}}
        """)
    values = run(text)
    assert math.isinf(values["a"][1]) and math.isnan(values["s"][1])
    assert values["q_queue"] == [4, 4, 8]  # arrivals [5, 0, 5], served [1, 0, 1]


def test_derived_metrics_are_zero_where_they_divide_by_zero():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [5, 0, 0]}
          - {id: s, kind: const, values: [0, 2, 0]}
          - {id: c, kind: const, values: [0, 4, 0]}
        """, """\
        topology:
          nodes:
            - {id: Q, kind: queue, semantics: {arrivals: a, served: s, capacity: c}}
        """)
    values = run(text)
    assert values["q_queue"] == [5, 3, 3]
    assert values["q_utilization"] == [0, 0.5, 0]
    assert values["q_queue_time_ms"] == [0, 3 / 2 * 3.6e6, 0]


def test_service_time_cycle_time_and_flow_efficiency():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [4, 4, 4]}
          - {id: s, kind: const, values: [2, 4, 0]}
          - {id: work, kind: const, values: [600000, 1200000, 0]}
        """, """\
        topology:
          nodes:
            - {id: Q, kind: queue, semantics: {arrivals: a, served: s,
               processingTimeMsSum: work, servedCount: s}}
        """)
    values = run(text)
    assert values["q_queue"] == [2, 2, 6]
    assert values["q_service_time_ms"] == [300000, 300000, 0]
    assert values["q_queue_time_ms"] == [3.6e6, 1.8e6, 0]  # 2/2, 2/4 hours
    assert values["q_cycle_time_ms"] == [3.9e6, 2.1e6, 0]
    assert values["q_flow_efficiency"] == [300000 / 3.9e6, 300000 / 2.1e6, 0]


def test_a_queue_written_by_hand_is_kept_and_gets_derived_metrics():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [4, 4, 4]}
          - {id: s, kind: const, values: [2, 2, 2]}
          - {id: q, kind: expr, expr: "MAX(0, SHIFT(q, 1) + a - s) * 10"}
        """, """\
        topology:
          nodes:
            - {id: Q, kind: queue, semantics: {arrivals: a, served: s, queue: q},
               initialCondition: {queueDepth: 0}}
        """)
    values = run(text)
    assert values["q"] == [20, 220, 2220] and "q_queue" not in values
    assert values["q_queue_time_ms"][0] == 20 / 2 * 3.6e6


def test_backpressure_through_a_synthesized_queue_evaluates():
    text = model_text("""\
        nodes:
          - {id: demand, kind: const, values: [10, 10, 10, 10]}
          - {id: s, kind: const, values: [4, 4, 4, 4]}
          - {id: pressure, kind: expr, expr: "MIN(1, work_queue / 20)"}
          - {id: effective, kind: expr, expr: "demand * (1 - SHIFT(pressure, 1))"}
        """, """\
        topology:
          nodes:
            - {id: Work, kind: queue, semantics: {arrivals: effective, served: s}}
        """, bins=4)
    values = run(text)
    # t0: in 10 → Q 6, p .3; t1: in 7 → Q 9, p .45; t2: in 5.5 → Q 10.5; t3: in 10×(1-.525)
    assert values["work_queue"] == pytest.approx([6, 9, 10.5, 11.25])


def test_sinks_without_served_complete_what_arrives():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [5, 3, 1]}
          - {id: e, kind: const, values: [1, 5, 0]}
        """, """\
        topology:
          nodes:
            - {id: Done, kind: Sink, semantics: {arrivals: a, errors: e}}
        """)
    assert run(text)["done_served"] == [4, 0, 1]  # MAX(0, arrivals - errors)


def test_queue_like_nodes_need_arrivals_and_an_outflow():
    found = problems(model_text("""\
        nodes:
          - {id: a, kind: const, values: [1, 1, 1]}
        """, """\
        topology:
          nodes:
            - {id: A, kind: queue, semantics: {served: a}}
            - {id: B, kind: serviceWithBuffer, semantics: {arrivals: a}}
            - {id: C, kind: dlq}
        """))
    assert "topology.nodes[0].semantics.arrivals: is required for a queue node" in found
    assert "topology.nodes[1].semantics: a queue needs `served` or `capacity` (its outflow)" \
        in found
    # a DLQ needs arrivals or overflow sent into it; it needs no outflow (it keeps its work)
    assert ("topology.nodes[2].semantics.arrivals: is required for a dlq node (or WIP "
            "overflow sent into it)") in found


def _reference_queue(arrivals, served, limits, initial):
    """MODELING §1.1 written out plainly."""
    previous, queue, overflow = initial, [], []
    for a, s, limit in zip(arrivals, served, limits, strict=True):
        q = max(0.0, previous + a - s)
        spill = 0.0
        if q > limit:
            spill, q = q - limit, limit
        queue.append(q)
        overflow.append(spill)
        previous = q
    return queue, overflow


def _number() -> st.SearchStrategy[float]:
    return st.floats(0, 100).map(lambda x: round(x, 4))


@given(st.lists(st.tuples(_number(), _number(), _number()), min_size=1, max_size=12), _number())
@settings(max_examples=150, deadline=None)
def test_property_the_synthesized_queue_is_the_recurrence(rows, initial):
    arrivals, served, limits = (list(col) for col in zip(*rows, strict=True))
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [%s]}
          - {id: s, kind: const, values: [%s]}
          - {id: L, kind: const, values: [%s]}
        """ % tuple(", ".join(f"{v:.4f}" for v in col) for col in (arrivals, served, limits)),
        """\
        topology:
          nodes:
            - id: Buf
              kind: serviceWithBuffer
              semantics: {arrivals: a, served: s}
              wipLimitSeries: L
              initialCondition: {queueDepth: %.4f}
        """ % initial, bins=len(rows))
    values = run(text)
    expected_q, expected_overflow = _reference_queue(arrivals, served, limits, initial)
    np.testing.assert_allclose(values["buf_queue"], expected_q, rtol=0, atol=1e-9)
    np.testing.assert_allclose(values["buf_overflow"], expected_overflow, rtol=0, atol=1e-9)
    q, overflow = np.array(values["buf_queue"]), np.array(values["buf_overflow"])
    assert (q >= 0).all() and (q <= np.array(limits) + 1e-12).all() and (overflow >= 0).all()


def test_dlq_edges_that_are_not_terminal_are_warned_about():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [1, 1, 1]}
        """, """\
        topology:
          nodes:
            - {id: Svc, semantics: {arrivals: a, served: a}}
            - {id: DLQ, kind: dlq, semantics: {arrivals: a, served: a}}
          edges:
            - {from: Svc, to: DLQ}
            - {from: DLQ, to: Svc, type: terminal}
        """)
    [warning] = model_of(text).warnings
    assert warning.code == "dlq_non_terminal_inbound" and warning.node_id == "DLQ"
    assert "should be `type: terminal`" in warning.message


def test_service_with_buffer_model_node_is_a_queue_series():
    text = model_text("""\
        nodes:
          - {id: inflow, kind: const, values: [10, 12, 8, 0]}
          - {id: out, kind: const, values: [6, 6, 6, 6]}
          - {id: lost, kind: const, values: [1, 0, 0, 0]}
          - {id: backlog, kind: serviceWithBuffer, inflow: inflow, outflow: out, loss: lost,
             dispatchSchedule: {periodBins: 2}}
        """, """\
        topology:
          nodes:
            - {id: Wave, kind: service, semantics: {arrivals: inflow, served: out,
               queueDepth: backlog}, initialCondition: {queueDepth: 2}}
        """, bins=4)
    values = run(text)
    # outflow only on even bins: 2+10-6-1 = 5; 5+12 = 17; 17+8-6 = 19; 19+0 = 19
    assert values["backlog"] == [5, 17, 19, 19]
    model = model_of(text)
    [component] = model.plan.components
    assert component.queue_like and component.metrics["queue"] == "backlog"


def test_edge_flows_split_by_weight_and_measure_times_the_multiplier():
    text = model_text("""\
        nodes:
          - {id: a, kind: const, values: [10, 20, 30]}
          - {id: s, kind: const, values: [8, 16, 24]}
          - {id: e, kind: const, values: [2, 4, 6]}
          - {id: side, kind: const, values: [1, 1, 1]}
        """, """\
        topology:
          nodes:
            - {id: Api, semantics: {arrivals: a, served: s, errors: e}}
            - {id: Billing, semantics: {arrivals: s}}
            - {id: Audit, semantics: {arrivals: s}}
            - {id: Failed, kind: dlq, semantics: {arrivals: e, served: e}}
          edges:
            - {id: to-billing, from: "Api:out", to: "Billing:in", weight: 3}
            - {id: to-audit, from: Api, to: Audit, weight: 1, multiplier: 0.5}
            - {id: errors, from: Api, to: Failed, measure: errors, weight: 0, type: terminal}
            - {from: side, to: Audit}
        """)
    values = run(text)
    # served split 3:1 over the served edges leaving Api (3 + 1 = 4)
    assert values["edge.to-billing"] == [6, 12, 18]
    assert values["edge.to-audit"] == [1, 2, 3]  # 1/4 × 0.5
    assert values["edge.errors"] == [0, 0, 0]  # the only errors edge, but weight 0: Σ = 0
    assert values["edge.side-_Audit"] == [1, 1, 1]  # a series that is not a topology node
