"""Values of the reference's state contract (issue 41) on fixtures computed by hand: a retry
edge with a lag, end-to-end flow latency, SLA descriptors, edge quality, a queue whose
served drops to 0."""

from __future__ import annotations

import textwrap

import pytest


def _run(client, text: str) -> str:
    response = client.post("/v1/runs", json={"template": textwrap.dedent(text)})
    assert response.status_code == 201, response.text
    return response.json()["metadata"]["runId"]


def _node(body: dict, node_id: str) -> dict:
    return next(n for n in body["nodes"] if n["id"] == node_id)


RETRY = """\
    grid: {bins: 4, binSize: 1, binUnit: minutes}
    nodes:
      - {id: api_in, kind: const, values: [22, 14, 25, 11]}
      - {id: api_ok, kind: const, values: [20, 14, 20, 10]}
      - {id: api_fail, kind: const, values: [2, 0, 5, 1]}
      - {id: api_attempts, kind: const, values: [22, 14, 25, 11]}
      - {id: api_ms, kind: const, values: [2000, 1400, 2000, 1000]}
      - {id: db_q, kind: const, values: [5, 0, 10, 0]}
      - {id: db_ok, kind: const, values: [10, 10, 0, 10]}
    topology:
      nodes:
        - id: Api
          semantics: {arrivals: api_in, served: api_ok, failures: api_fail,
                      attempts: api_attempts, processingTimeMsSum: api_ms, servedCount: api_ok}
        - id: Db
          kind: queue
          semantics: {arrivals: api_attempts, served: db_ok, queueDepth: db_q}
          slaMinutes: 1
      edges:
        - {id: retries, from: Api, to: Db, measure: attempts, lag: 1}
    """


def test_a_retry_edge_with_a_lag(client):
    run_id = _run(client, RETRY)
    window = client.get(f"/v1/runs/{run_id}/state_window",
                        params={"startBin": 0, "endBin": 3}).json()
    [edge] = window["edges"]
    # attempts [22, 14, 25, 11] one bin late; retry rate = failures / attempts one bin late:
    # 2/22, 0/14, 5/25 → [null, 0.090909, 0, 0.2]
    assert edge["series"]["attemptsVolume"] == [None, 22, 14, 25]
    assert edge["series"]["retryRate"] == [None, round(2 / 22, 6), 0, 0.2]
    assert (edge["edgeType"], edge["field"], edge["lag"], edge["multiplier"]) == (
        "throughput", "attempts", 1, 1)
    assert window["metadata"]["edgeQuality"] == "exact"


def test_flow_latency_sla_and_a_queue_whose_served_drops_to_zero(client):
    run_id = _run(client, RETRY)
    state = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 0}).json()
    api, db = _node(state, "Api"), _node(state, "Db")
    # Api: service time 2000 / 20 = 100 ms, its own flow latency (no predecessor)
    assert api["derived"]["serviceTimeMs"] == 100 and api["derived"]["flowLatencyMs"] == 100
    # Db: queue time 5 / 10 × 60,000 ms = 30,000 ms, plus Api's 100 upstream
    assert db["derived"]["queueTimeMs"] == 30000
    assert db["derived"]["flowLatencyMs"] == 30100
    # completion = served / arrivals: 20 / 22; Db's backlog age 0.5 min against 1 min
    completion = next(s for s in api["sla"] if s["kind"] == "completion")
    assert completion == {"kind": "completion", "status": "ok", "value": round(20 / 22, 6)}
    age = next(s for s in db["sla"] if s["kind"] == "backlogAge")
    assert age == {"kind": "backlogAge", "status": "ok", "threshold": 1, "value": 0.5}
    # bin 2: Db serves nothing with 10 queued: latency null, colour gray, backlog age
    # unavailable, flow latency null (nothing served)
    late = _node(client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 2}).json(), "Db")
    assert late["derived"]["latencyMinutes"] is None
    assert late["derived"]["color"] == "gray" and late["derived"]["flowLatencyMs"] is None
    assert next(s for s in late["sla"] if s["kind"] == "backlogAge")["status"] == "unavailable"
    window = client.get(f"/v1/runs/{run_id}/state_window",
                        params={"startBin": 0, "endBin": 3}).json()
    db_window = _node(window, "Db")
    assert db_window["series"]["flowLatencyMs"] == [30100, 100, None, 100]
    [age_series] = [s for s in db_window["sla"] if s["kind"] == "backlogAge"]
    assert age_series["values"] == [0.5, 0, None, 0] and age_series["status"] == "ok"


@pytest.mark.parametrize(("edges", "quality"), [("", "missing"),
                                                ("  edges: [{from: A, to: B}]\n", "exact")])
def test_edge_quality(client, edges, quality):
    run_id = _run(client, textwrap.dedent("""\
        grid: {bins: 2, binSize: 1, binUnit: hours}
        nodes:
          - {id: a, kind: const, values: [9, 10]}
        topology:
          nodes:
            - {id: A, semantics: {arrivals: a, served: a}}
            - {id: B, semantics: {arrivals: a, served: a}}
        """) + edges)
    state = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 0}).json()
    assert state["metadata"]["edgeQuality"] == quality


def test_schedule_adherence_of_a_node_with_a_dispatch_schedule(client):
    """Dispatch bins 1 and 4 (period 3, phase 1). Bin 1: work waiting (5 carried) and it
    dispatched → 1; bin 3: dispatched off the schedule → 0; bin 4: work waiting (2
    carried), nothing dispatched → 0 (a missed departure); every other bin: no event."""
    run_id = _run(client, """\
        grid: {bins: 6, binSize: 10, binUnit: minutes}
        nodes:
          - {id: arr, kind: const, values: [5, 0, 0, 0, 0, 0]}
          - {id: out, kind: const, values: [0, 5, 0, 2, 0, 0]}
          - {id: depth, kind: const, values: [5, 0, 0, 2, 3, 0]}
        topology:
          nodes:
            - id: Dock
              kind: queue
              semantics: {arrivals: arr, served: out, queueDepth: depth}
              dispatchSchedule: {kind: time-based, periodBins: 3, phaseOffset: 1}
        """)
    window = client.get(f"/v1/runs/{run_id}/state_window",
                        params={"startBin": 0, "endBin": 5}).json()
    [adherence] = [s for s in _node(window, "Dock")["sla"] if s["kind"] == "scheduleAdherence"]
    assert adherence["values"] == [None, 1, None, 0, 0, None]
    assert adherence["status"] == "ok"
    one = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 2}).json()
    [at_two] = [s for s in _node(one, "Dock")["sla"] if s["kind"] == "scheduleAdherence"]
    assert at_two["status"] == "noEvents" and at_two.get("value") is None


def test_the_overview_reduces_every_series_to_bucket_maxima(client):
    run_id = _run(client, """\
        grid: {bins: 10, binSize: 60, binUnit: minutes}
        nodes:
          - {id: arr, kind: const, values: [1, 9, 2, 3, 4, 0, 5, 6, 2, 8]}
          - {id: out, kind: const, values: [1, 2, 2, 3, 4, 0, 5, 6, 2, 4]}
          - {id: cap, kind: const, values: [4, 4, 4, 4, 4, 4, 8, 8, 8, 8]}
          - {id: depth, kind: const, values: [0, 7, 7, 7, 7, 7, 7, 7, 7, 11]}
        topology:
          nodes:
            - id: Desk
              kind: queue
              semantics: {arrivals: arr, served: out, capacity: cap, queueDepth: depth}
              slaMinutes: 90
        """)
    answer = client.get(f"/v1/runs/{run_id}/overview", params={"buckets": 4})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["bins"], body["bucketBins"]) == (10, 3)  # buckets of bins 0-2, 3-5, 6-8, 9
    assert len(body["timestampsUtc"]) == 4 and body["timestampsUtc"][1].endswith("T03:00:00Z")
    desk = _node(body, "Desk")
    assert desk["series"]["arrivals"] == [9, 4, 6, 8]
    assert desk["series"]["queue"] == [7, 7, 7, 11]
    # utilization = served / capacity: [.25 .5 .5 | .75 1 0 | .625 .75 .25 | .5]
    assert desk["series"]["utilization"] == [0.5, 1, 0.75, 0.5]
    # latency = queue / served × 60 min, undefined where served is 0 (bin 5)
    assert desk["series"]["latencyMinutes"] == [210, 140, 210, 165]
    [age] = [s for s in desk["sla"] if s["kind"] == "backlogAge"]
    assert age["threshold"] == 90
    assert client.get(f"/v1/runs/{run_id}/overview", params={"buckets": 0}).status_code == 400
    assert client.get("/v1/runs/run_nope/overview").status_code == 404


ORDER_SYSTEM = """\
    schemaVersion: 1
    metadata: {id: order-system, title: Order System Fixture, version: 1.0.0}
    window: {start: "2025-01-01T00:00:00Z", timezone: UTC}
    grid: {bins: 4, binSize: 5, binUnit: minutes}
    nodes:
      - {id: os_arrivals, kind: const, values: [10, 10, 10, 10]}
      - {id: os_served, kind: const, values: [9, 6, 9, 4]}
      - {id: os_errors, kind: const, values: [1, 1, 1, 1]}
      - {id: os_attempts, kind: const, values: [10, 7, 10, 5]}
      - {id: os_failures, kind: const, values: [1, 1, 1, 1]}
      - {id: os_exhausted, kind: const, values: [0, 0, 1, 1]}
      - {id: os_capacity, kind: const, values: [12, 7, 9, 4]}
      - {id: os_ptime, kind: const, values: [2250, 1800, 2700, 1200]}
      - {id: sq_arrivals, kind: const, values: [9, 7, 9, 5]}
      - {id: sq_served, kind: const, values: %s}
      - {id: sq_queue, kind: const, values: %s}
    topology:
      nodes:
        - id: OrderService
          semantics: {arrivals: os_arrivals, served: os_served, errors: os_errors,
                      attempts: os_attempts, failures: os_failures, capacity: os_capacity,
                      exhaustedFailures: os_exhausted,
                      processingTimeMsSum: os_ptime, servedCount: os_served}
        - id: SupportQueue
          kind: queue
          semantics: {arrivals: sq_arrivals, served: sq_served, queueDepth: sq_queue}
      edges: %s
    """
EFFORT_EDGES = """
        - {id: attempts_edge, from: OrderService, to: SupportQueue, type: effort,
           measure: attempts, multiplier: 2, lag: 1}
        - {id: failures_edge, from: OrderService, to: SupportQueue, type: effort,
           measure: failures, multiplier: 0.5, lag: 0}"""


def test_the_references_order_system_fixture_value_for_value(client):
    """The reference's state-window fixture (a service with retries feeding a queue over
    two effort edges) rebuilt as a template; every value below by hand, and equal to the
    reference's golden for the same window."""
    run = _run(client, ORDER_SYSTEM % ("[9, 6, 9, 4]", "[2, 10, 20, 0]", EFFORT_EDGES))
    window = client.get(f"/v1/runs/{run}/state_window").json()
    service, queue = _node(window, "OrderService"), _node(window, "SupportQueue")
    # served ÷ capacity; served ÷ arrivals; ms ÷ count; failures ÷ attempts
    assert service["series"]["utilization"] == [0.75, 0.857143, 1, 1]
    assert service["series"]["throughputRatio"] == [0.9, 0.6, 0.9, 0.4]
    assert service["series"]["serviceTimeMs"] == [250, 300, 300, 300]
    assert service["series"]["retryTax"] == [0.1, 0.142857, 0.1, 0.2]
    assert service["series"]["flowLatencyMs"] == [250, 300, 300, 300]
    # Q ÷ served × 5 min; plus the upstream's flow latency (250 + 2/9 × 5 min in ms, …)
    assert queue["series"]["latencyMinutes"] == [1.111111, 8.333333, 11.111111, 0]
    assert queue["series"]["throughputRatio"] == [1, 0.857143, 1, 0.8]
    assert queue["series"]["flowLatencyMs"] == [66916.666667, 500300, 666966.666667, 300]
    edges = {e["id"]: e for e in window["edges"]}
    # attempts × 2, one bin late; the source's failures ÷ attempts at the lagged bin; the
    # source's other load (failures) × the same multiplier rides along, as the reference's
    # effort edges carry every load
    assert edges["attempts_edge"]["series"] == {
        "attemptsVolume": [None, 20, 14, 20], "failuresVolume": [None, 2, 2, 2],
        "exhaustedFailuresVolume": [None, 0, 0, 2], "retryRate": [None, 0.1, 0.142857, 0.1]}
    assert edges["failures_edge"]["series"] == {
        "failuresVolume": [0.5, 0.5, 0.5, 0.5], "attemptsVolume": [5, 3.5, 5, 2.5],
        "exhaustedFailuresVolume": [0, 0, 0.5, 0.5], "retryRate": [0.1, 0.142857, 0.1, 0.2]}
    assert (edges["attempts_edge"]["edgeType"], edges["attempts_edge"]["field"],
            edges["attempts_edge"]["multiplier"], edges["attempts_edge"]["lag"]) == (
        "effort", "attempts", 2, 1)


def test_the_references_fixture_whose_queue_serves_nothing_in_a_bin(client):
    """The same fixture with the queue's served 0 in bin 1 and no edges: latency and flow
    latency are null there (nothing left the queue), throughput 0."""
    run = _run(client, ORDER_SYSTEM % ("[9, 0, 9, 4]", "[2, 15, 20, 0]", "[]"))
    queue = _node(client.get(f"/v1/runs/{run}/state_window").json(), "SupportQueue")
    assert queue["series"]["latencyMinutes"] == [1.111111, None, 11.111111, 0]
    assert queue["series"]["throughputRatio"] == [1, 0, 1, 0.8]
    assert queue["series"]["flowLatencyMs"] == [66666.666667, None, 666666.666667, 0]


CONSTRAINED = """\
    schemaVersion: 1
    metadata: {id: order-system, title: Order System Fixture, version: 1.0.0}
    window: {start: "2025-01-01T00:00:00Z", timezone: UTC}
    grid: {bins: 4, binSize: 5, binUnit: minutes}
    nodes:
      - {id: os_arrivals, kind: const, values: [10, 10, 10, 10]}
      - {id: os_served, kind: const, values: [9, 6, 9, 4]}
      - {id: os_errors, kind: const, values: [1, 1, 1, 1]}
      - {id: os_attempts, kind: const, values: [10, 7, 10, 5]}
      - {id: os_failures, kind: const, values: [1, 1, 1, 1]}
      - {id: os_capacity, kind: const, values: [12, 7, 9, 4]}
      - {id: os_ptime, kind: const, values: [2250, 1800, 2700, 1200]}
      - {id: db_arrivals, kind: const, values: [9, 6, 9, 4]}
      - {id: db_served, kind: const, values: [9, 6, 8, 4]}
      - {id: db_errors, kind: const, values: [0, 0, 1, 0]}
    topology:
      nodes:
        - id: OrderService
          constraints: [db_main]
          semantics: {arrivals: os_arrivals, served: os_served, errors: os_errors,
                      attempts: os_attempts, failures: os_failures, capacity: os_capacity,
                      processingTimeMsSum: os_ptime, servedCount: os_served, maxAttempts: 4}
        - id: DependencyDb
          kind: dependency
          semantics: {arrivals: db_arrivals, served: db_served, errors: db_errors}
      constraints:
        - id: db_main
          semantics: {arrivals: db_arrivals, served: db_served, errors: db_errors}
    """


def test_the_references_constrained_service_capped_at_8_of_9(client):
    """The reference's constraints-attached fixture: OrderService serves 9 in bin 2 but its
    database admits 8 (its capacity that bin, demand 10 > 8): served is capped at 8, and
    utilization (8 / 9), throughput (8 / 10) and retry tax ((10 − 8) / 10) read the cap."""
    run = _run(client, CONSTRAINED)
    window = client.get(f"/v1/runs/{run}/state_window").json()
    assert (window["metadata"]["edgeQuality"], window["metadata"]["classCoverage"]) == (
        "missing", "missing")
    service = _node(window, "OrderService")
    series = service["series"]
    assert series["served"] == [9, 6, 8, 4]
    assert series["utilization"] == [0.75, round(6 / 7, 6), round(8 / 9, 6), 1]
    assert series["throughputRatio"] == [0.9, 0.6, 0.8, 0.4]
    assert series["retryTax"] == [0.1, round(1 / 7, 6), 0.2, 0.2]
    # service time = processing ms ÷ served count (the uncapped count: 2700 / 9 = 300)
    assert series["serviceTimeMs"] == [250, 300, 300, 300]
    assert series["processingTimeMsSum"] == [2250, 1800, 2700, 1200]
    assert series["servedCount"] == [9, 6, 9, 4]
    meta = service["seriesMetadata"]
    assert meta["served"] == {"aggregation": "sum", "origin": "derived"}  # the capped series
    assert meta["utilization"] == {"aggregation": "unknown", "origin": "derived"}
    assert meta["servedCount"] == {"aggregation": "sum", "origin": "explicit"}
    db = service["constraints"]["db_main"]
    # the constraint's own series; shortfall = its arrivals − what it served: [0, 0, 1, 0]
    assert {k: db["series"][k] for k in ("arrivals", "served", "errors", "shortfall")} == {
        "arrivals": [9, 6, 9, 4], "served": [9, 6, 8, 4], "errors": [0, 0, 1, 0],
        "shortfall": [0, 0, 1, 0]}
    assert db["seriesMetadata"]["shortfall"] == {"aggregation": "sum", "origin": "derived"}
    assert db["seriesMetadata"]["arrivals"] == {"aggregation": "sum", "origin": "explicit"}
    # demand 10 exceeds the capacity in every bin
    assert service["constraintStatus"] == {"db_main": [1, 1, 1, 1]}
    state = client.get(f"/v1/runs/{run}/state", params={"binIndex": 1}).json()
    assert _node(state, "OrderService")["metrics"]["maxAttempts"] == 4


def test_the_references_dependency_node_value_for_value(client):
    """The reference's dependency fixture: served ÷ arrivals [9/9, 6/6, 8/9, 4/4]; no service
    time, so no flow latency; gray; completion = the same ratio."""
    run = _run(client, CONSTRAINED)
    window = client.get(f"/v1/runs/{run}/state_window").json()
    db = _node(window, "DependencyDb")
    assert db["series"]["throughputRatio"] == [1, 1, round(8 / 9, 6), 1]
    assert db["series"]["flowLatencyMs"] == [None] * 4
    assert db["sla"] == [{"kind": "completion", "status": "ok",
                          "values": [1, 1, round(8 / 9, 6), 1]}]
    assert db["seriesMetadata"]["throughputRatio"] == {"aggregation": "unknown",
                                                       "origin": "derived"}
    state = _node(client.get(f"/v1/runs/{run}/state", params={"binIndex": 1}).json(),
                  "DependencyDb")
    assert state["metrics"] == {"arrivals": 6, "served": 6, "errors": 0}
    assert (state["derived"]["throughputRatio"], state["derived"]["color"]) == (1, "gray")


GRAPH = """\
    grid: {bins: 2, binSize: 5, binUnit: minutes}
    nodes:
      - {id: incoming, kind: const, values: [10, 10]}
      - {id: routed, kind: const, values: [9, 9]}
      - {id: errors, kind: const, values: [1, 1]}
      - {id: served, kind: const, values: [8, 8]}
      - {id: capacity, kind: const, values: [12, 12]}
    topology:
      nodes:
        - {id: LoadBalancer, semantics: {arrivals: incoming, served: routed, errors: errors}}
        - id: Database
          semantics: {arrivals: routed, served: served, errors: errors, capacity: capacity}
          ui: {x: 160, y: 48}
      edges:
        - {id: edge_lb_db, from: "LoadBalancer:out", to: "Database:in", weight: 1}
        - {id: edge_effort, from: LoadBalancer, to: Database, type: effort, measure: load,
           multiplier: 0.5, lag: 1}
    """


def test_the_graph_in_the_references_names(client):
    """The reference's graph fixture: each node's stated series as `series:<id>`, its `ui`;
    each edge's edgeType and field (`served` for a throughput edge without a measure)."""
    run = _run(client, GRAPH)
    graph = client.get(f"/v1/runs/{run}/graph").json()
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["LoadBalancer"]["semantics"] == {
        "arrivals": "series:incoming", "served": "series:routed", "errors": "series:errors"}
    assert nodes["Database"]["semantics"]["capacity"] == "series:capacity"
    assert nodes["Database"]["ui"] == {"x": 160, "y": 48}
    assert nodes["Database"]["analytical"]["identity"] == "service"
    edges = {e["id"]: e for e in graph["edges"]}
    assert (edges["edge_lb_db"]["from"], edges["edge_lb_db"]["to"]) == ("LoadBalancer", "Database")
    assert (edges["edge_lb_db"]["edgeType"], edges["edge_lb_db"]["field"]) == ("throughput",
                                                                              "served")
    effort = edges["edge_effort"]
    assert (effort["edgeType"], effort["field"], effort["multiplier"], effort["lag"]) == (
        "effort", "load", 0.5, 1)
