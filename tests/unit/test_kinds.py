"""A topology kind is one row of `compile/kinds.py` (issue 34): a kind added as a row —
nothing else — is compiled, analysed and coloured by its rules."""

from __future__ import annotations

import textwrap

import pytest

from flowtime.domain.compile import kinds
from flowtime.domain.compile.kinds import TopologyKind, kind_of

MODEL = textwrap.dedent("""\
    schemaVersion: 1
    metadata: {id: parking, title: Parking, version: 1.0.0}
    window: {start: "2025-01-01T00:00:00Z", timezone: UTC}
    grid: {bins: 4, binSize: 15, binUnit: minutes}
    nodes:
      - {id: cars, kind: const, values: [5, 5, 5, 5]}
      - {id: gateCap, kind: const, values: [3, 3, 3, 3]}
    topology:
      nodes:
        - {id: Gate, kind: serviceWithBuffer, semantics: {arrivals: cars, capacity: gateCap}}
        - {id: Lot, kind: %s, semantics: {arrivals: cars}}
      edges:
        - {id: g-l, from: Gate, to: Lot}
    """)


def test_every_kind_is_found_case_insensitively_and_unknown_ones_are_services():
    assert kind_of("serviceWithBuffer") is kind_of("SERVICEWITHBUFFER") is kinds.KINDS[
        "servicewithbuffer"]
    assert kind_of("no-such-kind").name == "service"
    assert {row.identity for row in kinds.KINDS.values()} >= {
        "service", "serviceWithBuffer", "queue", "dlq", "sink", "dependency", "router"}


def test_a_kind_added_as_one_row_is_compiled_analysed_and_coloured_by_it(client, monkeypatch):
    """`parkingLot`: queue-like, may have no outflow (it holds what arrives), serves no work
    and is always gray — registered in this test and used by a model, nothing else added."""
    monkeypatch.setitem(kinds.KINDS, "parkinglot", TopologyKind(
        "parkinglot", "parkingLot", "queue", queue_like=True, holds_without_outflow=True,
        serves_work=False, fixed_colour="gray"))
    made = client.post("/v1/runs", json={"template": MODEL % "parkingLot"})
    assert made.status_code == 201, made.text
    run_id = made.json()["metadata"]["runId"]
    window = client.get(f"/v1/runs/{run_id}/state_window").json()
    lot = next(n for n in window["nodes"] if n["id"] == "Lot")
    # holds every arrival (no outflow): 5, 10, 15, 20 by hand
    assert lot["series"]["queue"] == [5, 10, 15, 20]
    assert lot["kind"] == "parkingLot" and lot["category"] == "queue"
    assert lot["analytical"]["identity"] == "parkingLot"
    state = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 3}).json()
    assert next(n for n in state["nodes"] if n["id"] == "Lot")["derived"]["color"] == "gray"
    # the growing lot is not a bottleneck (it serves no work); the gate, at capacity, is
    named = [b["nodeId"] for b in made.json()["analysis"]["bottlenecks"]]
    assert "Lot" not in named
    assert "Gate" in named


def test_without_the_row_the_same_tag_is_a_plain_service(client):
    """What made the lot a holding queue came from its row alone: unregistered, the same
    tag is the default kind (a service), with no queue."""
    made = client.post("/v1/runs", json={"template": MODEL % "parkingLot"})
    assert made.status_code == 201, made.text
    window = client.get(f"/v1/runs/{made.json()['metadata']['runId']}/state_window").json()
    lot = next(n for n in window["nodes"] if n["id"] == "Lot")
    assert "queue" not in lot["series"] and lot["category"] == "service"


@pytest.mark.parametrize("tag", ["dlq", "DLQ"])
def test_a_dlq_row_still_reads_as_before(tag):
    row = kind_of(tag)
    assert (row.queue_like, row.serves_work, row.fixed_colour, row.terminal_edges) == (
        True, False, "dlq", True)
