"""A DLQ fed only by a WIP limit's overflow is drawn connected: /graph carries the
overflow as an edge of type `overflow` (issue 35)."""

from __future__ import annotations

import textwrap

MODEL = textwrap.dedent("""\
    metadata: {id: spill, title: Spill}
    window: {start: "2025-01-01T00:00:00Z"}
    grid: {bins: 4, binSize: 60, binUnit: minutes}
    nodes:
      - {id: demand, kind: const, values: [10, 10, 10, 10]}
      - {id: cap, kind: const, values: [4, 4, 4, 4]}
      - {id: drain, kind: const, values: [0, 0, 0, 0]}
    topology:
      nodes:
        - {id: Desk, kind: serviceWithBuffer, semantics: {arrivals: demand, capacity: cap},
           wipLimit: 5, wipOverflow: Spill}
        - {id: Spill, kind: dlq, semantics: {capacity: drain}}
    """)


def test_overflow_into_a_dlq_is_an_edge(client):
    made = client.post("/v1/runs", json={"template": MODEL})
    assert made.status_code == 201, made.text
    graph = client.get(f"/v1/runs/{made.json()['metadata']['runId']}/graph").json()
    overflow = [e for e in graph["edges"] if e["type"] == "overflow"]
    assert [(e["from"], e["to"]) for e in overflow] == [("Desk", "Spill")]
    assert {n["id"] for n in graph["nodes"]} >= {"Desk", "Spill"}
