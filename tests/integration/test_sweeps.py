"""Sweeps and Monte Carlo on the local process pool and on Dask (SPEC §11)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import msgspec
import numpy as np
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from flowtime.adapters.cli.main import cli
from flowtime.adapters.http.app import create_app
from flowtime.container import Settings, build_container
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.runs import RunRequest
from flowtime.domain.services.sweeps import SweepRequest, expand

PMF_TEMPLATE = """\
metadata: {id: mc-pmf, title: Monte Carlo PMF, version: 1.0.0}
window: {start: "2025-01-01T00:00:00Z"}
parameters:
  - {name: scale, type: number, default: 1}
grid: {bins: 24, binSize: 1, binUnit: hours}
nodes:
  - {id: draw, kind: pmf, pmf: {values: [0, 1, 2, 3], probabilities: [0.1, 0.2, 0.3, 0.4]}}
  - {id: load, kind: expr, expr: "draw * ${scale}"}
"""


@pytest.fixture
def templates(tmp_path) -> Path:
    from flowtime.adapters.templates.directory import shipped_templates_dir

    folder = tmp_path / "templates"
    folder.mkdir()
    for path in shipped_templates_dir().glob("*.yaml"):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "mc-pmf.yaml").write_text(PMF_TEMPLATE)
    return folder


def container_for(store: str, templates: Path, executor: str = "local", workers: int = 2):
    return build_container(Settings.from_env({
        "FLOWTIME_STORE": store, "FLOWTIME_TEMPLATES_DIR": str(templates),
        "FLOWTIME_EXECUTOR": executor, "FLOWTIME_SWEEP_WORKERS": str(workers),
        "FLOWTIME_FSYNC": "0"}))


GRID = SweepRequest("it-system", grid={"billingCapacity": [30, 45], "errorRate": [0.01, 0.1]},
                    samples=2, seed=7)


def test_expansion_is_the_cartesian_product_with_stable_ids():
    points = expand(GRID)
    assert len(points) == 2 * 2 * 2
    assert [p.request.seed for p in points[:2]] == [7, 8]
    assert points[0].request.parameters == {"billingCapacity": 30, "errorRate": 0.01}
    assert points[-1].request.parameters == {"billingCapacity": 45, "errorRate": 0.1}
    assert all(p.request.deterministic_run_id for p in points)
    assert GRID.sweep_id == SweepRequest(**{f: getattr(GRID, f) for f in (
        "template_id", "mode", "grid", "parameters", "samples", "seed")}).sweep_id
    assert expand(SweepRequest("it-system"))[0].request.parameters == {}


def test_rerunning_a_finished_sweep_computes_nothing_new(tmp_path, templates):
    container = container_for(f"file://{tmp_path / 'store'}", templates)
    first = container.sweeps().run(GRID)
    second = container.sweeps().run(GRID)
    assert first.progress.created == 8 and first.status == "succeeded"
    assert msgspec.to_builtins(second.progress) == {"total": 8, "done": 8, "created": 0,
                                                    "reused": 8, "failed": 0}
    assert [r.run_id for r in first.runs] == [r.run_id for r in second.runs]


def _comparable(summary) -> list:
    return [(r.run_id, r.parameters, r.seed, r.aggregates) for r in summary.runs]


@pytest.mark.slow
def test_local_and_dask_give_identical_summaries(tmp_path, templates):
    local = container_for(f"file://{tmp_path / 'a'}", templates, "local").sweeps().run(GRID)
    dask = container_for(f"file://{tmp_path / 'b'}", templates, "dask").sweeps().run(GRID)
    assert local.executor == "local" and dask.executor == "dask"
    assert _comparable(local) == _comparable(dask)
    aggregates = local.runs[0].aggregates["billed@BILLED@DEFAULT"]
    assert set(aggregates) == {"sum", "mean", "max", "last"}


@pytest.mark.slow
def test_dask_sweep_into_s3_is_readable_from_the_api(s3_url, templates):
    container = container_for(s3_url, templates, "dask")
    summary = container.sweeps().run(SweepRequest("supply-chain",
                                                  grid={"reorderQuantity": [120, 160]}))
    assert summary.status == "succeeded"
    with TestClient(create_app(container)) as client:
        fetched = client.get(f"/v1/sweeps/{summary.sweep_id}").json()
        assert fetched["progress"]["done"] == 2
        for run in fetched["runs"]:
            body = client.get(f"/v1/runs/{run['runId']}").json()
            assert body["metadata"]["templateId"] == "supply-chain"
            index = client.get(f"/v1/runs/{run['runId']}/index").json()
            assert len(index["series"]) == 13  # 9 nodes, 3 derived metrics, 1 edge flow
        listed = client.get("/v1/sweeps").json()["items"]
        assert [s["sweepId"] for s in listed] == [summary.sweep_id]


def test_monte_carlo_bands_bracket_the_analytic_median(tmp_path, templates):
    container = container_for(f"file://{tmp_path / 'mc'}", templates)
    summary = container.sweeps().run(SweepRequest("mc-pmf", samples=200, seed=1))
    assert summary.progress.created == 200
    store = container.store()
    rows = store.read_sweep_file(summary.sweep_id, "bands/draw@DRAW@DEFAULT.csv").decode()
    lines = rows.splitlines()
    assert lines[0] == "t,p5,p50,p95" and len(lines) == 25
    bands = np.array([[float(x) for x in line.split(",")[1:]] for line in lines[1:]])
    assert (bands[:, 0] <= bands[:, 1]).all() and (bands[:, 1] <= bands[:, 2]).all()
    # P(X ≤ 1) = 0.3 and P(X ≤ 2) = 0.6: the median of the distribution is 2.
    assert np.abs(bands[:, 1] - 2).max() <= 0.5
    assert bands[:, 0].min() >= 0 and bands[:, 2].max() <= 3


def test_cli_sweep_lists_failures_and_exits_1(tmp_path, templates, monkeypatch):
    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.delenv("FLOWTIME_STORE", raising=False)
    # bins=5 is a valid parameter, but the 12-value demand profile then fails that point.
    result = CliRunner().invoke(cli, ["sweep", "--template-id", "it-system", "--templates",
                                      str(templates), "--grid", "bins=12,5", "--workers", "2"])
    assert result.exit_code == 1
    assert "1 new, 0 reused, 1 failed of 2" in result.output
    assert "length 12 does not match grid.bins 5" in result.output
    ok = CliRunner().invoke(cli, ["sweep", "--template-id", "it-system", "--templates",
                                  str(templates), "--grid", "bins=12", "--json"])
    assert ok.exit_code == 0
    assert json.loads(ok.output)["progress"]["reused"] == 1


def test_bad_grid_values_are_refused_before_anything_starts(tmp_path, templates, monkeypatch):
    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.delenv("FLOWTIME_STORE", raising=False)
    result = CliRunner().invoke(cli, ["sweep", "--template-id", "it-system", "--templates",
                                      str(templates), "--grid", "errorRate=0.01,7"])
    assert result.exit_code == 2
    assert "grid.errorRate[1]: 7 is above the maximum 1" in result.output
    assert not (tmp_path / "cli" / "runs").exists() or not any((tmp_path / "cli" / "runs")
                                                               .iterdir())
    container = container_for(f"file://{tmp_path / 'http'}", templates)
    with TestClient(create_app(container)) as client:
        for grid, message in (({"nope": [1]}, "grid.nope: unknown parameter"),
                              ({"billingCapacity": ["x"]}, "grid.billingCapacity[0]"),
                              ({"errorRate": [0.1, 2]}, "grid.errorRate[1]")):
            response = client.post("/v1/sweeps", json={"templateId": "it-system", "grid": grid})
            assert response.status_code == 400, response.text
            assert any(message in f"{e['loc']}: {e['msg']}" for e in response.json()["errors"])
        assert client.get("/v1/sweeps").json()["items"] == []


def test_http_sweep_is_accepted_and_completes_in_the_background(tmp_path, templates):
    container = container_for(f"file://{tmp_path / 'http'}", templates)
    with TestClient(create_app(container)) as client:
        body = {"templateId": "transport-hub", "grid": {"busSeats": [60, 80, 100]}}
        accepted = client.post("/v1/sweeps", json=body)
        assert accepted.status_code == 202
        location = accepted.headers["location"]
        deadline = time.monotonic() + 120
        while True:
            response = client.get(location)
            if response.status_code == 200 and response.json()["status"] == "succeeded":
                break
            assert time.monotonic() < deadline, response.text
            time.sleep(0.3)
        assert response.json()["progress"]["created"] == 3
        assert client.post("/v1/sweeps", json={"templateId": "nope"}).status_code == 404
        assert client.get("/v1/sweeps/sweep_unknown").status_code == 404


@pytest.mark.slow
@pytest.mark.parametrize(("signal_name", "code", "status"), [
    ("SIGINT", 130, "cancelled"),  # Ctrl-C: the user stopped it
    ("SIGTERM", 143, "interrupted"),  # a supervisor stopped the process
])
def test_signals_stop_a_cli_sweep_cleanly_without_orphaned_workers(
        tmp_path, templates, signal_name, code, status):
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "FLOWTIME_DATA_DIR": str(tmp_path / "stop"), "FLOWTIME_FSYNC": "0"}
    env.pop("FLOWTIME_STORE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "flowtime.adapters.cli.main", "sweep", "--template-id", "mc-pmf",
         "--templates", str(templates), "--samples", "5000", "--seed", "1", "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sweeps = tmp_path / "stop" / "sweeps"
    deadline = time.monotonic() + 60
    while not (sweeps.exists() and any(sweeps.glob("*/sweep.json"))):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.2)
    time.sleep(1.5)
    children = subprocess.run(["ps", "--ppid", str(process.pid), "-o", "pid="],
                              capture_output=True, text=True).stdout.split()
    assert children, "the pool's workers should be running"
    process.send_signal(getattr(signal, signal_name))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    summary = json.loads(next(sweeps.glob("*/sweep.json")).read_text())
    assert summary["status"] == status
    assert 0 < summary["progress"]["done"] < 5000
    assert not list((tmp_path / "stop" / ".staging").iterdir())
    _all_gone([int(p) for p in children])


def test_a_sweep_whose_driver_died_reads_as_interrupted_and_resumes(tmp_path, templates):
    from datetime import timedelta

    container = container_for(f"file://{tmp_path / 'stale'}", templates)
    store = container.store()
    request = SweepRequest("transport-hub", grid={"busSeats": [50, 70]})
    summary = msgspec.to_builtins(container.sweeps().run(request))
    summary.update(status="running", updatedUtc="2020-01-01T00:00:00Z",
                   heartbeatUtc="2020-01-01T00:00:00Z")
    store.write_sweep_file(request.sweep_id, "sweep.json", json.dumps(summary).encode())
    assert container.sweeps().get(request.sweep_id).status == "interrupted"
    fresh = container.clock().now() - timedelta(seconds=5)
    summary["updatedUtc"] = summary["heartbeatUtc"] = fresh.strftime("%Y-%m-%dT%H:%M:%SZ")
    store.write_sweep_file(request.sweep_id, "sweep.json", json.dumps(summary).encode())
    assert container.sweeps().get(request.sweep_id).status == "running"
    # a live driver holds it: a second one may not start (issue 43, one owner per sweep)
    with pytest.raises(FlowTimeError) as held:
        container.sweeps().run(request)
    assert held.value.kind == "conflict"
    summary["updatedUtc"] = summary["heartbeatUtc"] = "2020-01-01T00:00:00Z"
    store.write_sweep_file(request.sweep_id, "sweep.json", json.dumps(summary).encode())
    resumed = container.sweeps().run(request)  # its driver is gone: resumed, runs reused
    assert resumed.status == "succeeded" and resumed.progress.reused == 2


def test_delete_cancels_an_http_sweep_and_a_repost_resumes(tmp_path, templates):
    container = container_for(f"file://{tmp_path / 'cancel'}", templates, workers=1)
    with TestClient(create_app(container)) as client:
        body = {"templateId": "mc-pmf", "samples": 5000, "seed": 1}
        location = client.post("/v1/sweeps", json=body).headers["location"]
        sweep_id = location.rsplit("/", 1)[1]
        cancelled = client.delete(location)
        assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelling"
        deadline = time.monotonic() + 120
        while (summary := client.get(location).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert summary["status"] == "cancelled"
        done = summary["progress"]["created"]
        assert done < 5000
        runs_before = client.get("/v1/runs", params={"pageSize": 1}).json()["totalCount"]
        time.sleep(0.5)  # nothing keeps running after the cancel
        assert client.get("/v1/runs", params={"pageSize": 1}).json()["totalCount"] == runs_before
        again = client.delete(location)  # not running any more: the status as it is
        assert again.status_code == 200 and again.json()["status"] == "cancelled"
        assert client.delete("/v1/sweeps/sweep_unknown").status_code == 404
        # POST again: the finished points are reused (then stop it once that is visible)
        assert client.post("/v1/sweeps", json=body).headers["location"].endswith(sweep_id)
        while (summary := client.get(location).json())["progress"]["reused"] < done:
            assert summary["status"] in ("queued", "running") and time.monotonic() < deadline + 120
            time.sleep(0.2)
        client.delete(location)
        while (summary := client.get(location).json())["status"] in ("queued", "running"):
            time.sleep(0.2)
        assert summary["status"] == "cancelled" and summary["progress"]["reused"] >= done


def test_sweep_point_limit_is_configurable_and_a_413(tmp_path, templates):
    container = build_container(Settings.from_env({
        "FLOWTIME_STORE": f"file://{tmp_path / 'limit'}", "FLOWTIME_TEMPLATES_DIR": str(templates),
        "FLOWTIME_MAX_SWEEP_POINTS": "50", "FLOWTIME_FSYNC": "0"}))
    with TestClient(create_app(container)) as client:
        # 3 cells × 20 samples = 60 points > 50
        too_big = client.post("/v1/sweeps", json={"templateId": "transport-hub", "samples": 20,
                                                  "grid": {"busSeats": [60, 80, 100]}})
        assert too_big.status_code == 413
        assert "60 runs (grid cells × samples) exceed the limit of 50" in too_big.text


def test_sweep_csv_has_one_column_per_parameter(tmp_path, templates):
    container = container_for(f"file://{tmp_path / 'csv'}", templates, workers=1)
    request = SweepRequest("it-system", grid={"billingCapacity": [30, 45]},
                           parameters={"errorRate": 0.05})
    container.sweeps().run(request)
    text = container.store().read_sweep_file(request.sweep_id, "sweep.csv").decode()
    head, *rows = text.splitlines()
    assert head == "index,runId,status,seed,param.errorRate,param.billingCapacity"
    assert [r.split(",")[4:] for r in rows] == [["0.05", "30"], ["0.05", "45"]]


def _descendants(pid: int) -> list[int]:
    import subprocess

    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        kids = [int(p) for p in subprocess.run(["ps", "--ppid", str(parent), "-o", "pid="],
                                               capture_output=True, text=True).stdout.split()]
        found.extend(kids)
        queue.extend(kids)
    return found


def _all_gone(pids: list[int], seconds: float = 10) -> None:
    """Every process is gone within `seconds`: none left behind as an orphan."""
    import os

    deadline = time.monotonic() + seconds
    for pid in pids:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, f"process {pid} outlived its parent"
            time.sleep(0.1)


@pytest.mark.slow
def test_sigterm_to_the_server_interrupts_its_sweeps_and_a_repost_resumes(tmp_path, templates):
    import os
    import signal
    import subprocess
    import sys

    import httpx

    from benchmarks.server import free_port

    port = free_port()
    env = {**os.environ, "FLOWTIME_DATA_DIR": str(tmp_path / "srv"), "FLOWTIME_FSYNC": "0",
           "FLOWTIME_TEMPLATES_DIR": str(templates), "FLOWTIME_SWEEP_WORKERS": "2",
           "FLOWTIME_LOG_LEVEL": "ERROR"}
    env.pop("FLOWTIME_STORE", None)
    command = [sys.executable, "-m", "flowtime.adapters.cli.main", "serve", "--port", str(port),
               "--log-level", "warning"]
    base = f"http://127.0.0.1:{port}"

    def start() -> subprocess.Popen:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)

    body = {"templateId": "mc-pmf", "samples": 5000, "seed": 3}
    server = start()
    try:
        location = base + httpx.post(f"{base}/v1/sweeps", json=body).headers["location"]
        deadline = time.monotonic() + 60
        while (progress := httpx.get(location).json()["progress"])["done"] < 20:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert progress["etaSeconds"] > 0  # the rate so far over what is left
        children = _descendants(server.pid)  # forkserver, resource tracker, pool workers
        assert len(children) >= 3
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    _all_gone(children)
    summary = json.loads(next((tmp_path / "srv" / "sweeps").glob("*/sweep.json")).read_text())
    assert summary["status"] == "interrupted"
    done = summary["progress"]["created"]
    assert 0 < done < 5000
    server = start()
    try:
        httpx.post(f"{base}/v1/sweeps", json=body)
        while httpx.get(location).json()["progress"]["reused"] < done:
            assert time.monotonic() < deadline + 60
            time.sleep(0.2)
        httpx.delete(location)
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_overlapping_sweeps_each_list_every_point_reused_ones_included(tmp_path, templates):
    """Issue 43: a point reused from an earlier sweep is a member of both sweeps; the catalog
    relation survives a rebuild (it is read back from the sweep records)."""
    from flowtime.domain.services.catalog import sync

    container = container_for(f"file://{tmp_path / 'store'}", templates, workers=1)
    first = container.sweeps().run(SweepRequest("it-system",
                                                grid={"billingCapacity": [30, 40, 50]}))
    second = container.sweeps().run(SweepRequest("it-system",
                                                 grid={"billingCapacity": [40, 50, 60, 70]}))
    assert (second.progress.created, second.progress.reused) == (2, 2)
    standalone = container.orchestration().create_run(RunRequest(
        template_id="it-system", parameters={"billingCapacity": 99}))
    with TestClient(create_app(container)) as client:
        def listed(**query) -> set[str]:
            page = client.get("/v1/runs", params={"pageSize": 200, **query})
            assert page.status_code == 200, page.text
            return {item["runId"] for item in page.json()["items"]}

        def check() -> None:
            assert listed(sweepId=first.sweep_id) == {r.run_id for r in first.runs}
            assert listed(sweepId=second.sweep_id) == {r.run_id for r in second.runs}
            members = {r.run_id for r in first.runs} | {r.run_id for r in second.runs}
            assert len(members) == 5
            assert listed(sweepMembers="only") == members
            assert listed(sweepMembers="exclude") == {standalone.record.run_id}

        check()
        sync(container.store(), container.catalog(), full=True)  # a rebuild keeps them
        container.catalog().clear()
        sync(container.store(), container.catalog())
        check()
