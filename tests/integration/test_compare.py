"""Comparing runs over HTTP and the CLI (issue 23), with numbers worked out by hand."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from flowtime.adapters.cli.main import cli


def _run(client, batch: int) -> str:
    body = {"templateId": "assembly-line", "parameters": {"weldEvery": 1, "weldBatch": batch}}
    return client.post("/v1/runs", json=body).json()["metadata"]["runId"]


def test_compare_two_runs(client, tmp_path, monkeypatch):
    a, b = _run(client, 38), _run(client, 36)
    body = client.get("/v1/runs/compare", params={"ids": f"{a},{b}"}).json()
    assert body["differingParameters"] == ["weldBatch"]
    assert body["parameters"]["weldBatch"] == {a: 38, b: 36}
    queue = next(s for s in body["series"] if s["id"] == "weld_queue")
    # Q = 2(t + 1) and 4(t + 1) over 12 hours: means 13 and 26, last 24 and 48; p95 by
    # linear interpolation at 0.95 × 11 = 10.45: 22 + 0.45 × 2 = 22.9 and 45.8
    assert queue["differs"] is True
    assert queue["summaries"][a] == {"mean": 13.0, "max": 24.0, "p95": pytest.approx(22.9),
                                     "last": 24.0}
    assert queue["summaries"][b]["mean"] == 26.0 and queue["summaries"][b]["last"] == 48.0
    assert queue["values"][b][:3] == [4.0, 8.0, 12.0]
    parts = next(s for s in body["series"] if s["id"] == "parts")
    assert parts["differs"] is False
    lean = client.get("/v1/runs/compare", params={"ids": f"{a},{b}", "values": "false",
                                                  "series": "weld_queue"}).json()
    assert [s["id"] for s in lean["series"]] == ["weld_queue"] and \
        lean["series"][0]["values"] is None
    assert client.get("/v1/runs/compare", params={"ids": a}).status_code == 400
    assert client.get("/v1/runs/compare", params={"ids": f"{a},nope"}).status_code == 404

    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path))
    text = CliRunner().invoke(cli, ["runs", "compare", a, b])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0] == f"parameter\t{a}\t{b}" and lines[1] == "weldBatch\t38\t36"
    assert "weld_queue\tmean\t13\t26" in text.output
    as_json = CliRunner().invoke(cli, ["runs", "compare", a, b, "--json"])
    assert json.loads(as_json.output)["differingParameters"] == ["weldBatch"]


def test_state_window_defaults_to_the_whole_run(client):
    run_id = _run(client, 38)
    window = client.get(f"/v1/runs/{run_id}/state_window").json()
    assert window["window"] == {"startBin": 0, "endBin": 11, "binCount": 12}
    tail = client.get(f"/v1/runs/{run_id}/state_window", params={"startBin": 10}).json()
    assert tail["window"] == {"startBin": 10, "endBin": 11, "binCount": 2}


def test_tags_on_create_patch_and_filter(client, tmp_path, monkeypatch):
    body = {"templateId": "assembly-line", "options": {"tags": {"team": "ops", "case": "a"}}}
    first = client.post("/v1/runs", json=body).json()["metadata"]["runId"]
    second = _run(client, 36)
    assert client.get(f"/v1/runs/{first}").json()["tags"] == {"case": "a", "team": "ops"}
    files_before = client.get(f"/v1/runs/{first}/files/manifest.json").content
    changed = client.patch(f"/v1/runs/{second}/tags", json={"team": "ops", "x": "1"})
    assert changed.status_code == 200 and changed.json() == {"team": "ops", "x": "1"}
    assert client.patch(f"/v1/runs/{second}/tags", json={"x": None}).json() == {"team": "ops"}
    listed = client.get("/v1/runs", params={"tag": "team:ops"}).json()
    assert {i["runId"] for i in listed["items"]} == {first, second}
    only = client.get("/v1/runs", params={"tag": "team:ops,case:a"}).json()
    assert [i["runId"] for i in only["items"]] == [first] and only["totalCount"] == 1
    assert client.get(f"/v1/runs/{first}/files/manifest.json").content == files_before
    bad = client.patch(f"/v1/runs/{second}/tags", json={"bad key": "v"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["loc"] == "tags.bad key"
    assert client.patch("/v1/runs/nope/tags", json={"a": "b"}).status_code == 404
    bad_create = client.post("/v1/runs", json={"templateId": "assembly-line",
                                               "options": {"tags": {"a b": "c"}}})
    assert bad_create.status_code == 400
    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path))
    out = CliRunner().invoke(cli, ["runs", "list", "--tag", "case:a", "--json"])
    assert [i["runId"] for i in json.loads(out.output)["items"]] == [first]
    tagged = CliRunner().invoke(cli, ["runs", "tag", second, "stage=review", "team=", "--json"])
    assert json.loads(tagged.output) == {"stage": "review"}
    # KEY:VALUE as the --tag filters take it; readable key=value lines by default
    readable = CliRunner().invoke(cli, ["runs", "tag", second, "team:support"])
    assert readable.output.splitlines() == ["stage=review", "team=support"]


def test_runs_that_differ_only_in_seed_or_pmf_mode_say_so(client, tmp_path, monkeypatch):
    made = [client.post("/v1/runs", json={"templateId": "it-system", "options": options}).json()
            for options in ({"seed": 1}, {"seed": 2}, {"seed": 1, "pmfMode": "expected"})]
    a, b, c = (m["metadata"]["runId"] for m in made)
    body = client.get("/v1/runs/compare", params={"ids": f"{a},{b}"}).json()
    assert body["differingParameters"] == []
    assert body["differingSettings"] == ["seed"]
    assert body["settings"]["seed"] == {a: 1, b: 2}
    assert body["settings"]["pmfMode"] == {a: "sample", b: "sample"}
    modes = client.get("/v1/runs/compare", params={"ids": f"{a},{c}"}).json()
    assert modes["differingSettings"] == ["pmfMode"]
    assert modes["settings"]["pmfMode"] == {a: "sample", c: "expected"}
    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path))
    text = CliRunner().invoke(cli, ["runs", "compare", a, b])
    assert "(seed)\t1\t2" in text.output


def test_the_same_run_twice_is_a_400_not_a_500(client):
    run_id = _run(client, 38)
    response = client.get("/v1/runs/compare", params={"ids": f"{run_id},{run_id}"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == "ids"
    assert "different" in response.json()["detail"]
