"""Telemetry mode: capture, bindings, gaps, and the simulate → capture → replay round trip."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from flowtime.adapters.cli.main import cli
from flowtime.domain.modeling import schemas


@pytest.fixture
def env(tmp_path, monkeypatch):
    data = tmp_path / "data"
    captures = tmp_path / "captures"
    captures.mkdir()
    values = {"FLOWTIME_DATA_DIR": str(data), "FLOWTIME_CAPTURE_ROOT": str(captures)}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("FLOWTIME_STORE", raising=False)
    return values


@pytest.fixture
def client_env(env):
    return env


def series_hashes(client, run_id: str) -> dict[str, str]:
    manifest = client.get(f"/v1/runs/{run_id}/files/manifest.json").json()
    return manifest["seriesHashes"]


def capture(run_id: str, out: str, *extra: str) -> None:
    result = CliRunner().invoke(cli, ["telemetry", "capture", run_id, "--out", out, *extra])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("template", ["it-system", "supply-chain"])
def test_simulate_capture_replay_reproduces_every_series_hash(client, env, template):
    sim = client.post("/v1/runs", json={"templateId": template}).json()["metadata"]["runId"]
    capture(sim, os.path.join(env["FLOWTIME_CAPTURE_ROOT"], "cap1"))
    node = "baseOrders" if template == "it-system" else "demand"
    replay = client.post("/v1/runs", json={
        "templateId": template, "mode": "telemetry",
        "telemetry": {"captureDirectory": "cap1",
                      "bindings": {"telemetryDemandSource": f"{node}.csv"}}})
    assert replay.status_code == 201, replay.text
    body = replay.json()
    assert body["metadata"]["mode"] == "telemetry"
    assert body["metadata"]["telemetrySourcesResolved"] is True
    assert body["canReplay"] is True
    assert series_hashes(client, body["metadata"]["runId"]) == series_hashes(client, sim)
    manifest = client.get(f"/v1/runs/{body['metadata']['runId']}/files/"
                          "model/telemetry/telemetry-manifest.json").json()
    assert schemas.validate("telemetry-manifest", manifest) == []
    assert [f["nodeId"] for f in manifest["files"]] == [node]
    assert manifest["files"][0]["points"] == manifest["grid"]["bins"]


def test_capture_writes_manifest_with_hashes(client, env, tmp_path):
    sim = client.post("/v1/runs", json={"templateId": "it-system"}).json()["metadata"]["runId"]
    out = tmp_path / "captures" / "c"
    capture(sim, str(out))
    manifest = json.loads((out / "telemetry-manifest.json").read_text())
    assert schemas.validate("telemetry-manifest", manifest) == []
    metrics = {f["nodeId"]: f["metric"] for f in manifest["files"]}
    assert metrics["billingBacklog"] == "QueueDepth" and metrics["billed"] == "Served"
    assert metrics["apiErrors"] == "Errors" and metrics["billingCap"] == "Capacity"
    assert manifest["window"]["durationMinutes"] == 60


def test_gap_injection_becomes_warnings_with_bins(client, env):
    sim = client.post("/v1/runs", json={"templateId": "it-system"}).json()["metadata"]["runId"]
    capture(sim, os.path.join(env["FLOWTIME_CAPTURE_ROOT"], "gappy"), "--gaps",
            "baseOrders:2,baseOrders:5-6")
    replay = client.post("/v1/runs", json={
        "templateId": "it-system", "mode": "telemetry",
        "telemetry": {"captureDirectory": "gappy",
                      "bindings": {"telemetryDemandSource": "baseOrders.csv"}}}).json()
    warnings = replay["warnings"]
    assert [w["bins"] for w in warnings] == [[2, 5, 6]]
    assert warnings[0]["nodeId"] == "baseOrders" and warnings[0]["code"] == "telemetry_gap"
    listed = client.get("/v1/runs", params={"hasWarnings": "true"}).json()
    assert [i["runId"] for i in listed["items"]] == [replay["metadata"]["runId"]]
    assert listed["items"][0]["warningCount"] == 1
    run_id = replay["metadata"]["runId"]
    assert replay["metadata"]["telemetrySourcesResolved"] is True
    state = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 2}).json()
    window = client.get(f"/v1/runs/{run_id}/state_window", params={"startBin": 0, "endBin": 11})
    for body in (state, window.json()):
        assert schemas.validate("time-travel-state", body) == []
        [warning] = [w for w in body["warnings"] if w["code"].startswith("telemetry")]
        assert warning["code"] == "telemetry_gap" and warning["nodeId"] == "baseOrders"
        assert "2, 5, 6" in warning["message"]  # the bins live in the message here


def test_missing_capture_file_is_422_naming_it(client, env):
    os.mkdir(os.path.join(env["FLOWTIME_CAPTURE_ROOT"], "empty"))
    response = client.post("/v1/runs", json={
        "templateId": "it-system", "mode": "telemetry",
        "telemetry": {"captureDirectory": "empty",
                      "bindings": {"telemetryDemandSource": "nothere.csv"}}})
    assert response.status_code == 422
    assert "nothere.csv" in response.text


def test_binding_must_name_a_string_parameter(client, env):
    os.mkdir(os.path.join(env["FLOWTIME_CAPTURE_ROOT"], "x"))
    response = client.post("/v1/runs", json={
        "templateId": "it-system", "mode": "telemetry",
        "telemetry": {"captureDirectory": "x", "bindings": {"bins": "a.csv", "zz": "b.csv"}}})
    assert response.status_code == 400
    locs = {e["loc"] for e in response.json()["errors"]}
    assert {"telemetry.bindings.bins", "telemetry.bindings.zz"} <= locs


@pytest.mark.parametrize("directory", ["../", "../../etc", "/etc", "%2e%2e", "%2e%2e%2fetc",
                                       "ok/../../..", "link-out"])
def test_capture_directories_outside_the_root_are_400(client, env, tmp_path, directory):
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "demand.csv").write_text("t,value\n0,1\n")
    link = os.path.join(env["FLOWTIME_CAPTURE_ROOT"], "link-out")
    if not os.path.lexists(link):
        os.symlink(outside, link)
    response = client.post("/v1/runs", json={
        "templateId": "it-system", "mode": "telemetry",
        "telemetry": {"captureDirectory": directory,
                      "bindings": {"telemetryDemandSource": "demand.csv"}}})
    assert response.status_code == 400, response.text
    assert "outside the capture root" in response.text


@pytest.mark.parametrize("binding", ["../../outside/demand.csv", "/etc/passwd",
                                     "%2e%2e/%2e%2e/outside/demand.csv", "out.csv"])
def test_bound_files_cannot_escape_the_root(client, env, tmp_path, binding):
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "demand.csv").write_text("t,value\n0,1\n")
    cap = os.path.join(env["FLOWTIME_CAPTURE_ROOT"], "cap")
    os.makedirs(cap, exist_ok=True)
    if not os.path.lexists(os.path.join(cap, "out.csv")):
        os.symlink(outside / "demand.csv", os.path.join(cap, "out.csv"))
    response = client.post("/v1/runs", json={
        "templateId": "it-system", "mode": "telemetry",
        "telemetry": {"captureDirectory": "cap", "bindings": {"telemetryDemandSource": binding}}})
    assert response.status_code == 400, response.text


def test_short_or_dirty_files_warn_per_node_and_empty_files_are_400(client, env):
    cap = os.path.join(env["FLOWTIME_CAPTURE_ROOT"], "dirty")
    os.mkdir(cap)
    rows = ["t,value"] + [f"{t},{v}" for t, v in enumerate(
        ["30", "abc", "38", "NaN", "52", "60", "58", "50", "44", "40"])]  # 10 of 12 bins
    with open(os.path.join(cap, "d.csv"), "w") as handle:
        handle.write("\n".join(rows) + "\n")
    with open(os.path.join(cap, "empty.csv"), "w") as handle:
        handle.write("t,value\n0,x\n")
    body = {"templateId": "it-system", "mode": "telemetry",
            "telemetry": {"captureDirectory": "dirty",
                          "bindings": {"telemetryDemandSource": "d.csv"}}}
    response = client.post("/v1/runs", json=body)
    assert response.status_code == 201, response.text
    warnings = response.json()["warnings"]
    assert len(warnings) == 1 and warnings[0]["bins"] == [1, 3, 10, 11]
    body["telemetry"]["bindings"]["telemetryDemandSource"] = "empty.csv"
    bad = client.post("/v1/runs", json=body)
    assert bad.status_code == 400 and "no numeric values" in bad.text


def test_class_series_round_trip_through_capture_and_replay(client, env):
    sim = client.post("/v1/runs", json={"templateId": "transit-classes"}).json()
    sim_id = sim["metadata"]["runId"]
    capture(sim_id, os.path.join(env["FLOWTIME_CAPTURE_ROOT"], "classes"))
    folder = os.path.join(env["FLOWTIME_CAPTURE_ROOT"], "classes")
    assert os.path.exists(os.path.join(folder, "riders__class_airport.csv"))
    with open(os.path.join(folder, "telemetry-manifest.json")) as handle:
        captured = json.load(handle)
    assert {"nodeId": "riders", "classId": "airport"}.items() <= next(
        f for f in captured["files"] if f.get("classId") == "airport"
        and f["nodeId"] == "riders").items()
    # Change the declared mix: a replay that used the rates would split riders 1:1:1; the
    # captured class files must win, so every series (class series too) is identical.
    replay = client.post("/v1/runs", json={
        "templateId": "transit-classes", "mode": "telemetry",
        "parameters": {"commuterRate": 1, "airportRate": 1, "visitorRate": 1},
        "telemetry": {"captureDirectory": "classes",
                      "bindings": {"telemetryRidersSource": "riders.csv"}}})
    assert replay.status_code == 201, replay.text
    replay_id = replay.json()["metadata"]["runId"]
    replayed, simulated = series_hashes(client, replay_id), series_hashes(client, sim_id)
    assert "riders@RIDERS@airport" in simulated
    assert replayed == simulated
    manifest = client.get(f"/v1/runs/{replay_id}/files/"
                          "model/telemetry/telemetry-manifest.json").json()
    assert schemas.validate("telemetry-manifest", manifest) == []
    assert sorted(f.get("classId", "") for f in manifest["files"]) == [
        "", "airport", "commuter", "visitor"]
