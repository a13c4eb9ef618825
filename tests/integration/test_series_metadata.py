"""classTruth and seriesMetadata in /state and /state_window (issue 41): where each series
comes from and how a bin aggregates it, and which classes a node's series carry."""

from __future__ import annotations

import textwrap

import pytest

MODEL = textwrap.dedent("""\
    metadata: {id: meta, title: Metadata}
    window: {start: "2025-01-01T00:00:00Z"}
    grid: {bins: 3, binSize: 60, binUnit: minutes}
    classes: [{id: gold}, {id: silver}]
    traffic:
      arrivals:
        - {nodeId: demand, classId: gold, pattern: {kind: constant, ratePerBin: 3}}
        - {nodeId: demand, classId: silver, pattern: {kind: constant, ratePerBin: 1}}
    nodes:
      - {id: demand, kind: const, values: [4, 4, 4]}
      - {id: cap, kind: expr, expr: "3"}
    topology:
      nodes:
        - {id: Desk, kind: serviceWithBuffer, semantics: {arrivals: demand, capacity: cap}}
    """)


@pytest.fixture
def run_id(client) -> str:
    made = client.post("/v1/runs", json={"template": MODEL})
    assert made.status_code == 201, made.text
    return made.json()["metadata"]["runId"]


def test_state_says_where_each_series_comes_from(client, run_id):
    state = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 1}).json()
    desk = next(n for n in state["nodes"] if n["id"] == "Desk")
    meta = desk["seriesMetadata"]
    assert meta["arrivals"] == {"aggregation": "sum", "origin": "explicit"}  # a const node
    assert meta["capacity"] == {"aggregation": "sum", "origin": "model"}  # an expression
    assert meta["queue"] == {"aggregation": "unknown", "origin": "model"}  # a level
    # a ratio of sums: neither the sum nor the mean of its bins is the ratio over a window
    assert meta["utilization"] == {"aggregation": "unknown", "origin": "derived"}
    assert set(meta) >= set(desk["metrics"])
    assert desk["classTruth"] == {"coverage": "full", "hasSpecificClasses": True,
                                  "hasFallbackClass": False}
    window = client.get(f"/v1/runs/{run_id}/state_window").json()
    desk = next(n for n in window["nodes"] if n["id"] == "Desk")
    assert set(desk["seriesMetadata"]) == set(desk["series"])
    assert desk["classTruth"]["coverage"] == "full"


def test_a_model_without_classes_has_no_class_truth(client):
    made = client.post("/v1/runs", json={"templateId": "it-system"}).json()
    state = client.get(f"/v1/runs/{made['metadata']['runId']}/state",
                       params={"binIndex": 0}).json()
    assert all("classTruth" not in n for n in state["nodes"])
    api = next(n for n in state["nodes"] if n["id"] == "OrderApi")
    assert api["seriesMetadata"]["arrivals"]["origin"] == "model"
