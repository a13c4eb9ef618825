"""Comparing runs over HTTP and the CLI (issue 23), with numbers worked out by hand."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from flowtime.adapters.cli.main import cli
from flowtime.adapters.http.app import create_app
from flowtime.container import Settings, build_container


@pytest.fixture
def client(tmp_path):
    settings = Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0"})
    with TestClient(create_app(build_container(settings))) as test_client:
        yield test_client


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
