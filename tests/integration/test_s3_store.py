"""The S3 adapter against a real SeaweedFS server, through the container and the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from flowtime.adapters.cli.main import cli
from flowtime.adapters.stores.s3 import S3ArtifactStore
from flowtime.container import Settings, build_container, open_store
from flowtime.domain.errors import ErrorKind, FlowTimeError
from flowtime.domain.runs import RunFilter, RunRequest, RunSummary
from flowtime.domain.views.queries import RunQueryService


def test_unknown_scheme_lists_installed_plugins():
    with pytest.raises(FlowTimeError) as info:
        open_store("ftp://somewhere/x")
    message = str(info.value.problems[0])
    assert "no store plugin for 'ftp://'" in message
    for scheme in ("file", "memory", "s3"):
        assert scheme in message


def test_container_picks_the_s3_adapter_by_scheme(s3_url):
    container = build_container(Settings.from_env({"FLOWTIME_STORE": s3_url}))
    assert isinstance(container.store(), S3ArtifactStore)
    result = container.orchestration().create_run(RunRequest("it-system"))
    queries: RunQueryService = container.queries()
    assert queries.get_run(result.record.run_id).artifacts.series_count == 23
    state = queries.state(result.record.run_id, 2)
    assert [n.id for n in state.nodes] == ["OrderApi", "Billing", "FailedOrders"]
    assert result.record.storage.model_path.startswith("s3://flowtime-test/")
    page = queries.list_runs(RunFilter(template_id="it-system"))
    assert [s.run_id for s in page.items] == [result.record.run_id]


def test_cli_run_and_list_against_s3(s3_url):
    runner = CliRunner()
    created = runner.invoke(cli, ["run", "--template-id", "supply-chain", "--store", s3_url,
                                  "--deterministic-run-id", "--json"])
    assert created.exit_code == 0, created.output
    run_id = json.loads(created.output)["metadata"]["runId"]
    again = runner.invoke(cli, ["run", "--template-id", "supply-chain", "--store", s3_url,
                                "--deterministic-run-id", "--json"])
    assert json.loads(again.output)["reused"] is True
    listed = runner.invoke(cli, ["runs", "list", "--store", s3_url, "--json"])
    assert [i["runId"] for i in json.loads(listed.output)["items"]] == [run_id]


def _objects(store: S3ArtifactStore) -> list[str]:
    response = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    return [o["Key"] for o in response.get("Contents", [])]


def test_a_failed_publish_leaves_no_run_and_no_objects(s3_url, monkeypatch):
    store = S3ArtifactStore.from_url(s3_url)
    real_put = store.client.put_object

    def put(**kwargs):
        if kwargs["Key"].endswith("series/b.csv"):
            raise OSError("connection dropped")
        return real_put(**kwargs)

    monkeypatch.setattr(store.client, "put_object", put)
    summary = RunSummary("r1", "t", "T", "1", "simulation", "2026-01-01T00:00:00Z", 0)
    with pytest.raises(OSError):
        store.publish("r1", {"series/a.csv": b"1", "series/b.csv": b"2"}, summary,
                      overwrite=False)
    assert not store.exists("r1")
    assert _objects(store) == []


def test_objects_without_a_commit_are_not_a_run(s3_url):
    store = S3ArtifactStore.from_url(s3_url)
    store.client.put_object(Bucket=store.bucket, Key=store._data_key("ghost", "g1", "run.json"),
                            Body=b"{}")
    assert not store.exists("ghost")
    assert store.list_runs(RunFilter(), 1, 10).total_count == 0
    with pytest.raises(FlowTimeError) as info:
        store.read("ghost", "run.json")
    assert info.value.kind is ErrorKind.NOT_FOUND


def test_overwrite_removes_the_old_generation(s3_url):
    store = S3ArtifactStore.from_url(s3_url)
    summary = RunSummary("r1", "t", "T", "1", "simulation", "2026-01-01T00:00:00Z", 0)
    store.publish("r1", {"a.txt": b"old"}, summary, overwrite=False)
    store.publish("r1", {"a.txt": b"new"}, summary, overwrite=True)
    assert store.read("r1", "a.txt") == b"new"
    data_keys = [k for k in _objects(store) if "/data/" in k]
    assert len(data_keys) == 1


def test_unreachable_endpoint_is_unavailable_not_a_crash():
    store = S3ArtifactStore.from_url("s3://b/p?endpoint_url=http://127.0.0.1:9")
    with pytest.raises(FlowTimeError) as info:
        store.check()
    assert info.value.kind is ErrorKind.UNAVAILABLE


def test_gc_removes_only_old_uncommitted_generations(s3_url):
    store = S3ArtifactStore.from_url(s3_url)
    summary = RunSummary("kept", "t", "T", "1", "simulation", "2026-01-01T00:00:00Z", 0)
    store.publish("kept", {"a.txt": b"1"}, summary, overwrite=False)
    orphan = store._data_key("ghost", "g1", "run.json")
    store.client.put_object(Bucket=store.bucket, Key=orphan, Body=b"{}")
    assert store.clean_debris(older_than_seconds=3600) == 0  # too young: maybe in flight
    assert store.clean_debris(older_than_seconds=0) == 1
    keys = _objects(store)
    assert orphan not in keys
    assert store.read("kept", "a.txt") == b"1"
