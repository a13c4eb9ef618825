"""Reference compatibility against a real server (issue 15): the reference system's five
template kinds, written in its format, run in simulation mode; their bundles validate
against `schemas/`; /state and /state_window bodies have the reference's closed
time-travel-state shape; /metrics passes `promtool check metrics`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from benchmarks.server import running_server
from flowtime.domain.modeling import schemas
from flowtime.domain.modeling.yaml_document import load_yaml

REFERENCE = Path(__file__).resolve().parent.parent / "fixtures" / "reference"
TEMPLATES = sorted(p.stem for p in REFERENCE.glob("*.yaml"))
BUNDLE_FILES = {"run.json": "run", "manifest.json": "manifest",
                "series/index.json": "series-index",
                "model/telemetry/telemetry-manifest.json": "telemetry-manifest"}
# promtool flags `_ms` as an abbreviated unit; the name is the reference's contract (SPEC §9).
ACCEPTED_PROMTOOL_FINDINGS = {
    "simulation_evaluation_duration_ms metric names should not contain abbreviated units"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("reference-data")
    env = {"FLOWTIME_DATA_DIR": str(data), "FLOWTIME_TEMPLATES_DIR": str(REFERENCE),
           "FLOWTIME_FSYNC": "0"}
    with running_server(env) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def runs(server) -> dict[str, dict]:
    created = {}
    for template_id in TEMPLATES:
        response = server.post("/v1/runs", json={"templateId": template_id})
        assert response.status_code == 201, response.text
        created[template_id] = response.json()
    return created


def test_all_five_reference_templates_are_present():
    assert TEMPLATES == ["it-system-microservices", "manufacturing-line", "network-reliability",
                         "supply-chain-multi-tier", "transportation-basic"]


@pytest.mark.parametrize("template_id", TEMPLATES)
def test_reference_template_runs_and_its_bundle_validates(server, runs, template_id):
    body = runs[template_id]
    metadata = body["metadata"]
    assert metadata["telemetrySourcesResolved"] is True
    run_id = metadata["runId"]
    for path, schema in BUNDLE_FILES.items():
        document = server.get(f"/v1/runs/{run_id}/files/{path}").json()
        assert schemas.validate(schema, document) == [], path
    index = server.get(f"/v1/runs/{run_id}/index").json()
    assert index["series"], "every reference template writes at least one series"


@pytest.mark.parametrize("template_id", TEMPLATES)
def test_state_and_window_have_the_reference_shape(server, runs, template_id):
    run = runs[template_id]
    run_id, bins = run["metadata"]["runId"], run["grid"]["bins"]
    for bin_index in (0, bins - 1):
        state = server.get(f"/v1/runs/{run_id}/state", params={"binIndex": bin_index}).json()
        assert schemas.validate("time-travel-state", state) == []
        assert "bin" in state and "window" not in state
        meta = state["metadata"]
        assert meta["schema"] == run["metadata"]["schema"]
        assert meta["storage"] == run["metadata"]["storage"]
        assert meta["provenanceHash"] == run["metadata"]["provenanceHash"]
        assert meta["telemetrySourcesResolved"] is True
        assert meta["rng"]["seed"] >= 0
    window = server.get(f"/v1/runs/{run_id}/state_window",
                        params={"startBin": 0, "endBin": bins - 1}).json()
    assert schemas.validate("time-travel-state", window) == []
    assert window["window"]["binCount"] == bins


def test_the_schema_refuses_what_the_reference_shape_does_not_allow(server, runs):
    run_id = runs["transportation-basic"]["metadata"]["runId"]
    state = server.get(f"/v1/runs/{run_id}/state", params={"binIndex": 0}).json()
    assert schemas.validate("time-travel-state", {**state, "extra": 1}) != []
    del state["metadata"]["storage"]
    assert schemas.validate("time-travel-state", state) != []


def test_edge_less_topology_is_an_info_warning_and_as_is_kept(server, runs):
    run = runs["it-system-microservices"]
    [warning] = run["warnings"]
    assert warning["code"] == "topology_without_edges" and warning["severity"] == "info"
    run_json = server.get(f"/v1/runs/{run['metadata']['runId']}/files/run.json").json()
    assert run_json["warnings"] == [{"code": "topology_without_edges", "severity": "info",
                                     "message": warning["message"]}]
    model = load_yaml(server.get(f"/v1/runs/{run['metadata']['runId']}/files/model/model.yaml")
                      .content)
    assert [o.get("as") for o in model["outputs"]] == ["requests.csv", "processed.csv",
                                                        "backlog.csv"]


def test_reference_numbers_by_hand(server, runs):
    def series(template_id: str, node: str) -> list[float]:
        run_id = runs[template_id]["metadata"]["runId"]
        text = server.get(f"/v1/runs/{run_id}/series/{node}").text
        return [float(line.split(",")[1]) for line in text.splitlines()[1:]]

    # demand [100, 150, 200] against 160 seats
    assert series("transportation-basic", "passengers_served") == [100, 150, 160]
    assert series("transportation-basic", "unmet_demand") == [0, 0, 40]
    # database queue starts at 10 (initial condition on the same-id topology node); capacity 150
    # arrivals 100 150 200 180 120 80 -> processed min(a + q, 150), q = q + a - processed
    assert series("it-system-microservices", "db_processed") == [110, 150, 150, 150, 150, 130]
    assert series("it-system-microservices", "db_queue") == [0, 0, 50, 80, 50, 0]


def test_metrics_pass_promtool(server, runs):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run `make test` or .ci/run, which install it"
    text = server.get("/metrics").text
    assert "simulation_evaluation_duration_ms_bucket" in text
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30)
    findings = {line.strip() for line in (result.stdout + result.stderr).splitlines()
                if line.strip()}
    assert findings <= ACCEPTED_PROMTOOL_FINDINGS, findings


def test_graph_and_edges_validate_and_match_the_model(server, runs):
    run = runs["manufacturing-line"]
    run_id = run["metadata"]["runId"]
    graph = server.get(f"/v1/runs/{run_id}/graph").json()
    assert schemas.validate("graph", graph) == []
    assert [n["id"] for n in graph["nodes"]] == ["Production", "Buffer"]
    assert graph["edges"] == [{"id": "production-to-buffer", "from": "Production",
                               "to": "Buffer", "type": "throughput", "weight": 1,
                               "edgeType": "throughput", "field": "served",
                               "multiplier": 1, "lag": 0}]
    assert graph["nodes"][1]["analytical"]["hasQueueSemantics"] is True
    state = server.get(f"/v1/runs/{run_id}/state", params={"binIndex": 0}).json()
    window = server.get(f"/v1/runs/{run_id}/state_window",
                        params={"startBin": 0, "endBin": 3}).json()
    assert schemas.validate("time-travel-state", state) == []
    assert schemas.validate("time-travel-state", window) == []
    produced = [float(line.split(",")[1]) for line in server.get(
        f"/v1/runs/{run_id}/series/produced").text.splitlines()[1:]]
    [edge] = window["edges"]
    # one edge, weight 1: all of what was served, rounded to 6 decimals (MODELING §4)
    assert edge["series"]["flowVolume"] == [round(v, 6) for v in produced]
    assert state["edges"][0]["series"]["flowVolume"] == [round(produced[0], 6)]
    assert server.get("/v1/runs/nope/graph").status_code == 404
