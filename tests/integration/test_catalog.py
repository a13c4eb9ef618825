"""The run catalog wired in: listing and search read it, the store stays the truth, and a
crash between publish and catalog is repaired by `catalog sync` and by a fetch by id."""

from __future__ import annotations

import json
import multiprocessing
import signal

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from flowtime.adapters.cli.main import cli
from flowtime.adapters.http.app import create_app
from flowtime.adapters.stores import faults
from flowtime.container import Settings, build_container
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.runs import RunFilter, RunRequest

FORK = multiprocessing.get_context("fork")


def settings_for(folder) -> Settings:
    return Settings.from_env({"FLOWTIME_DATA_DIR": str(folder), "FLOWTIME_FSYNC": "0"})


def _create_and_die_before_the_catalog(folder, run_id: str) -> None:
    faults.arm("catalog.upsert")
    build_container(settings_for(folder)).orchestration().create_run(
        RunRequest("it-system", run_id=run_id))


def listed(container, **filters) -> list[str]:
    return [s.run_id for s in container.queries().list_runs(RunFilter(**filters), 1, 200).items]


def test_a_crash_between_publish_and_catalog_is_repaired_by_sync(tmp_path):
    container = build_container(settings_for(tmp_path))
    container.orchestration().create_run(RunRequest("it-system", run_id="before"))
    child = FORK.Process(target=_create_and_die_before_the_catalog, args=(tmp_path, "lost"))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL  # died exactly between the two steps
    assert container.store().exists("lost")  # the bundle is published …
    assert listed(container) == ["before"]  # … but the catalog never heard of it
    result = CliRunner().invoke(cli, ["catalog", "sync", "--store", f"file://{tmp_path}",
                                      "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["storedRuns"], report["written"], report["removed"]) == (2, 1, 0)
    assert sorted(listed(container)) == ["before", "lost"]


def test_fetching_a_run_by_id_repairs_its_catalog_row(tmp_path):
    container = build_container(settings_for(tmp_path))
    child = FORK.Process(target=_create_and_die_before_the_catalog, args=(tmp_path, "lost"))
    child.start()
    child.join(60)
    assert listed(container) == []
    assert container.queries().get_run("lost").run_id == "lost"
    assert listed(container) == ["lost"]


def test_sync_drops_rows_whose_bundle_is_gone_and_rebuild_gives_the_same_listing(tmp_path):
    container = build_container(settings_for(tmp_path))
    service = container.orchestration()
    for capacity in (30, 40, 50, 40):
        service.create_run(RunRequest("it-system", parameters={"billingCapacity": capacity},
                                      tags={"capacity": str(capacity)}))
    container.queries().tag_run(listed(container)[0], {"reviewed": "yes"})
    before = container.queries().list_runs(RunFilter(), 1, 200)
    # a run removed behind the catalog's back (another tool, an operator)
    victim = before.items[-1].run_id
    container.store().delete(victim)
    runner = CliRunner()
    synced = json.loads(runner.invoke(cli, ["catalog", "sync", "--store", f"file://{tmp_path}",
                                            "--json"]).output)
    assert (synced["removed"], synced["cataloged"]) == (1, 3)
    expected = [s for s in before.items if s.run_id != victim]
    assert container.queries().list_runs(RunFilter(), 1, 200).items == expected
    # rebuild from scratch: a new catalog file gives exactly the same listing and search
    (tmp_path / "catalog.sqlite").unlink()
    for leftover in tmp_path.glob("catalog.sqlite-*"):
        leftover.unlink()
    rebuilt = runner.invoke(cli, ["catalog", "rebuild", "--store", f"file://{tmp_path}",
                                  "--json"])
    assert json.loads(rebuilt.output)["cataloged"] == 3, rebuilt.output
    fresh = build_container(settings_for(tmp_path))
    assert fresh.queries().list_runs(RunFilter(), 1, 200).items == expected
    assert len(listed(fresh, parameters={"billingCapacity": "40"})) == len(
        [s for s in expected if s.parameters["billingCapacity"] == 40])
    assert listed(fresh, tags={"reviewed": "yes"}) == [expected[0].run_id]


def test_an_existing_store_without_a_catalog_is_cataloged_on_first_use(tmp_path):
    first = build_container(settings_for(tmp_path))
    first.orchestration().create_run(RunRequest("it-system", run_id="old-run"))
    first.catalog().close()
    for path in tmp_path.glob("catalog.sqlite*"):
        path.unlink()  # a data folder from before the catalog existed
    assert listed(build_container(settings_for(tmp_path))) == ["old-run"]


@pytest.fixture
def api(tmp_path):
    with TestClient(create_app(build_container(settings_for(tmp_path)))) as client:
        yield client


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["runId"] for item in response.json()["items"]]


def test_http_listing_filters_by_parameter_tag_sweep_and_time(api):
    made = {}
    for name, capacity, tags in (("a", 40, {"team": "ops"}), ("b", 40.0, {}),
                                 ("c", 55, {"team": "ops", "stage": "prod"})):
        response = api.post("/v1/runs", json={
            "templateId": "it-system", "parameters": {"billingCapacity": capacity},
            "options": {"runId": f"run-{name}", "tags": tags}})
        assert response.status_code == 201, response.text
        made[name] = response.json()
    swept = api.post("/v1/sweeps", json={"templateId": "transport-hub",
                                         "grid": {"busSeats": [60, 80]}})
    assert swept.status_code == 202
    sweep_id = swept.json()["sweepId"]
    _wait_for_sweep(api, swept.headers["location"])

    assert _ids(api.get("/v1/runs", params={"param.billingCapacity": "40"})) == ["run-b", "run-a"]
    assert _ids(api.get("/v1/runs", params={"param.billingCapacity": "55",
                                            "tag.stage": "prod"})) == ["run-c"]
    assert _ids(api.get("/v1/runs", params={"tag": "team:ops"})) == ["run-c", "run-a"]
    members = _ids(api.get("/v1/runs", params={"sweepId": sweep_id}))
    assert len(members) == 2
    everything = api.get("/v1/runs").json()
    assert everything["totalCount"] == 5
    assert {i["runId"] for i in everything["items"] if i["sweepId"] == sweep_id} == set(members)
    assert _ids(api.get("/v1/runs", params={"sweepMembers": "exclude"})) == [
        "run-c", "run-b", "run-a"]
    assert set(_ids(api.get("/v1/runs", params={"sweepMembers": "only"}))) == set(members)
    item = next(i for i in everything["items"] if i["runId"] == "run-c")
    assert item["parameters"]["billingCapacity"] == 55
    assert item["tags"] == {"stage": "prod", "team": "ops"}
    # a member run says which sweep made it
    assert api.get(f"/v1/runs/{members[0]}").json()["sweepId"] == sweep_id
    created = made["b"]["metadata"]["createdUtc"]
    assert "run-b" in _ids(api.get("/v1/runs", params={"createdFrom": created}))
    assert _ids(api.get("/v1/runs", params={"createdTo": "2000-01-01T00:00:00Z"})) == []
    assert _ids(api.get("/v1/runs", params={"createdFrom": "2000-01-01T01:00:00+01:00"})) != []
    # keyset paging over HTTP
    first = api.get("/v1/runs", params={"pageSize": 2, "sweepMembers": "exclude"}).json()
    second = api.get("/v1/runs", params={"pageSize": 2, "sweepMembers": "exclude",
                                         "cursor": first["nextCursor"]}).json()
    assert [i["runId"] for i in first["items"] + second["items"]] == ["run-c", "run-b", "run-a"]
    assert second["nextCursor"] is None


@pytest.mark.parametrize(("params", "loc"), [
    ({"sort": "size"}, "sort"),
    ({"createdFrom": "yesterday"}, "createdFrom"),
    ({"cursor": "###"}, "cursor"),
    ({"sweepMembers": "some"}, "sweepMembers"),
])
def test_http_listing_refuses_bad_filters_with_a_400(api, params, loc):
    response = api.get("/v1/runs", params=params)
    assert response.status_code == 400, response.text
    assert loc in response.text


def test_cli_lists_with_filters_and_hides_sweep_members_by_default(tmp_path):
    runner = CliRunner()
    store = ["--store", f"file://{tmp_path}"]
    env = {"FLOWTIME_FSYNC": "0"}
    for capacity in (40, 60):
        assert runner.invoke(cli, ["run", "--template-id", "it-system", "--param",
                                   f"billingCapacity={capacity}", *store], env=env).exit_code == 0
    swept = runner.invoke(cli, ["sweep", "--template-id", "transport-hub", "--grid",
                                "busSeats=60,80", "--workers", "1", *store, "--json"], env=env)
    assert swept.exit_code == 0, swept.output
    default = json.loads(runner.invoke(cli, ["runs", "list", *store, "--json"]).output)
    assert default["totalCount"] == 2 and all(i["sweepId"] is None for i in default["items"])
    members = json.loads(runner.invoke(cli, ["runs", "list", *store, "--json",
                                             "--sweep-members", "only"]).output)
    assert members["totalCount"] == 2
    found = json.loads(runner.invoke(cli, ["runs", "list", *store, "--json", "--param",
                                           "billingCapacity=60"]).output)
    assert [i["parameters"]["billingCapacity"] for i in found["items"]] == [60]
    table = runner.invoke(cli, ["runs", "list", *store, "--param", "billingCapacity=60"])
    assert "billingCapacity=60" in table.output
    bad = runner.invoke(cli, ["runs", "list", *store, "--param", "billingCapacity"])
    assert bad.exit_code != 0 and "name=value" in bad.output
    status = json.loads(runner.invoke(cli, ["catalog", "status", *store, "--json"]).output)
    assert status["runs"] == 4 and status["catalog"].endswith("catalog.sqlite")


def _wait_for_sweep(client, location: str) -> None:
    import time

    deadline = time.monotonic() + 120
    while client.get(location).json().get("status") != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_a_catalog_outage_keeps_runs_flowing_and_sync_catches_up(tmp_path):
    """PostgreSQL goes away under a working service: creating and reading runs go on,
    listing is a 503 naming the catalog, and once it is back a sync lists what was made."""
    from tests.postgres import start_postgres

    server = start_postgres(_pg_folder())
    try:
        env = {"FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0",
               "FLOWTIME_CATALOG": server.new_database()}
        container = build_container(Settings.from_env(env))
        service = container.orchestration()
        service.create_run(RunRequest("it-system", run_id="before"))
        server.stop()
        made = service.create_run(RunRequest("it-system", run_id="during"))
        assert made.created
        assert container.queries().get_run("during").run_id == "during"
        with pytest.raises(FlowTimeError) as down:
            container.queries().list_runs(RunFilter())
        assert down.value.kind == "unavailable" and "catalog" in down.value.detail
        # it names no host, port, user or database (issue 43): those go to the server log
        assert "postgres" not in str(down.value.problems[0]) and "127.0.0.1" not in \
            down.value.detail
        server.start()
        assert listed(container) == ["before"]  # the pool reconnects by itself
        from flowtime.domain.services.catalog import sync

        assert sync(container.store(), container.catalog()).added == 1
        assert listed(container) == ["during", "before"]
    finally:
        server.stop()


def _pg_folder():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="flowtime-pg-"))



def test_a_created_bound_with_a_fraction_compares_like_the_next_whole_second(tmp_path):
    """Runs are created on whole seconds: a bound of t+0.5 s keeps a run made at t out of
    `createdFrom` and in `createdTo`, whether it comes over HTTP or from the CLI/library."""
    container = build_container(settings_for(tmp_path))
    made = container.orchestration().create_run(RunRequest("it-system", run_id="r1")).record
    created = made.created_utc  # e.g. 2026-11-26T13:00:54Z
    half = created.replace("Z", ".5Z")
    assert listed(container, created_from=created) == ["r1"]
    assert listed(container, created_from=half) == []
    assert listed(container, created_to=half) == ["r1"]
    with TestClient(create_app(container)) as client:
        assert _ids(client.get("/v1/runs", params={"createdFrom": half})) == []
        assert _ids(client.get("/v1/runs", params={"createdTo": half})) == ["r1"]
