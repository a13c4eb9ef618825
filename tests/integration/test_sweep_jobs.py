"""Sweeps as job records in the store: queued behind a per-server limit, cancelled from
any process (CLI or another replica) through the store, followed with `sweep watch`."""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from benchmarks.server import running_server
from flowtime.adapters.cli.main import cli
from flowtime.adapters.http.app import create_app
from flowtime.container import Settings, build_container
from tests.integration.test_sweeps import PMF_TEMPLATE, templates  # noqa: F401 (fixture)

BIG = {"templateId": "mc-pmf", "samples": 3000, "seed": 11}
# the cancel test's sweep: too long to finish within the 2 s a cancel request may take to
# be seen, even where batches run 3,000 points in under two seconds
HUGE = {**BIG, "samples": 20_000}  # the server's default cap (FLOWTIME_MAX_SWEEP_POINTS)


def settings_for(store: str, templates, **extra: str) -> Settings:  # noqa: F811
    return Settings.from_env({"FLOWTIME_STORE": store, "FLOWTIME_TEMPLATES_DIR": str(templates),
                              "FLOWTIME_SWEEP_WORKERS": "1", "FLOWTIME_FSYNC": "0", **extra})


def wait_for(client, location: str, until, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(location).json()
        if until(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def test_the_record_names_its_driver_and_a_cli_cancel_reaches_it(tmp_path, templates):  # noqa: F811
    store = f"file://{tmp_path / 'store'}"
    with TestClient(create_app(build_container(settings_for(store, templates)))) as client:
        location = client.post("/v1/sweeps", json=HUGE).headers["location"]
        sweep_id = location.rsplit("/", 1)[1]
        running = wait_for(client, location, lambda b: b["progress"]["done"] >= 5)
        assert running["status"] == "running"
        assert running["owner"]["role"] == "server" and running["owner"]["pid"] == os.getpid()
        assert running["heartbeatUtc"]
        # the CLI knows nothing of this server: it asks through the store
        asked = CliRunner().invoke(cli, ["sweep", "cancel", sweep_id, "--store", store, "--json"])
        assert asked.exit_code == 0, asked.output
        assert json.loads(asked.output)["cancelRequested"] is True
        ended = wait_for(client, location, lambda b: b["status"] not in ("queued", "running"))
        assert ended["status"] == "cancelled" and ended["progress"]["done"] < HUGE["samples"]
        assert ended["finishedUtc"]
        # a cancelled sweep resumes when posted again; the old cancel request does not stop it
        client.post("/v1/sweeps", json=HUGE)
        wait_for(client, location, lambda b: b["owner"]["attempt"] != ended["owner"]["attempt"]
                 and b["status"] in ("running", "succeeded"))
        time.sleep(2.5)  # more than a heartbeat (2 s): a stale cancel request is seen by now
        resumed = client.get(location).json()
        assert resumed["status"] in ("running", "succeeded"), resumed  # not cancelled
        if resumed["status"] == "running":  # (a fast machine may finish)
            client.delete(location)  # the new attempt is cancelled by a new request
            resumed = wait_for(client, location, lambda b: b["status"] == "cancelled")
        else:
            assert resumed["progress"]["reused"] >= ended["progress"]["created"]
            assert resumed["progress"]["created"] + resumed["progress"]["reused"] == HUGE["samples"]
    again = CliRunner().invoke(cli, ["sweep", "cancel", sweep_id, "--store", store])
    assert again.exit_code == 0 and "nothing to cancel" in again.output


def test_a_server_runs_at_most_its_limit_of_sweeps_and_queues_the_rest(tmp_path, templates):  # noqa: F811
    store = f"file://{tmp_path / 'store'}"
    container = build_container(settings_for(store, templates,
                                             FLOWTIME_MAX_CONCURRENT_SWEEPS="1"))
    with TestClient(create_app(container)) as client:
        first = client.post("/v1/sweeps", json=BIG).headers["location"]
        # the first holds the one slot before the second arrives (posted together, either
        # driver thread could take it first)
        wait_for(client, first, lambda b: b["status"] == "running")
        second = client.post("/v1/sweeps", json={"templateId": "transport-hub",
                                                  "grid": {"busSeats": [60, 80]}})
        assert second.status_code == 202
        assert client.get(second.headers["location"]).json()["status"] == "queued"
        listed = client.get("/v1/sweeps", params={"status": "queued"}).json()
        assert [i["sweepId"] for i in listed["items"]] == [second.json()["sweepId"]]
        client.delete(first)  # the slot frees: the queued one runs and finishes
        done = wait_for(client, second.headers["location"], lambda b: b["status"] == "succeeded")
        assert done["progress"]["created"] == 2
        page = client.get("/v1/sweeps", params={"pageSize": 1}).json()
        assert (page["totalCount"], page["pageSize"], len(page["items"])) == (2, 1, 1)
        assert client.get("/v1/sweeps", params={"status": "done"}).status_code == 400


def test_sweep_watch_follows_a_sweep_to_its_end(tmp_path, templates):  # noqa: F811
    store = f"file://{tmp_path / 'store'}"
    with TestClient(create_app(build_container(settings_for(store, templates)))) as client:
        location = client.post("/v1/sweeps", json={"templateId": "mc-pmf", "samples": 40,
                                                   "seed": 2}).headers["location"]
        sweep_id = location.rsplit("/", 1)[1]
        watched = CliRunner().invoke(cli, ["sweep", "watch", sweep_id, "--store", store,
                                           "--interval", "0.2", "--json"])
        assert watched.exit_code == 0, watched.output
        final = json.loads(watched.output)
        assert final["status"] == "succeeded" and final["progress"]["created"] == 40
    unknown = CliRunner().invoke(cli, ["sweep", "watch", "sweep_nope", "--store", store])
    assert unknown.exit_code == 2 and "not found" in unknown.output  # the not_found exit code


def test_the_cli_will_not_drive_a_sweep_another_live_process_drives(tmp_path, templates):  # noqa: F811
    store = f"file://{tmp_path / 'store'}"
    with TestClient(create_app(build_container(settings_for(store, templates)))) as client:
        location = client.post("/v1/sweeps", json=BIG).headers["location"]
        wait_for(client, location, lambda b: b["status"] == "running")
        refused = CliRunner().invoke(cli, ["sweep", "--template-id", "mc-pmf", "--samples",
                                           "3000", "--seed", "11", "--store", store,
                                           "--templates", str(templates)])
        assert refused.exit_code == 1
        assert "sweep watch" in refused.output and "server process" in refused.output
        client.delete(location)
        wait_for(client, location, lambda b: b["status"] == "cancelled")


@pytest.mark.slow
def test_two_servers_over_one_s3_store_share_sweep_status_and_cancel(s3_url, templates):  # noqa: F811
    env = {"FLOWTIME_STORE": s3_url, "FLOWTIME_TEMPLATES_DIR": str(templates),
           "FLOWTIME_SWEEP_WORKERS": "1"}
    with running_server(env) as a, running_server(env) as b:
        accepted = httpx.post(f"{a}/v1/sweeps", json=BIG, timeout=30)
        assert accepted.status_code == 202
        path = accepted.headers["location"]
        seen = wait_for(httpx, f"{b}{path}", lambda body: body["progress"]["done"] >= 3)
        assert seen["status"] == "running" and seen["owner"]["role"] == "server"
        # B does not start a second copy of a sweep A drives
        echoed = httpx.post(f"{b}/v1/sweeps", json=BIG, timeout=30)
        assert echoed.status_code == 202 and echoed.json()["status"] == "running"
        assert httpx.get(f"{a}{path}").json()["owner"] == seen["owner"]
        # cancel through B: A stops within a heartbeat, both read the same record
        assert httpx.delete(f"{b}{path}").status_code == 202
        ended = wait_for(httpx, f"{a}{path}", lambda body: body["status"] == "cancelled", 60)
        assert httpx.get(f"{b}{path}").json() == httpx.get(f"{a}{path}").json()
        assert ended["progress"]["done"] < 3000


def test_a_sweep_exports_as_one_table_with_a_column_per_parameter(tmp_path, templates):  # noqa: F811
    import duckdb
    import pyarrow.parquet as pq

    store = f"file://{tmp_path / 'store'}"
    container = build_container(settings_for(store, templates))
    from flowtime.domain.services.sweeps import SweepRequest

    summary = container.sweeps().run(SweepRequest(
        "it-system", grid={"billingCapacity": [30, 45], "errorRate": [0.01, 0.1]}))
    runner = CliRunner()
    out = tmp_path / "sweep.parquet"
    written = runner.invoke(cli, ["sweep", "export", summary.sweep_id, "--format", "parquet",
                                  "--out", str(out), "--store", store])
    assert written.exit_code == 0, written.output
    table = pq.read_table(out)
    assert table.schema.metadata[b"flowtime.sweepId"] == summary.sweep_id.encode()
    assert table.column("param.billingCapacity").to_pylist() == [30, 30, 45, 45]
    assert table.column("param.errorRate").to_pylist() == [0.01, 0.1, 0.01, 0.1]
    # the aggregates are the runs' own numbers: the mean of a series read back from its run
    first = summary.runs[0]
    series = container.queries().series(first.run_id).by_series_id()
    name = next(iter(first.aggregates))
    assert name.endswith("@DEFAULT")
    # columns by the series' name (docs/python.md: `<series>.mean`), not its bundle id
    label = name.split("@")[0]
    assert table.column(f"{label}.mean").to_pylist()[0] == float(series[name].mean())
    assert not [c for c in table.column_names if "@DEFAULT" in c]
    # DuckDB queries the file directly
    found = duckdb.sql(f"SELECT runId FROM '{out}' WHERE \"param.billingCapacity\" = 45 "
                       "AND \"param.errorRate\" = 0.1").fetchall()
    assert found == [(summary.runs[3].run_id,)]
    # the same table as CSV from the HTTP API
    with TestClient(create_app(container)) as client:
        response = client.get(f"/v1/sweeps/{summary.sweep_id}/export")
        assert response.headers["content-type"].startswith("text/csv")
        header = response.text.splitlines()[0].split(",")
        assert header[:6] == ["index", "runId", "status", "seed", "param.billingCapacity",
                              "param.errorRate"]
        assert client.get(f"/v1/sweeps/{summary.sweep_id}/export",
                          params={"format": "xlsx"}).status_code == 400
        assert client.get("/v1/sweeps/sweep_none/export").status_code == 404


def test_bands_are_named_by_cell_parameters_and_match_the_member_runs(tmp_path, templates):  # noqa: F811
    import numpy as np

    from flowtime.domain.services.sweeps import SweepRequest

    container = build_container(settings_for(f"file://{tmp_path / 'store'}", templates,
                                             FLOWTIME_SWEEP_WORKERS="2"))
    summary = container.sweeps().run(SweepRequest(
        "it-system", grid={"billingCapacity": [40, 60]}, samples=12, seed=3))
    with TestClient(create_app(container)) as client:
        base = f"/v1/sweeps/{summary.sweep_id}/bands"
        listing = client.get(base).json()
        assert [c["parameters"]["billingCapacity"] for c in listing["cells"]] == [40, 60]
        assert "billingBacklog" in listing["series"]
        by_name = client.get(base, params={"series": "billingBacklog",
                                           "cell": "billingCapacity:60"}).json()
        by_number = client.get(base, params={"series": "billingBacklog", "cell": "1"}).json()
        assert by_name == by_number and by_name["cell"]["parameters"] == {"billingCapacity": 60}
        # the same quantiles computed here from the stored member runs of that cell
        members = [r.run_id for r in summary.runs if r.parameters["billingCapacity"] == 60]
        matrix = np.array([container.queries().series(run_id).by_node()["billingBacklog"]
                           for run_id in members])
        for name, q in (("p5", 5), ("p50", 50), ("p95", 95)):
            assert by_name[name] == pytest.approx(np.percentile(matrix, q, axis=0).tolist(),
                                                  abs=1e-9)
        assert client.get(base, params={"series": "billingBacklog"}).status_code == 400
        assert client.get(base, params={"series": "nope", "cell": "0"}).status_code == 404
        assert client.get(base, params={"series": "billingBacklog",
                                        "cell": "billingCapacity:99"}).status_code == 404


@pytest.mark.slow
def test_a_killed_driver_on_this_machine_reads_interrupted_at_once(tmp_path, templates):  # noqa: F811
    import json as jsonlib
    import signal
    import subprocess
    import sys

    store = tmp_path / "store"
    env = {**os.environ, "FLOWTIME_STORE": f"file://{store}", "FLOWTIME_FSYNC": "0",
           "FLOWTIME_TEMPLATES_DIR": str(templates)}
    driver = subprocess.Popen(
        [sys.executable, "-m", "flowtime.adapters.cli.main", "sweep", "--template-id", "mc-pmf",
         "--samples", "3000", "--seed", "5", "--workers", "1", "--json"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        record = None
        while record is None or record["progress"]["done"] < 5:
            assert time.monotonic() < deadline and driver.poll() is None
            time.sleep(0.2)
            found = list(store.glob("sweeps/*/sweep.json"))
            record = jsonlib.loads(found[0].read_text()) if found else None
        os.killpg(driver.pid, signal.SIGKILL)  # no chance to say goodbye
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    service = build_container(settings_for(f"file://{store}", templates)).sweeps()
    # the record still says running, but its driver is gone: no two-minute wait
    assert jsonlib.loads(found[0].read_text())["status"] == "running"
    assert service.get(record["sweepId"]).status == "interrupted"
    # FLOWTIME_SWEEP_RESUME=auto: a live server finds it and resumes it (issue 43); the
    # points the killed driver finished are reused, none is made twice
    app = create_app(build_container(settings_for(
        f"file://{store}", templates, FLOWTIME_SWEEP_RESUME="auto",
        FLOWTIME_SWEEP_RESUME_SECONDS="0.2")))
    with TestClient(app) as client:
        done = wait_for(client, f"/v1/sweeps/{record['sweepId']}",
                        lambda b: b["status"] in ("succeeded", "failed"))
    assert done["status"] == "succeeded" and done["owner"]["role"] == "server"
    progress = done["progress"]
    assert progress["reused"] >= record["progress"]["done"]
    assert progress["created"] + progress["reused"] == 3000


@pytest.mark.slow
def test_http_sweeps_on_dask_progress_cancel_and_resume(tmp_path, templates):  # noqa: F811
    store = f"file://{tmp_path / 'store'}"
    container = build_container(settings_for(store, templates, FLOWTIME_EXECUTOR="dask"))
    with TestClient(create_app(container)) as client:
        location = client.post("/v1/sweeps", json=BIG).headers["location"]
        running = wait_for(client, location, lambda b: b["progress"]["done"] >= 10, 180)
        assert running["executor"] == "dask" and running["status"] == "running"
        client.delete(location)
        ended = wait_for(client, location, lambda b: b["status"] not in ("queued", "running"))
        assert ended["status"] == "cancelled" and ended["progress"]["done"] < 3000
        made = ended["progress"]["created"]
        runs_after = client.get("/v1/runs", params={"pageSize": 1,
                                                    "sweepMembers": "only"}).json()["totalCount"]
        time.sleep(1.0)  # nothing more lands once it says cancelled
        assert client.get("/v1/runs", params={"pageSize": 1, "sweepMembers": "only"}
                          ).json()["totalCount"] == runs_after
        # resume: finished points are reused, not computed again
        client.post("/v1/sweeps", json={**BIG, "samples": 60})  # a smaller sweep, same seeds
        small = wait_for(client, "/v1/sweeps/" + _sweep_id({**BIG, "samples": 60}),
                         lambda b: b["status"] == "succeeded", 180)
        assert small["progress"]["reused"] >= min(made, 60) and small["progress"]["total"] == 60


def _sweep_id(body: dict) -> str:
    from flowtime.domain.services.sweeps import SweepRequest

    return SweepRequest(body["templateId"], samples=body.get("samples"),
                        seed=body.get("seed")).sweep_id


def test_a_shutdown_of_an_earlier_app_does_not_mark_a_later_cancel_interrupted(tmp_path,
                                                                                templates):  # noqa: F811
    """stop_sweeps (server shutdown) flags the sweeps it stops; a later app in the same
    process driving the same sweep again must not inherit that flag: a user's cancel stays
    `cancelled`. Each app has its own supervisor, so the flag cannot leak at all."""
    store = f"file://{tmp_path / 'store'}"
    with TestClient(create_app(build_container(settings_for(store, templates)))) as client:
        client.app.state.sweeps.interrupted.add(_sweep_id(BIG))  # an earlier shutdown's flag
    with TestClient(create_app(build_container(settings_for(store, templates)))) as client:
        assert client.app.state.sweeps.interrupted == set()
        location = client.post("/v1/sweeps", json=BIG).headers["location"]
        wait_for(client, location, lambda b: b["progress"]["done"] >= 5)
        client.delete(location)
        ended = wait_for(client, location, lambda b: b["status"] not in ("queued", "running"))
        assert ended["status"] == "cancelled", ended["status"]
        assert _sweep_id(BIG) not in client.app.state.sweeps.interrupted


@pytest.mark.parametrize("attempt", range(3))
def test_two_replicas_posting_the_same_new_sweep_at_once_drive_it_once(
        tmp_path, templates, attempt):  # noqa: F811
    """Issue 43: two servers on one store receive the same new sweep at the same instant;
    exactly one claims and drives it, the other answers 202 following it (the claim itself
    is tested on every store, S3 included, in the store contract)."""
    import threading

    store = f"file://{tmp_path / 'store'}"
    body = {"templateId": "mc-pmf", "samples": 40, "seed": 5}
    apps = [create_app(build_container(settings_for(store, templates))) for _ in range(2)]
    with TestClient(apps[0]) as one, TestClient(apps[1]) as two:
        barrier = threading.Barrier(2)
        answers: list[httpx.Response] = []

        def post(client) -> None:
            barrier.wait()
            answers.append(client.post("/v1/sweeps", json=body))

        threads = [threading.Thread(target=post, args=(c,)) for c in (one, two)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [a.status_code for a in answers] == [202, 202]
        driving = [len(app.state.sweeps.running) for app in apps]
        assert sorted(driving) == [0, 1]  # one driver, whichever won the claim
        location = answers[0].headers["location"]
        done = wait_for(one, location, lambda b: b["status"] == "succeeded")
        assert done["progress"]["created"] == 40 and done["progress"]["reused"] == 0
        # the record is not rewritten by a second driver afterwards
        time.sleep(0.5)
        again = one.get(location).json()
        assert again["progress"] == done["progress"] and again["owner"] == done["owner"]
