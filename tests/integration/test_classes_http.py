"""Classes over HTTP (MODELING §2, §3): class series in the bundle, `byClass` in /state and
/state_window, class metadata, per-class edge flow. Numbers worked out by hand."""

from __future__ import annotations

import textwrap

from flowtime.domain.modeling import schemas

MODEL = textwrap.dedent("""\
    metadata: {id: classed-desk, title: Classed desk}
    window: {start: "2025-03-01T00:00:00Z"}
    grid: {bins: 3, binSize: 1, binUnit: hours}
    classes:
      - {id: orders, displayName: Orders}
      - {id: refunds}
    traffic:
      arrivals:
        - {nodeId: demand, classId: orders, pattern: {kind: constant, ratePerBin: 3}}
        - {nodeId: demand, classId: refunds, pattern: {kind: constant, ratePerBin: 1}}
    nodes:
      - {id: demand, kind: const, values: [40, 0, 8]}
      - {id: cap, kind: const, values: [20, 20, 20]}
      - {id: lookup, kind: const, values: [5, 5, 5]}
    topology:
      nodes:
        - {id: Desk, kind: serviceWithBuffer, semantics: {arrivals: demand, capacity: cap}}
        - {id: Out, kind: sink, semantics: {arrivals: desk_served}}
        - {id: Lookup, kind: dependency, semantics: {arrivals: lookup}}
      edges:
        - {from: Desk, to: Out}
    """)


def test_classes_reach_the_bundle_state_and_window(client):
    created = client.post("/v1/runs", json={"template": MODEL})
    assert created.status_code == 201, created.text
    run_id = created.json()["metadata"]["runId"]
    index = client.get(f"/v1/runs/{run_id}/index").json()
    assert schemas.validate("series-index", index) == []
    by_id = {e["id"]: e for e in index["series"]}
    assert by_id["desk_queue@DESK_QUEUE@orders"]["class"] == "orders"
    assert by_id["desk_queue@DESK_QUEUE@DEFAULT"]["class"] == "DEFAULT"
    assert "lookup@LOOKUP@orders" not in by_id  # not fed by a classed source
    assert "desk_utilization@DESK_UTILIZATION@orders" not in by_id  # ratios carry no classes
    csv = client.get(f"/v1/runs/{run_id}/series/desk_queue@DESK_QUEUE@refunds").text
    # Q = 40-20 = 20, 20+0-20 = 0, 8-20 → 0; refunds are 1/4
    assert csv.splitlines()[1:] == ["0,5", "1,0", "2,0"]

    state = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 0}).json()
    assert schemas.validate("time-travel-state", state) == []
    assert state["metadata"]["classes"] == [{"id": "orders", "displayName": "Orders"},
                                            {"id": "refunds"}]
    assert state["metadata"]["classCoverage"] == "partial"  # 2 of the 3 nodes with series
    desk = next(n for n in state["nodes"] if n["id"] == "Desk")
    # bin 0: arrivals 30/10, served min(40, 20) = 20 → 15/5, queue 20 → 15/5;
    # queue time = 15 / 15 × 3,600,000 ms = 3,600,000 ms (both classes)
    assert desk["byClass"]["orders"] == {"arrivals": 30, "served": 15, "queue": 15,
                                         "queueTimeMs": 3600000, "cycleTimeMs": 3600000}
    assert desk["byClass"]["refunds"]["arrivals"] == 10
    lookup = next(n for n in state["nodes"] if n["id"] == "Lookup")
    assert "byClass" not in lookup
    edge = state["edges"][0]
    assert edge["series"] == {"flowVolume": [20]}
    assert edge["byClass"] == {"orders": {"flowVolume": [15]}, "refunds": {"flowVolume": [5]}}

    window = client.get(f"/v1/runs/{run_id}/state_window",
                        params={"startBin": 0, "endBin": 2}).json()
    assert schemas.validate("time-travel-state", window) == []
    desk = next(n for n in window["nodes"] if n["id"] == "Desk")
    # served = min(Q[t-1] + in, 20) = 20, 20, 8; bin 1 has no arrivals: the mix is kept
    assert desk["byClass"]["refunds"]["served"] == [5, 5, 2]
    assert desk["byClass"]["orders"]["queueTimeMs"] == [3600000, 0, 0]
    assert window["edges"][0]["byClass"]["orders"] == {"flowVolume": [15, 15, 6]}


def test_flow_findings_in_the_window_and_on_the_run(client):
    created = client.post("/v1/runs", json={"templateId": "assembly-line"})
    assert created.status_code == 201, created.text
    run_id = created.json()["metadata"]["runId"]
    run = client.get(f"/v1/runs/{run_id}").json()
    # MODELING §5 (turn 3): Q 40 … 30, so queueGrowth = Q[last] − Q[first] = −10; Weld
    # qualifies by its overflow; bins where the queue rose or overflowed
    assert run["analysis"]["bottlenecks"] == [{
        "nodeId": "Weld", "bins": [2, 4, 6, 8, 10], "queueGrowth": -10.0,
        "meanUtilization": 0.5, "path": ["Cut", "Done", "Paint"]}]
    window = client.get(f"/v1/runs/{run_id}/state_window",
                        params={"startBin": 0, "endBin": 11}).json()
    assert schemas.validate("time-travel-state", window) == []
    found = {(w["code"], w["nodeId"]): w for w in window["warnings"]}
    assert (found[("blocked", "Weld")]["startBin"], found[("blocked", "Weld")]["endBin"]) == (6, 10)
    assert "Weld" in found[("starved", "Paint")]["message"]
    assert found[("bottleneck", "Weld")]["severity"] == "warning"
    graph = client.get(f"/v1/runs/{run_id}/graph").json()
    assert schemas.validate("graph", graph) == []
    assert [(e["from"], e["to"]) for e in graph["edges"]] == [
        ("Cut", "Weld"), ("Weld", "Paint"), ("Paint", "Done")]
