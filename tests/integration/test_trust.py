"""What a modeller reads off a run is right (issue 33): SLA colours, bottlenecks, DLQs fed by
overflow, ignored edge weights, one definition per derived metric, Kingman's wait. Every
expected number is worked out by hand in the comments."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

from flowtime.domain.views.flow_analysis import Links, NodeFlow, analyse
from tests.building import model_of


def _run(client, text: str) -> str:
    response = client.post("/v1/runs", json={"template": textwrap.dedent(text)})
    assert response.status_code == 201, response.text
    return response.json()["metadata"]["runId"]


def _series(client, run_id: str, name: str) -> list[float]:
    text = client.get(f"/v1/runs/{run_id}/series/{name}").text
    return [float(line.split(",")[1]) for line in text.splitlines()[1:]]


def _node(state: dict, node_id: str) -> dict:
    return next(n for n in state["nodes"] if n["id"] == node_id)


BUFFERED = """\
    grid: {bins: 2, binSize: 5, binUnit: minutes}
    nodes:
      - {id: demand, kind: const, values: [71.8, 20]}
      - {id: cap, kind: const, values: [20, 20]}
    topology:
      nodes:
        - {id: Desk, kind: serviceWithBuffer, semantics: {arrivals: demand, capacity: cap%s}%s}
    """


@pytest.mark.parametrize(("in_semantics", "on_node", "colour"), [
    ("", ", slaMinutes: 120", "green"), (", slaMin: 10", "", "yellow"), ("", "", "red")])
def test_a_service_with_buffer_inside_its_sla_is_not_red(client, in_semantics, on_node, colour):
    # bin 0: served = min(71.8, 20) = 20, Q = 51.8; latency = 51.8 / 20 × 5 min = 12.95 min;
    # utilization 20 / 20 = 1. SLA 120 → green (12.95 ≤ 120); SLA 10 → 12.95 / 10 = 1.295
    # ≤ 1.5 → yellow; no SLA → the utilization rule: 1 ≥ 0.9 → red
    run_id = _run(client, BUFFERED % (in_semantics, on_node))
    node = _node(client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 0}).json(), "Desk")
    assert node["derived"]["latencyMinutes"] == pytest.approx(12.95)
    assert node["derived"]["utilization"] == 1
    assert node["derived"]["color"] == colour


def test_a_queue_that_ends_below_where_it_started_is_not_growth():
    # Q 5 → 4 → 6 → 2: Q[last] − Q[first] = −3, no overflow: not a bottleneck, and no
    # message may say it "grew by 2" (the old rule measured from 0 before the window)
    node = NodeFlow("Q", queue=np.array([5.0, 4.0, 6.0, 2.0]), served=np.full(4, 4.0),
                    capacity=np.full(4, 4.0),
                    arrivals=np.array([4.0, 3.0, 6.0, 0.0]))
    assert analyse([node], Links.of([]), 0, 3) == []


LINE = """\
    grid: {bins: 4, binSize: 60, binUnit: minutes}
    nodes:
      - {id: demand, kind: const, values: [10, 10, 10, 10]}
      - {id: fast, kind: const, values: [12, 12, 12, 12]}
      - {id: slow, kind: const, values: [6, 6, 6, 6]}
    topology:
      nodes:
        - {id: Intake, kind: serviceWithBuffer, semantics: {arrivals: demand, capacity: fast}}
        - id: Middle
          kind: serviceWithBuffer
          semantics: {arrivals: intake_served, capacity: slow}
          wipLimit: 5
          wipOverflow: Scrap
        - {id: Scrap, kind: dlq}
      edges:
        - {from: Intake, to: Middle}
        - {from: Middle, to: Scrap, type: terminal}
    """


def test_a_line_names_its_overflowing_middle_stage_never_the_dlq(client):
    # Intake serves min(10, 12) = 10 a bin, no queue. Middle: capacity 6, limit 5:
    # bin 0: 0 + 10 − 6 = 4; bin 1: 4 + 10 − 6 = 8 → 5, overflow 3; bins 2, 3: 9 → 5,
    # overflow 4 each. The DLQ Scrap (no semantics) receives the overflow and keeps it:
    # Q = 0, 3, 7, 11 — it grows the most, but it serves nothing, so it is never named.
    run_id = _run(client, LINE)
    assert _series(client, run_id, "middle_overflow") == [0, 3, 4, 4]
    assert _series(client, run_id, "scrap_arrivals") == [0, 3, 4, 4]
    assert _series(client, run_id, "scrap_queue") == [0, 3, 7, 11]
    run = client.get(f"/v1/runs/{run_id}").json()
    bottlenecks = run["metadata"]["analysis"]["bottlenecks"] if "analysis" in run.get(
        "metadata", {}) else run["analysis"]["bottlenecks"]
    assert [b["nodeId"] for b in bottlenecks] == ["Middle"]
    assert bottlenecks[0]["meanUtilization"] == 1  # served 6 of capacity 6 every bin
    assert bottlenecks[0]["queueGrowth"] == 1  # Q[last] − Q[first] = 5 − 4
    window = client.get(f"/v1/runs/{run_id}/state_window",
                        params={"startBin": 0, "endBin": 3}).json()
    named = [w for w in window["warnings"] if w["code"] == "bottleneck"]
    assert [w["nodeId"] for w in named] == ["Middle"]
    # the message states the numbers it was computed from: Q 4 → 5 and 11 overflowed
    assert "from 4 to 5" in named[0]["message"] and "11 overflowed" in named[0]["message"]


ROUTED = """\
    grid: {bins: 2, binSize: 60, binUnit: minutes}
    nodes:
      - {id: demand, kind: const, values: [19, 19]}
      - {id: split, kind: router, router: {inputs: {queue: demand},
         routes: [{target: tier1_in, weight: 7}, {target: tier2_in, weight: 3}]}}
    topology:
      nodes:
        - {id: Triage, kind: service, semantics: {arrivals: demand, served: demand}}
        - {id: Tier1, kind: service, semantics: {arrivals: tier1_in, served: tier1_in}}
        - {id: Tier2, kind: service, semantics: {arrivals: tier2_in, served: tier2_in}}
      edges:
        - {id: t1, from: Triage, to: Tier1, weight: 7}
        - {id: t2, from: Triage, to: Tier2, weight: 7}
    """


def test_declared_edge_weights_the_router_overrides_are_reported(client):
    # the edges declare 7:7 (a share of 0.5 each); the router sends 7/10 = 0.7 and 0.3:
    # the edges carry the routed flow (19 × 0.7 = 13.3 and 5.7), and an info warning per edge
    # names both shares
    run_id = _run(client, ROUTED)
    run = client.get(f"/v1/runs/{run_id}").json()
    ignored = {w["edgeIds"][0]: w for w in run["warnings"] if w["code"] == "edge_weight_ignored"}
    assert sorted(ignored) == ["t1", "t2"]
    assert ignored["t1"]["severity"] == "info"
    assert "0.5" in ignored["t1"]["message"] and "0.7" in ignored["t1"]["message"]
    assert "0.5" in ignored["t2"]["message"] and "0.3" in ignored["t2"]["message"]
    assert _series(client, run_id, "edge.t1") == pytest.approx([13.3, 13.3])
    assert _series(client, run_id, "edge.t2") == pytest.approx([5.7, 5.7])


def test_weights_that_match_the_routes_raise_nothing(client):
    run_id = _run(client, ROUTED.replace("weight: 7}\n        - {id: t2, from: Triage, to: "
                                         "Tier2, weight: 7}",
                                         "weight: 7}\n        - {id: t2, from: Triage, to: "
                                         "Tier2, weight: 3}"))
    run = client.get(f"/v1/runs/{run_id}").json()
    assert not [w for w in run["warnings"] if w["code"] == "edge_weight_ignored"]


def test_utilization_has_one_definition_in_the_bundle_and_in_state(client):
    # served 1 over capacity [1, 0, −1]: 1, then no ratio (capacity ≤ 0): the bundle holds 0
    # and /state null — never −1 from dividing by a negative capacity
    run_id = _run(client, """\
        grid: {bins: 3, binSize: 60, binUnit: minutes}
        nodes:
          - {id: work, kind: const, values: [1, 1, 1]}
          - {id: cap, kind: const, values: [1, 0, -1]}
        topology:
          nodes:
            - {id: Svc, kind: service, semantics: {arrivals: work, served: work, capacity: cap}}
        """)
    assert _series(client, run_id, "svc_utilization") == [1, 0, 0]
    seen = [_node(client.get(f"/v1/runs/{run_id}/state", params={"binIndex": i}).json(),
                  "Svc")["derived"]["utilization"] for i in range(3)]
    assert seen == [1, None, None]
    window = client.get(f"/v1/runs/{run_id}/state_window",
                        params={"startBin": 0, "endBin": 2}).json()
    assert _node(window, "Svc")["series"]["utilization"] == [1, None, None]


def test_kingman_wait_on_a_pmf_arrival():
    from flowtime.domain.evaluate.engine import evaluate_model

    # arrivals PMF {4: 0.5, 12: 0.5}: μ = 8, σ = 4, Ca = 0.5; service time 4000 / 8 = 500 ms
    # (constants: Cs = 0); ρ = 8 / 10 = 0.8 in every bin:
    # Wq = ρ / (1 − ρ) × (Ca² + Cs²) / 2 × 500 = 4 × 0.125 × 500 = 250 ms
    mean = 0.5 * 4 + 0.5 * 12
    ca = math.sqrt(0.5 * (4 - mean) ** 2 + 0.5 * (12 - mean) ** 2) / mean
    expected = 0.8 / (1 - 0.8) * (ca ** 2 + 0.0) / 2 * (4000 / 8)
    assert expected == pytest.approx(250)
    text = textwrap.dedent("""\
        grid: {bins: 3, binSize: 60, binUnit: minutes}
        nodes:
          - {id: calls, kind: pmf, pmf: {values: [4, 12], probabilities: [0.5, 0.5]}}
          - {id: done, kind: const, values: [8, 8, 8]}
          - {id: cap, kind: const, values: [10, 10, 10]}
          - {id: busy_ms, kind: const, values: [4000, 4000, 4000]}
        topology:
          nodes:
            - id: Agent
              semantics: {arrivals: calls, served: done, capacity: cap,
                          processingTimeMsSum: busy_ms, servedCount: done}
        """)
    model = model_of(text, {}, default_id="kingman")
    values = evaluate_model(model, seed=3)
    assert values["agent_kingman_wq"].tolist() == pytest.approx([expected] * 3, rel=1e-12)
    # ρ ≥ 1 has no meaning: the bundle holds 0 there
    saturated = model_of(text.replace("values: [10, 10, 10]",
                                                        "values: [8, 8, 8]"), {}, default_id="kingman")
    assert evaluate_model(saturated, seed=3)["agent_kingman_wq"].tolist() == [0, 0, 0]


def test_a_constrained_service_is_capped_by_its_allocation(client):
    # MODELING §1.3 (turn 3): demands 9 (A) and 6 (B) on a capacity of 10 in bin 1:
    # A's allocation is 10 × 9 / 15 = 6, so A's own served 9 is capped at 6; bin 0 (demand
    # 9 + 1 = 10 ≤ 10) admits everything: served stays 8. Utilization reads the capped
    # series: 6 / 12 = 0.5 in bin 1.
    run_id = _run(client, """\
        grid: {bins: 2, binSize: 60, binUnit: minutes}
        nodes:
          - {id: a, kind: const, values: [9, 9]}
          - {id: b, kind: const, values: [1, 6]}
          - {id: a_done, kind: const, values: [8, 9]}
          - {id: a_cap, kind: const, values: [12, 12]}
          - {id: db, kind: const, values: [10, 10]}
        topology:
          constraints: [{id: db, semantics: {served: db}}]
          nodes:
            - {id: A, semantics: {arrivals: a, served: a_done, capacity: a_cap}, constraints: [db]}
            - {id: B, semantics: {arrivals: b}, constraints: [db]}
        """)
    assert _series(client, run_id, "a_served_capped") == [8, 6]
    assert _series(client, run_id, "a_utilization") == pytest.approx([8 / 12, 0.5])
    state = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 1}).json()
    a = _node(state, "A")
    assert a["metrics"]["served"] == 6 and a["derived"]["utilization"] == 0.5
    assert a["constraints"]["db"]["metrics"] == {"capacity": 10, "demand": 15,
                                                 "allocation": 6, "shortfall": 5}
    assert a["constraintStatus"] == {"db": True}
