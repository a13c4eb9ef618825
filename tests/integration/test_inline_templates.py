"""Templates and reference-format models run from a file (CLI) or as text (HTTP), with the
same validation, locations and limits as catalogue templates (issue 17)."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from flowtime.adapters.cli.main import cli

MODEL = textwrap.dedent("""\
    grid: {bins: 3, binSize: 60, binUnit: minutes}
    nodes:
      - {id: demand, kind: const, values: [10, 20, 30]}
      - {id: cap, kind: const, values: [15, 15, 15]}
    topology:
      nodes:
        - {id: Desk, kind: serviceWithBuffer, semantics: {arrivals: demand, capacity: cap}}
    outputs:
      - {series: "*"}
    """)
TEMPLATE = textwrap.dedent("""\
    metadata: {id: buffered, title: Buffered desk}
    window: {start: "2025-03-01T00:00:00Z"}
    parameters:
      - {name: cap, type: number, default: 15, minimum: 0}
    grid: {bins: 3, binSize: 60, binUnit: minutes}
    nodes:
      - {id: demand, kind: const, values: [10, 20, 30]}
      - {id: cap, kind: const, values: [${cap}, ${cap}, ${cap}]}
    topology:
      nodes:
        - {id: Desk, kind: serviceWithBuffer, semantics: {arrivals: demand, capacity: cap}}
    """)


@pytest.fixture
def client_env():
    return {"FLOWTIME_MAX_BODY_BYTES": "4096"}


def _series(client, run_id: str, node: str) -> list[float]:
    text = client.get(f"/v1/runs/{run_id}/series/{node}").text
    return [float(line.split(",")[1]) for line in text.splitlines()[1:]]


def test_inline_model_runs_over_http_with_the_reference_defaults(client):
    response = client.post("/v1/runs", json={"template": MODEL})
    assert response.status_code == 201, response.text
    body = response.json()
    run_id = body["metadata"]["runId"]
    assert body["metadata"]["templateId"] == "inline"
    assert body["grid"]["startTimeUtc"] == "1970-01-01T00:00:00Z"
    # queue: 10-15 → 0; 20-15 = 5; 5+30-15 = 20. served: min(Q[t-1]+in, 15)
    assert _series(client, run_id, "desk_queue") == [0, 5, 20]
    assert _series(client, run_id, "desk_served") == [10, 15, 15]
    provenance = client.get(f"/v1/runs/{run_id}/files/model/provenance.json").json()
    assert provenance["source"] == "inline" and provenance["templateHash"].startswith("sha256:")


def test_inline_template_takes_parameters_and_is_deterministic(client):
    body = {"template": TEMPLATE, "parameters": {"cap": 25},
            "options": {"deterministicRunId": True}}
    first = client.post("/v1/runs", json=body)
    again = client.post("/v1/runs", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    run_id = first.json()["metadata"]["runId"]
    assert again.json()["metadata"]["runId"] == run_id
    assert first.json()["metadata"]["templateId"] == "buffered"
    assert _series(client, run_id, "desk_queue") == [0, 0, 5]


def test_inline_validation_errors_have_locations(client):
    bad = TEMPLATE.replace("demand, capacity: cap", "demnd, capacity: cap")
    response = client.post("/v1/runs", json={"template": bad})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors[0]["loc"] == "topology.nodes[0].semantics.arrivals"
    assert "unknown series 'demnd'" in errors[0]["msg"] and "did you mean 'demand'" in \
        errors[0]["msg"]
    broken = client.post("/v1/runs", json={"template": "grid: [1,"})
    assert broken.status_code == 400 and "line 1" in broken.json()["errors"][0]["msg"]


def test_template_id_and_template_are_one_or_the_other(client):
    both = client.post("/v1/runs", json={"templateId": "it-system", "template": MODEL})
    neither = client.post("/v1/runs", json={})
    assert both.status_code == 400 and neither.status_code == 400
    assert "not both" in both.json()["errors"][0]["msg"]
    assert neither.json()["errors"][0]["loc"] == "templateId"


def test_inline_templates_obey_the_body_limit(client):
    huge = MODEL + "# " + "x" * 5000 + "\n"
    response = client.post("/v1/runs", json={"template": huge})
    assert response.status_code == 413


def test_cli_runs_and_validates_a_model_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FLOWTIME_STORE", raising=False)
    path = tmp_path / "Help Desk.yaml"
    path.write_text(TEMPLATE)
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "--file", str(path), "--param", "cap=25", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["metadata"]["templateId"] == "buffered"
    model = tmp_path / "help desk model.yaml"
    model.write_text(MODEL)
    named = json.loads(runner.invoke(cli, ["run", "--file", str(model), "--json"]).output)
    assert named["metadata"]["templateId"] == "help-desk-model"  # from the file name
    ok = runner.invoke(cli, ["templates", "validate", "--file", str(model)])
    assert ok.exit_code == 0 and "ok (help-desk-model" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(MODEL.replace("arrivals: demand", "arrivals: nothing"))
    invalid = runner.invoke(cli, ["templates", "validate", "--file", str(bad)])
    assert invalid.exit_code == 2
    assert "topology.nodes[0].semantics.arrivals: unknown series 'nothing'" in invalid.output
    usage = runner.invoke(cli, ["run"])
    assert usage.exit_code == 2 and "--template-id or --file" in usage.output


FLOW_STATE = textwrap.dedent("""\
    grid: {bins: 2, binSize: 1, binUnit: hours}
    nodes:
      - {id: a, kind: const, values: [6, 0]}
      - {id: s, kind: const, values: [2, 0]}
      - {id: c, kind: const, values: [4, 0]}
      - {id: work, kind: const, values: [1000, 0]}
      - {id: f, kind: const, values: [1, 0]}
    topology:
      nodes:
        - id: Desk
          kind: serviceWithBuffer
          semantics: {arrivals: a, served: s, capacity: c, processingTimeMsSum: work,
                      servedCount: s, failures: f, aliases: {queue: Waiting}}
        - {id: Dead, kind: dlq, semantics: {arrivals: f, served: s}}
      edges: [{from: Desk, to: Dead, type: terminal}]
    """)


def test_state_of_flow_nodes_nulls_division_by_zero_and_validates(client):
    from flowtime.domain.modeling import schemas

    run_id = client.post("/v1/runs", json={"template": FLOW_STATE}).json()["metadata"]["runId"]
    first = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 0}).json()
    second = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 1}).json()
    window = client.get(f"/v1/runs/{run_id}/state_window", params={"startBin": 0, "endBin": 1})
    for body in (first, second, window.json()):
        assert schemas.validate("time-travel-state", body) == []
    desk, dead = first["nodes"]
    assert desk["metrics"]["queue"] == 4  # 6 - 2
    assert desk["derived"]["utilization"] == 0.5 and desk["derived"]["latencyMinutes"] == 120
    assert desk["derived"]["serviceTimeMs"] == 500  # 1000 ms over 2 served
    assert desk["derived"]["retryTax"] == 0.333333  # 1/3 (attempts = 2 + 1), 6 decimals
    assert desk["aliases"] == {"queue": "Waiting"}
    assert dead["derived"]["color"] == "dlq"
    desk2 = second["nodes"][0]
    assert desk2["derived"]["utilization"] is None and desk2["derived"]["latencyMinutes"] is None
    assert desk2["derived"]["serviceTimeMs"] is None
    series = _series(client, run_id, "desk_queue_time_ms")
    assert series == [2 * 3.6e6, 0]  # in the bundle, ÷0 is 0


ROUNDING = textwrap.dedent("""\
    grid: {bins: 2, binSize: 1, binUnit: hours}
    nodes:
      - {id: a, kind: const, values: [3, 7]}
      - {id: s, kind: const, values: [1, 1.0e-10]}
      - {id: c, kind: const, values: [3, 3]}
    topology:
      nodes:
        - {id: Desk, semantics: {arrivals: a, served: s, capacity: c}}
    """)


def test_state_numbers_are_rounded_to_six_decimals_and_tiny_ones_are_zero(client):
    """MODELING §4: |v| < 1e-9 → 0, else 6 decimals, in /state and /state_window alike;
    the bundle keeps full precision."""
    run_id = client.post("/v1/runs", json={"template": ROUNDING}).json()["metadata"]["runId"]
    first, second = (client.get(f"/v1/runs/{run_id}/state", params={"binIndex": i}).json()
                     ["nodes"][0] for i in (0, 1))
    assert first["derived"]["utilization"] == 0.333333  # 1 / 3
    assert first["derived"]["throughputRatio"] == 0.333333  # 1 / 3
    assert second["metrics"]["served"] == 0  # 1e-10
    assert second["derived"]["utilization"] == 0 and second["derived"]["throughputRatio"] == 0
    window = client.get(f"/v1/runs/{run_id}/state_window",
                        params={"startBin": 0, "endBin": 1}).json()["nodes"][0]["series"]
    assert window["served"] == [1, 0]
    assert window["utilization"] == [0.333333, 0]
    assert window["throughputRatio"] == [0.333333, 0]
    assert _series(client, run_id, "s") == [1, 1e-10]


CONSTRAINED = textwrap.dedent("""\
    grid: {bins: 3, binSize: 1, binUnit: hours}
    nodes:
      - {id: a, kind: const, values: [6, 2, 4]}
      - {id: b, kind: const, values: [4, 2, 6]}
      - {id: cap, kind: const, values: [5, 10, 0]}
    topology:
      nodes:
        - {id: A, semantics: {arrivals: a}, constraints: [db]}
        - {id: B, semantics: {arrivals: b}, constraints: [db]}
      edges: [{from: A, to: B}]
      constraints:
        - {id: db, semantics: {served: cap}}
    """)


def test_state_reports_each_constraints_allocation_and_whether_it_limited(client):
    from flowtime.domain.modeling import schemas

    run_id = client.post("/v1/runs", json={"template": CONSTRAINED}).json()["metadata"]["runId"]
    first = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 0}).json()
    window = client.get(f"/v1/runs/{run_id}/state_window",
                        params={"startBin": 0, "endBin": 2}).json()
    assert schemas.validate("time-travel-state", first) == []
    assert schemas.validate("time-travel-state", window) == []
    # demand 10 against 5: A gets 5×6/10 = 3, B 2; shortfall 10 − 5 = 5 (the reference's
    # shape: per node, under `constraints`, and `constraintStatus` whether it limited)
    nodes = {n["id"]: n for n in first["nodes"]}
    assert nodes["A"]["constraints"]["db"]["metrics"] == {
        "capacity": 5, "demand": 10, "allocation": 3, "shortfall": 5}
    assert nodes["B"]["constraints"]["db"]["metrics"]["allocation"] == 2
    assert nodes["A"]["constraintStatus"] == {"db": True}
    window_nodes = {n["id"]: n for n in window["nodes"]}
    # bin 1: demand 4 under 10, bin 2: capacity 0 admits nothing (shortfall = demand 10)
    assert window_nodes["A"]["constraintStatus"] == {"db": [1, 0, 1]}
    assert window_nodes["A"]["constraints"]["db"]["series"]["allocation"] == [3, 2, 0]
    assert window_nodes["B"]["constraints"]["db"]["series"]["allocation"] == [2, 2, 0]
    assert window_nodes["A"]["constraints"]["db"]["series"]["shortfall"] == [5, 0, 10]
    plain = client.post("/v1/runs", json={"template": MODEL}).json()["metadata"]["runId"]
    state = client.get(f"/v1/runs/{plain}/state", params={"binIndex": 0}).json()
    assert all("constraints" not in n for n in state["nodes"])


PMF = textwrap.dedent("""\
    grid: {bins: 3, binSize: 60, binUnit: minutes}
    nodes:
      - {id: d, kind: pmf, pmf: {values: [10, 20, 30], probabilities: [0.2, 0.3, 0.5]}}
    """)


def test_pmf_mode_expected_over_http_and_the_cli(client, tmp_path, monkeypatch):
    response = client.post("/v1/runs", json={"template": PMF, "options": {"pmfMode": "expected"}})
    assert response.status_code == 201
    assert _series(client, response.json()["metadata"]["runId"], "d") == [23, 23, 23]
    bad = client.post("/v1/runs", json={"template": PMF, "options": {"pmfMode": "mean"}})
    assert bad.status_code == 400
    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path / "cli"))
    model = tmp_path / "pmf.yaml"
    model.write_text(PMF)
    result = CliRunner().invoke(cli, ["run", "--file", str(model), "--pmf-mode", "expected",
                                      "--run-id", "pmf"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli" / "runs" / "pmf" / "series" / "d@D@DEFAULT.csv").read_text() == \
        "t,value\n0,23\n1,23\n2,23\n"


def test_sweeps_take_a_template_as_text_or_a_file(client, tmp_path, monkeypatch):
    import time

    import flowtime

    # HTTP: `template` instead of `templateId`; the sweep is named by the template's id
    accepted = client.post("/v1/sweeps", json={"template": TEMPLATE, "grid": {"cap": [10, 20]}})
    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["location"]
    deadline = time.monotonic() + 60
    while (body := client.get(location).json())["status"] != "succeeded":
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
    assert body["templateId"] == "buffered" and body["progress"]["created"] == 2
    both = client.post("/v1/sweeps", json={"template": TEMPLATE, "templateId": "it-system"})
    assert both.status_code == 400
    # an unknown parameter is refused before anything starts, located
    bad = client.post("/v1/sweeps", json={"template": TEMPLATE, "grid": {"nope": [1]}})
    assert bad.status_code == 400 and bad.json()["errors"][0]["loc"] == "grid.nope"

    # CLI --file and the library take a file too, into the same store: the points exist
    path = tmp_path / "buffered.yaml"
    path.write_text(TEMPLATE)
    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["sweep", "--file", str(path), "--grid", "cap=10,20",
                                      "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["progress"]["reused"] == 2 and summary["templateId"] == "buffered"
    again = flowtime.sweep(str(path), grid={"cap": [10, 20, 30]}, store=str(tmp_path))
    assert again["progress"]["reused"] == 2 and again["progress"]["created"] == 1
