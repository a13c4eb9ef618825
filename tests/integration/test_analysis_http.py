"""The analysis endpoints and `flowtime analyze` drive the same service (issue 19)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from flowtime.adapters.cli.main import cli

LINE = {"templateId": "assembly-line", "parameters": {"weldEvery": 1}}


def test_goal_seek_and_sensitivity_over_http(client):
    # Weld's queue grows by 40 − B an hour with one batch of B an hour: mean 6.5 (40 − B)
    seek = client.post("/v1/goal-seek", json={**LINE, "knob": "weldBatch",
                                              "metric": "weld_queue", "target": 13,
                                              "lo": 0, "hi": 80})
    assert seek.status_code == 200, seek.text
    body = seek.json()
    assert body["converged"] and body["value"] == pytest.approx(38, abs=1e-6)
    assert body["trace"][0] == {"iteration": 1, "value": 40.0, "achieved": 0.0,
                                "lo": 0.0, "hi": 80.0}
    sens = client.post("/v1/sensitivity", json={**LINE, "knobs": ["weldBatch", "paintCapacity"],
                                                "metric": "weld_queue"}).json()
    # d mean / d B = -6.5 while B < 40 (base 70 ± 5 % is above 40: the queue stays 0)
    assert [p["knob"] for p in sens["points"]] == ["weldBatch", "paintCapacity"]
    assert sens["points"][1]["gradient"] == 0


def test_optimize_and_bad_requests_over_http(client):
    best = client.post("/v1/optimize", json={
        **LINE, "knobs": ["weldBatch"], "ranges": {"weldBatch": {"lo": 0, "hi": 40}},
        "metric": "weld_queue", "objective": "maximize"}).json()
    assert best["values"]["weldBatch"] == pytest.approx(0, abs=0.01)  # no batches: 40/h pile up
    unknown = client.post("/v1/sensitivity", json={**LINE, "knobs": ["nope"],
                                                   "metric": "weld_queue"})
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["loc"] == "knobs[0]"
    assert "weldBatch" in unknown.json()["errors"][0]["msg"]
    out_of_bounds = client.post("/v1/goal-seek", json={**LINE, "knob": "weldEvery",
                                                       "metric": "weld_queue", "target": 1,
                                                       "lo": 0, "hi": 20})
    assert out_of_bounds.status_code == 400
    assert out_of_bounds.json()["errors"][0]["loc"] == "lo"
    missing = client.post("/v1/goal-seek", json={"templateId": "nope", "knob": "x",
                                                 "metric": "y", "target": 1, "lo": 0, "hi": 1})
    assert missing.status_code == 404
    incomplete = client.post("/v1/goal-seek", json={"templateId": "it-system", "knob": "x"})
    assert incomplete.status_code == 400


def test_validate_tiers(client):
    ok = client.post("/v1/validate", json={"templateId": "it-system", "tier": "analyse"}).json()
    assert ok == {"valid": True, "tier": "analyse", "problems": [], "warnings": []}
    bad = client.post("/v1/validate", json={"templateId": "it-system",
                                            "parameters": {"bins": 5}}).json()
    assert bad["valid"] is False
    assert bad["problems"] == [{"loc": "nodes[0].values",
                                "msg": "length 12 does not match grid.bins 5"}]
    schema_only = client.post("/v1/validate", json={"templateId": "it-system",
                                                    "parameters": {"bins": 5},
                                                    "tier": "schema"}).json()
    assert schema_only["valid"] is True


def test_cli_analyze_matches_http(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(cli, ["analyze", "goal-seek", "--template-id", "assembly-line",
                                 "--param", "weldEvery=1", "--knob", "weldBatch",
                                 "--metric", "weld_queue", "--target", "13", "--lo", "0",
                                 "--hi", "80", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["value"] == pytest.approx(38, abs=1e-6)
    unbracketed = runner.invoke(cli, ["analyze", "goal-seek", "--template-id", "assembly-line",
                                      "--knob", "weldBatch", "--metric", "weld_queue",
                                      "--target", "-5", "--lo", "0", "--hi", "80"])
    assert unbracketed.exit_code == 1 and "not converged" in unbracketed.output
    unknown = runner.invoke(cli, ["analyze", "sensitivity", "--template-id", "assembly-line",
                                  "--knob", "zz", "--metric", "weld_queue"])
    assert unknown.exit_code == 2 and "unknown knob 'zz'" in unknown.output


def test_saved_analyses_are_listed_and_fetched(client):
    body = {**LINE, "knob": "weldBatch", "metric": "weld_queue", "target": 13, "lo": 0,
            "hi": 80, "save": True}
    first = client.post("/v1/goal-seek", json=body).json()
    analysis_id = first["analysisId"]
    assert analysis_id.startswith("analysis_")
    again = client.post("/v1/goal-seek", json=body).json()
    assert again["analysisId"] == analysis_id  # the same question: the same record
    record = client.get(f"/v1/analyses/{analysis_id}").json()
    assert record["kind"] == "goal-seek" and record["request"]["knob"] == "weldBatch"
    assert record["result"]["value"] == pytest.approx(38, abs=1e-6)
    listed = client.get("/v1/analyses").json()
    assert listed["totalCount"] == 1 and listed["page"] == 1
    assert [i["id"] for i in listed["items"]] == [analysis_id]
    assert listed["items"][0]["metric"] == "weld_queue"
    assert listed["items"][0]["templateId"] == "assembly-line"
    unsaved = client.post("/v1/sensitivity", json={**LINE, "knobs": ["weldBatch"],
                                                   "metric": "weld_queue"}).json()
    assert unsaved.get("analysisId") is None
    assert client.get("/v1/analyses/analysis_nope").status_code == 404


INLINE = """\
metadata: {id: tiny-desk, title: Tiny desk}
window: {start: "2025-01-01T00:00:00Z"}
parameters:
  - {name: cap, type: number, default: 5}
grid: {bins: 4, binSize: 60, binUnit: minutes}
nodes:
  - {id: demand, kind: const, values: [10, 10, 10, 10]}
  - {id: cap, kind: const, values: [${cap}, ${cap}, ${cap}, ${cap}]}
topology:
  nodes:
    - {id: Desk, kind: serviceWithBuffer, semantics: {arrivals: demand, capacity: cap}}
"""


def test_an_inline_analysis_is_listed_by_its_template_id(client):
    body = {"template": INLINE, "knobs": ["cap"], "metric": "desk_queue", "save": True}
    assert client.post("/v1/sensitivity", json=body).status_code == 200
    listed = client.get("/v1/analyses", params={"pageSize": 1}).json()
    assert listed["items"][0]["templateId"] == "tiny-desk" and listed["pageSize"] == 1


def test_the_cli_answers_as_http_does_and_takes_the_http_body(client, tmp_path, monkeypatch):
    body = {**LINE, "knob": "weldBatch", "metric": "weld_queue", "target": 13, "lo": 0,
            "hi": 80}
    over_http = client.post("/v1/goal-seek", json=body).json()
    spec = tmp_path / "seek.json"
    spec.write_text(json.dumps(body))
    runner = CliRunner()
    from_spec = runner.invoke(cli, ["analyze", "goal-seek", "--spec", str(spec), "--json"])
    assert from_spec.exit_code == 0, from_spec.output
    assert json.loads(from_spec.output) == over_http  # standardError included
    assert "standardError" in over_http
    from_stdin = runner.invoke(cli, ["analyze", "goal-seek", "--spec", "-", "--json"],
                               input=json.dumps(body))
    assert json.loads(from_stdin.output) == over_http
    bad = runner.invoke(cli, ["analyze", "goal-seek", "--spec", "-"],
                        input=json.dumps({**body, "hi": "x"}))
    assert bad.exit_code == 2 and "spec.hi" in bad.output
    # optimize from options with a constraint and an objective: with weldBatch in 0..40 the
    # mean weld queue is 6.5 (40 − B), and paint's queue stays 0; minimizing picks B = 40
    best = runner.invoke(cli, ["analyze", "optimize", "--template-id", "assembly-line",
                               "--param", "weldEvery=1", "--knob", "weldBatch",
                               "--range", "weldBatch=0:40", "--metric", "weld_queue",
                               "--objective", "minimize", "--constraint",
                               "paint_queue<=1000", "--json"])
    assert best.exit_code == 0, best.output
    answer = json.loads(best.output)
    assert answer["values"]["weldBatch"] == pytest.approx(40, abs=0.05)
    assert answer["violations"] == {}
