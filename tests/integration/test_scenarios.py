"""Scenarios with lineage (issue 40, MODELING §10): overlays in POST /v1/runs and
/scenarios, the diff against the baseline, SLA attainment — numbers worked out by hand."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from flowtime.adapters.cli.main import cli
from flowtime.adapters.overlays import overlays_from
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.views.scenarios import parse_short

DESK = textwrap.dedent("""\
    metadata: {id: desk, title: Desk}
    window: {start: "2025-01-01T00:00:00Z"}
    parameters: [{name: cap, type: number, default: 10, minimum: 0}]
    grid: {bins: 6, binSize: 60, binUnit: minutes}
    nodes:
      - {id: demand, kind: const, values: [8, 8, 8, 8, 8, 8]}
      - {id: cap, kind: const, values: [${cap}, ${cap}, ${cap}, ${cap}, ${cap}, ${cap}]}
    topology:
      nodes:
        - {id: Desk, kind: serviceWithBuffer, semantics: {arrivals: demand, capacity: cap},
           slaMinutes: 30}
    """)


def _series(client, run_id: str, name: str) -> list[float]:
    text = client.get(f"/v1/runs/{run_id}/series/{name}").text
    return [float(line.split(",")[1]) for line in text.splitlines()[1:]]


@pytest.fixture
def base(client) -> str:
    created = client.post("/v1/runs", json={"template": DESK})
    assert created.status_code == 201, created.text
    return created.json()["metadata"]["runId"]


def test_an_outage_scenario_its_diff_and_recovery(client, base):
    # the desk is down (capacity × 0) in bins 1 and 2: with 8 arriving and 10 served an hour
    # the queue is 0, 8, 16, then drains by 2 an hour: 14, 12, 10 (never back in 6 bins)
    made = client.post(f"/v1/runs/{base}/scenarios", json={
        "overlays": [{"target": "Desk.capacity", "op": "scale", "value": 0, "fromBin": 1,
                      "toBin": 3}]})
    assert made.status_code == 201, made.text
    body = made.json()
    scenario = body["metadata"]["runId"]
    assert body["baseRunId"] == base and body["overlays"][0]["target"] == "Desk.capacity"
    assert _series(client, scenario, "desk_queue") == [0, 8, 16, 14, 12, 10]
    assert _series(client, base, "desk_queue") == [0, 0, 0, 0, 0, 0]
    diff = client.get(f"/v1/runs/{scenario}/diff", params={"against": base}).json()
    desk = next(n for n in diff["nodes"] if n["id"] == "Desk")
    # Σ Δ queue = 8 + 16 + 14 + 12 + 10 = 60; Δ max = 16; Δ mean = 60 / 6 = 10
    assert desk["metrics"]["queue"] == {"deltaMean": 10, "deltaMax": 16, "deltaSum": 60}
    assert desk["extraBacklog"] == 60 and desk["recoveryBin"] is None
    # latency bin 1: Q 8 and nothing served: null; SLA status missed vs none (no flow)
    assert desk["firstFlipBin"] == 1
    # lineage: the baseline lists its scenarios
    listed = client.get("/v1/runs", params={"baseRunId": base}).json()
    assert [i["runId"] for i in listed["items"]] == [scenario]
    assert listed["items"][0]["baseRunId"] == base


def test_a_short_outage_recovers_and_the_diff_says_when(client, base):
    # capacity to 0 in bin 1 only: Q 0, 8, 6, 4, 2, 0 → equal to the baseline from bin 5
    made = client.post("/v1/runs", json={
        "template": DESK, "baseRunId": base,
        "overlays": [{"target": "cap", "op": "set", "value": 0, "fromBin": 1, "toBin": 2}]})
    assert made.status_code == 201, made.text
    scenario = made.json()["metadata"]["runId"]
    assert _series(client, scenario, "desk_queue") == [0, 8, 6, 4, 2, 0]
    desk = next(n for n in client.get(f"/v1/runs/{scenario}/diff",
                                      params={"against": base}).json()["nodes"]
                if n["id"] == "Desk")
    assert desk["recoveryBin"] == 5 and desk["extraBacklog"] == 20


def test_sla_attainment(client, base):
    # a surge (+20 arrivals in bins 0–1): Q 18, 36, 34, 32, 30, 28 with 10 served an hour;
    # latency = Q / 10 × 60 min: 108, 216, … all above the 30-minute SLA: 0 of 6 met
    made = client.post("/v1/runs", json={"template": DESK, "overlays": [
        {"target": "Desk.arrivals", "op": "add", "value": 20, "fromBin": 0, "toBin": 2}]})
    scenario = made.json()["metadata"]["runId"]
    report = client.get(f"/v1/runs/{scenario}/metrics").json()
    assert report["window"] == {"startBin": 0, "endBin": 5, "start": "2025-01-01T00:00:00Z",
                                "timezone": "UTC"}
    [desk] = report["nodes"]
    assert desk["binsMet"] == 0 and desk["binsWithFlow"] == 6 and desk["attainment"] == 0
    # the baseline: served 8 each bin, Q 0: flow, latency 0 ≤ 30: every bin met
    [calm] = client.get(f"/v1/runs/{base}/metrics", params={"startBin": 2, "endBin": 4}
                        ).json()["nodes"]
    assert calm["status"] == ["met", "met", "met"] and calm["attainment"] == 1


def test_overlays_are_checked_and_located(client, base):
    bad = client.post(f"/v1/runs/{base}/scenarios", json={"overlays": [
        {"target": "Desk.nope", "op": "set", "value": 1, "fromBin": 0, "toBin": 2}]})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["loc"] == "overlays[0].target"
    assert "capacity" in bad.json()["errors"][0]["msg"]
    past = client.post(f"/v1/runs/{base}/scenarios", json={"overlays": [
        {"target": "cap", "op": "set", "value": 1, "fromBin": 9, "toBin": 12}]})
    assert past.status_code == 400 and past.json()["errors"][0]["loc"] == "overlays[0].fromBin"
    backwards = client.post(f"/v1/runs/{base}/scenarios", json={"overlays": [
        {"target": "cap", "op": "set", "value": 1, "fromBin": 3, "toBin": 2}]})
    assert backwards.status_code == 400
    for target in ("\x1e", " cap", "cap\n", "Desk.\x00capacity"):
        # the wire's pattern and the domain's check agree: a JSON Schema (ECMA) validator and
        # Python's `re` read the same explicit classes, so the fuzzer's valid is our valid
        odd = client.post(f"/v1/runs/{base}/scenarios", json={"overlays": [
            {"target": target, "op": "set", "value": 1, "fromBin": 0, "toBin": 1}]})
        assert odd.status_code == 400, target
        assert odd.json()["errors"][0]["loc"] == "overlays[0].target"
    assert overlays_from([{
        "target": "Tier 1.capacity", "op": "add", "value": 1, "fromBin": 0,
        "toBin": 1}])[0].target == "Tier 1.capacity"
    with pytest.raises(FlowTimeError) as refused:
        overlays_from([{"target": "\x1c", "op": "add", "value": 1, "fromBin": 0, "toBin": 1}])
    assert refused.value.problems[0].loc == "overlays[0].target"
    assert client.post("/v1/runs/run_nope/scenarios", json={"overlays": [
        {"target": "cap", "op": "set", "value": 1, "fromBin": 0, "toBin": 1}]}).status_code == 404


def test_a_deterministic_scenario_is_reused(client, base):
    body = {"overlays": [{"target": "cap", "op": "scale", "value": 0.5, "fromBin": 0,
                          "toBin": 3}], "deterministicRunId": True}
    first = client.post(f"/v1/runs/{base}/scenarios", json=body)
    again = client.post(f"/v1/runs/{base}/scenarios", json=body)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["metadata"]["runId"] == again.json()["metadata"]["runId"]
    other = client.post(f"/v1/runs/{base}/scenarios", json={**body, "overlays": [
        {**body["overlays"][0], "value": 0.25}]})
    assert other.json()["metadata"]["runId"] != first.json()["metadata"]["runId"]


def test_the_short_overlay_syntax():
    overlay = parse_short("Tier1.capacity*0@40:44")
    assert (overlay.target, overlay.op, overlay.value, overlay.from_bin, overlay.to_bin) == (
        "Tier1.capacity", "scale", 0.0, 40, 44)
    assert parse_short("Gate.arrivals-5@1:2").value == -5.0
    assert parse_short("cap=3.5@0:1").op == "set"
    with pytest.raises(FlowTimeError):
        parse_short("Tier1.capacity*0")


def test_the_cli_and_library_make_scenarios(client, base, tmp_path, monkeypatch):
    import flowtime

    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    made = runner.invoke(cli, ["scenario", base, "--overlay", "Desk.capacity*0@1:3", "--json"])
    assert made.exit_code == 0, made.output
    scenario = json.loads(made.output)["metadata"]["runId"]
    diffed = runner.invoke(cli, ["runs", "diff", scenario, "--against", base, "--json"])
    desk = next(n for n in json.loads(diffed.output)["nodes"] if n["id"] == "Desk")
    assert desk["extraBacklog"] == 60
    overlays = tmp_path / "outage.json"
    overlays.write_text(json.dumps([{"target": "cap", "op": "set", "value": 0,
                                     "fromBin": 1, "toBin": 2}]))
    from_file = runner.invoke(cli, ["scenario", base, "--overlay-file", str(overlays), "--json"])
    assert from_file.exit_code == 0, from_file.output
    attained = runner.invoke(cli, ["runs", "metrics", base, "--json"])
    assert json.loads(attained.output)["nodes"][0]["attainment"] == 1
    shown = runner.invoke(cli, ["runs", "show", base])  # runs show says it too
    assert "sla         Desk: 100.0% of 6 bins with flow within 30 min" in shown.output
    run = flowtime.scenario(base, ["Desk.capacity*0@1:3"], store=str(tmp_path))
    assert run.arrays(["desk_queue"])["desk_queue"].tolist() == [0, 8, 16, 14, 12, 10]


OUTAGE = textwrap.dedent("""\
    metadata: {id: outage, title: Outage}
    window: {start: "2025-01-01T00:00:00Z"}
    grid: {bins: 16, binSize: 60, binUnit: minutes}
    nodes:
      - {id: arrivals, kind: const, values: [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10]}
      - {id: cap, kind: const, values: [12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12]}
    topology:
      nodes:
        - {id: Q, kind: serviceWithBuffer, semantics: {arrivals: arrivals, capacity: cap},
           slaMinutes: 30}
    """)


def test_the_issue_outage_recovery_backlog_and_first_flip(client):
    # arrivals 10, capacity 12, capacity × 0 over [2, 4): Q 0, 0, 10, 20, then −2 a bin:
    # 18, 16, …, 2, 0 at bin 13 → recoveryBin 13; extra backlog 10 + 20 + 18 + … + 2 = 120;
    # bin 2: nothing served with 10 queued (latency null: SLA missed, colour gray) where the
    # baseline served 10 with an empty queue (latency 0 ≤ 30: met, green) → first flip 2
    base = client.post("/v1/runs", json={"template": OUTAGE}).json()["metadata"]["runId"]
    made = client.post(f"/v1/runs/{base}/scenarios", json={"overlays": [
        {"target": "Q.capacity", "op": "scale", "value": 0, "fromBin": 2, "toBin": 4}]})
    scenario = made.json()["metadata"]["runId"]
    assert _series(client, scenario, "q_queue") == [0, 0, 10, 20, 18, 16, 14, 12, 10, 8, 6, 4,
                                                    2, 0, 0, 0]
    node = client.get(f"/v1/runs/{scenario}/diff", params={"against": base}).json()["nodes"][0]
    assert node["recoveryBin"] == 13 and node["extraBacklog"] == 120
    assert node["firstFlipBin"] == 2
    # against itself: all zeros, no flip, recovered from the start
    same = client.get(f"/v1/runs/{base}/diff", params={"against": base}).json()["nodes"][0]
    assert same["extraBacklog"] == 0 and same["firstFlipBin"] is None
    assert all(m == {"deltaMean": 0, "deltaMax": 0, "deltaSum": 0}
               for m in same["metrics"].values())
    # a run of another grid is a 400
    other = client.post("/v1/runs", json={"template": OUTAGE.replace("binSize: 60", "binSize: 30")})
    assert other.status_code == 201, other.text
    refused = client.get(f"/v1/runs/{scenario}/diff",
                         params={"against": other.json()["metadata"]["runId"]})
    assert refused.status_code == 400 and refused.json()["errors"][0]["loc"] == "against"


def test_overlays_apply_in_order(client):
    # capacity 12: scale 2 then add 5 = 29; add 5 then scale 2 = 34
    base = client.post("/v1/runs", json={"template": OUTAGE}).json()["metadata"]["runId"]
    scale = {"target": "cap", "op": "scale", "value": 2, "fromBin": 0, "toBin": 1}
    add = {"target": "cap", "op": "add", "value": 5, "fromBin": 0, "toBin": 1}
    first = client.post(f"/v1/runs/{base}/scenarios", json={"overlays": [scale, add]}).json()
    second = client.post(f"/v1/runs/{base}/scenarios", json={"overlays": [add, scale]}).json()
    assert _series(client, first["metadata"]["runId"], "cap")[:2] == [29, 12]
    assert _series(client, second["metadata"]["runId"], "cap")[:2] == [34, 12]


def test_a_surge_propagates_through_a_router_by_its_shares(client):
    # demand 10 routed 7:3; a surge × 1.5 in bins 0–1: 15 → 10.5 and 4.5, then 7 and 3
    text = textwrap.dedent("""\
        grid: {bins: 3, binSize: 60, binUnit: minutes}
        nodes:
          - {id: demand, kind: const, values: [10, 10, 10]}
          - {id: split, kind: router, router: {inputs: {queue: demand},
             routes: [{target: east, weight: 7}, {target: west, weight: 3}]}}
        """)
    made = client.post("/v1/runs", json={"template": text, "overlays": [
        {"target": "demand", "op": "scale", "value": 1.5, "fromBin": 0, "toBin": 2}]})
    run_id = made.json()["metadata"]["runId"]
    assert _series(client, run_id, "east") == pytest.approx([10.5, 10.5, 7])
    assert _series(client, run_id, "west") == pytest.approx([4.5, 4.5, 3])


def test_the_library_diffs(client, base, tmp_path, monkeypatch):
    import flowtime

    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path))
    scenario = flowtime.scenario(base, ["Desk.capacity*0@1:3"], store=str(tmp_path))
    body = flowtime.diff(scenario.run_id, base, store=str(tmp_path))
    desk = next(n for n in body["nodes"] if n["id"] == "Desk")
    assert desk["extraBacklog"] == 60 and body["againstRunId"] == base


def test_an_overlay_on_a_parameter_knob(client):
    """A parameter that is a node's whole expression is a knob: `cap` overlaid by name
    changes the `capacity` node (8 arriving, capacity 10 → 5 over bins [1, 3))."""
    template = textwrap.dedent("""\
        metadata: {id: knob-desk, title: Knob desk}
        window: {start: "2025-01-01T00:00:00Z"}
        parameters: [{name: cap, type: number, default: 10, minimum: 0}]
        grid: {bins: 5, binSize: 60, binUnit: minutes}
        nodes:
          - {id: demand, kind: const, values: [8, 8, 8, 8, 8]}
          - {id: capacity, kind: expr, expr: "${cap}"}
        topology:
          nodes:
            - {id: Desk, kind: serviceWithBuffer, semantics: {arrivals: demand, capacity: capacity}}
        """)
    made = client.post("/v1/runs", json={"template": template, "overlays": [
        {"target": "cap", "op": "scale", "value": 0.5, "fromBin": 1, "toBin": 3}]})
    assert made.status_code == 201, made.text
    run_id = made.json()["metadata"]["runId"]
    assert _series(client, run_id, "capacity@CAPACITY@DEFAULT") == [10, 5, 5, 10, 10]
    # queue by hand: 0, 3, 6, 4, 2 (8 in, 5 out twice, then 10 out)
    assert _series(client, run_id, "desk_queue@DESK_QUEUE@DEFAULT") == [0, 3, 6, 4, 2]
    unknown = client.post("/v1/runs", json={"template": template, "overlays": [
        {"target": "nope", "op": "set", "value": 1, "fromBin": 0, "toBin": 1}]})
    assert unknown.status_code == 400 and "parameter" in unknown.json()["errors"][0]["msg"]


COMPLETION = """\
schemaVersion: 1
metadata: {id: completion, title: Completion, version: 1.0.0}
window: {start: "2025-01-01T00:00:00Z", timezone: UTC}
grid: {bins: 4, binSize: 5, binUnit: minutes}
nodes:
  - {id: orders, kind: const, values: [10, 10, 10, 10]}
  - {id: fulfilled, kind: const, values: [9, 6, 9, 4]}
  - {id: tickets, kind: const, values: [9, 7, 9, 5]}
  - {id: calls, kind: const, values: [0, 0, 3, 0]}
  - {id: idle, kind: const, values: [0, 0, 2, 0]}
topology:
  nodes:
    - {id: OrderService, kind: service, semantics: {arrivals: orders, served: fulfilled}}
    - {id: SupportQueue, kind: queue, semantics: {arrivals: tickets, served: fulfilled}}
    - {id: Quiet, kind: service, semantics: {arrivals: calls, served: idle}}
    - {id: Dead, kind: dlq, semantics: {arrivals: tickets}}
  edges:
    - {id: o-s, from: OrderService, to: SupportQueue}
    - {id: s-d, from: SupportQueue, to: Dead, type: terminal}
"""


def test_metrics_carry_the_references_completion_aggregate(client):
    """Issue 41: /metrics answers the reference's shape beside flowtime's — per node with
    arrivals and served (a DLQ left out) the completion ratio min(1, served ÷ arrivals) per
    bin (1 without arrivals), bins at ≥ 0.95 and their share; values by hand."""
    made = client.post("/v1/runs", json={"template": COMPLETION})
    assert made.status_code == 201, made.text
    body = client.get(f"/v1/runs/{made.json()['metadata']['runId']}/metrics").json()
    assert body["window"] == {"startBin": 0, "endBin": 3, "start": "2025-01-01T00:00:00Z",
                              "timezone": "UTC"}
    assert body["grid"] == {"binMinutes": 5, "bins": 4}
    services = {s["id"]: s for s in body["services"]}
    assert set(services) == {"OrderService", "SupportQueue", "Quiet"}  # not the DLQ
    assert services["OrderService"] == {"id": "OrderService", "slaPct": 0.0, "binsMet": 0,
                                        "binsTotal": 4, "mini": [0.9, 0.6, 0.9, 0.4]}
    assert services["SupportQueue"] == {"id": "SupportQueue", "slaPct": 0.5, "binsMet": 2,
                                        "binsTotal": 4, "mini": [1, 0.857143, 1, 0.8]}
    # no arrivals: 1 (met); bin 2: 2 of 3 served
    assert services["Quiet"]["mini"] == [1, 1, 0.666667, 1]
    assert (services["Quiet"]["binsMet"], services["Quiet"]["slaPct"]) == (3, 0.75)
    window = client.get(f"/v1/runs/{made.json()['metadata']['runId']}/metrics",
                        params={"startBin": 1, "endBin": 2}).json()
    assert window["grid"]["bins"] == 2 and window["window"]["start"] == "2025-01-01T00:05:00Z"
    assert {s["id"]: s["mini"] for s in window["services"]}["OrderService"] == [0.6, 0.9]
