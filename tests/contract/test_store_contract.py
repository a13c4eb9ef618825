"""One conformance suite every ArtifactStore adapter must pass."""

from __future__ import annotations

import threading

import pytest

from flowtime.adapters.stores.file import FileArtifactStore
from flowtime.adapters.stores.memory import MemoryArtifactStore
from flowtime.domain.errors import ErrorKind, FlowTimeError
from flowtime.domain.runs import RunFilter, RunSummary


def summary(run_id: str, created: str = "2026-01-01T00:00:00Z", mode: str = "simulation",
            template: str = "t", warnings: int = 0) -> RunSummary:
    return RunSummary(run_id, template, "T", "1.0.0", mode, created, warnings)


def bundle(marker: str = "a") -> dict[str, bytes]:
    return {"run.json": f'{{"m": "{marker}"}}'.encode(), "series/x.csv": b"t,value\n0,1\n",
            "model/model.yaml": b"a: 1\n"}


@pytest.fixture(params=["file", "memory", "s3"])
def store(request, tmp_path):
    if request.param == "file":
        return FileArtifactStore(tmp_path / "store")
    if request.param == "s3":
        from flowtime.adapters.stores.s3 import S3ArtifactStore

        return S3ArtifactStore.from_url(request.getfixturevalue("s3_url"))
    return MemoryArtifactStore()


def test_publish_then_read_exists_and_list_files(store):
    store.publish("r1", bundle(), summary("r1"), overwrite=False)
    assert store.exists("r1") and not store.exists("r2")
    assert store.read("r1", "series/x.csv") == b"t,value\n0,1\n"
    assert store.list_files("r1") == ["model/model.yaml", "run.json", "series/x.csv"]


def test_unknown_run_or_file_is_not_found(store):
    store.publish("r1", bundle(), summary("r1"), overwrite=False)
    for run_id, path in (("nope", "run.json"), ("r1", "missing.json")):
        with pytest.raises(FlowTimeError) as info:
            store.read(run_id, path)
        assert info.value.kind is ErrorKind.NOT_FOUND


def test_read_many_gives_one_version_of_the_asked_files_and_follows_overwrites(store):
    store.publish("r1", bundle("a"), summary("r1"), overwrite=False)
    found = store.read_many("r1", ["run.json", "series/x.csv", "nope.json", "run.json"])
    assert found.files == ["model/model.yaml", "run.json", "series/x.csv"]
    assert found.data == {"run.json": b'{"m": "a"}', "series/x.csv": b"t,value\n0,1\n"}
    assert store.read_many("r1").data == bundle("a")  # every file
    assert store.read("r1", "run.json") == b'{"m": "a"}'  # (now cached where it caches)
    store.publish("r1", bundle("b"), summary("r1"), overwrite=True)
    assert store.read_many("r1", ["run.json"]).data == {"run.json": b'{"m": "b"}'}
    assert store.read("r1", "run.json") == b'{"m": "b"}'  # never the replaced bytes
    assert store.read_many("r1", ["run.json"], fresh=True).data["run.json"] == b'{"m": "b"}'
    with pytest.raises(FlowTimeError) as info:
        store.read_many("r1", ["../r2/run.json"])
    assert info.value.kind is ErrorKind.INVALID
    store.delete("r1")
    with pytest.raises(FlowTimeError) as info:
        store.read_many("r1", ["run.json"])
    assert info.value.kind is ErrorKind.NOT_FOUND


def test_existing_id_conflicts_and_overwrite_replaces(store):
    store.publish("r1", bundle("a"), summary("r1"), overwrite=False)
    with pytest.raises(FlowTimeError) as info:
        store.publish("r1", bundle("b"), summary("r1"), overwrite=False)
    assert info.value.kind is ErrorKind.CONFLICT
    assert store.read("r1", "run.json") == b'{"m": "a"}'
    store.publish("r1", bundle("b"), summary("r1"), overwrite=True)
    assert store.read("r1", "run.json") == b'{"m": "b"}'


@pytest.mark.parametrize("path", ["../r2/run.json", "/etc/passwd", "series/../../x", "a\\b",
                                  ".summary.json", "series/\x00", "", "./run.json"])
def test_paths_escaping_the_bundle_are_refused(store, path):
    store.publish("r1", bundle(), summary("r1"), overwrite=False)
    with pytest.raises(FlowTimeError) as info:
        store.read("r1", path)
    assert info.value.kind is ErrorKind.INVALID


@pytest.mark.parametrize("run_id", ["..", "../x", "a/b", "", "x" * 200, "é", ".hidden", "a\x00"])
def test_bad_run_ids_are_refused(store, run_id):
    with pytest.raises(FlowTimeError) as info:
        store.publish(run_id, bundle(), summary("r"), overwrite=False)
    assert info.value.kind is ErrorKind.INVALID


def test_listing_filters_pages_and_orders_newest_first(store):
    for i in range(5):
        store.publish(f"r{i}", bundle(), summary(
            f"r{i}", created=f"2026-01-0{i + 1}T00:00:00Z", mode="telemetry" if i % 2 else
            "simulation", template="a" if i < 3 else "b", warnings=i % 3), overwrite=False)
    page = store.list_runs(RunFilter(), 1, 2)
    assert [s.run_id for s in page.items] == ["r4", "r3"] and page.total_count == 5
    assert [s.run_id for s in store.list_runs(RunFilter(), 2, 2).items] == ["r2", "r1"]
    assert {s.run_id for s in store.list_runs(RunFilter(mode="telemetry"), 1, 10).items} == {
        "r1", "r3"}
    assert {s.run_id for s in store.list_runs(RunFilter(template_id="b"), 1, 10).items} == {
        "r3", "r4"}
    assert {s.run_id for s in store.list_runs(RunFilter(has_warnings=False), 1, 10).items} == {
        "r0", "r3"}


def test_delete_removes_the_run(store):
    store.publish("r1", bundle(), summary("r1"), overwrite=False)
    store.delete("r1")
    assert not store.exists("r1")
    assert store.list_runs(RunFilter(), 1, 10).total_count == 0
    with pytest.raises(FlowTimeError) as info:
        store.delete("r1")
    assert info.value.kind is ErrorKind.NOT_FOUND


def test_concurrent_publish_of_the_same_id_has_exactly_one_winner(store):
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            store.publish("race", bundle(str(i)), summary("race"), overwrite=False)
            outcomes.append("won")
        except FlowTimeError as exc:
            outcomes.append(exc.kind.value)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1
    assert outcomes.count("conflict") == 7


def test_run_ids_walk_every_published_run(store):
    assert store.run_ids() == []
    for run_id in ("b2", "a1", "c.3"):
        store.publish(run_id, bundle(), summary(run_id), overwrite=False)
    store.delete("b2")
    assert store.run_ids() == ["a1", "c.3"]


def test_concurrent_overwrites_all_succeed_and_the_last_writer_wins(store):
    """Both stores: every overwrite is accepted; afterwards exactly one whole bundle (one
    of the writers') is published and readable."""
    store.publish("hot", bundle("0"), summary("hot"), overwrite=False)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            store.publish("hot", bundle(str(i)), summary("hot"), overwrite=True)
            outcomes.append("ok")
        except FlowTimeError as exc:
            outcomes.append(exc.kind.value)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == ["ok"] * 8
    assert store.read("hot", "run.json") in {bundle(str(i))["run.json"] for i in range(1, 9)}
    assert store.read("hot", "series/x.csv") == b"t,value\n0,1\n"
    assert store.run_ids() == ["hot"]


def test_records_are_written_read_listed_and_replaced(store):
    assert store.list_records("analyses") == []
    store.write_record("analyses", "analysis_a1", b'{"v": 1}')
    store.write_record("analyses", "analysis_b2", b'{"v": 2}')
    assert store.read_record("analyses", "analysis_a1") == b'{"v": 1}'
    assert store.list_records("analyses") == ["analysis_a1", "analysis_b2"]
    store.write_record("analyses", "analysis_a1", b'{"v": 3}')  # replaced as a whole
    assert store.read_record("analyses", "analysis_a1") == b'{"v": 3}'
    with pytest.raises(FlowTimeError) as missing:
        store.read_record("analyses", "analysis_nope")
    assert missing.value.kind == "not_found"
    for kind, record_id in (("runs", "x"), ("analyses", "../x"), ("analyses", "")):
        with pytest.raises(FlowTimeError) as bad:
            store.write_record(kind, record_id, b"{}")
        assert bad.value.kind == "invalid"
    store.delete_record("analyses", "analysis_a1")
    store.delete_record("analyses", "analysis_a1")  # gone already: fine
    assert store.list_records("analyses") == ["analysis_b2"]


def test_one_run_summary_comes_back_with_its_parameters_and_sweep(store):
    kept = RunSummary("r1", "t", "T", "1.0.0", "simulation", "2026-01-01T00:00:00Z", 1,
                      {"capacity": 40, "profile": [1, 2]}, {}, "sweep_x")
    store.publish("r1", bundle(), kept, overwrite=False)
    assert store.summary("r1") == kept
    with pytest.raises(FlowTimeError) as info:
        store.summary("r2")
    assert info.value.kind is ErrorKind.NOT_FOUND


def test_a_sweep_claim_has_exactly_one_winner(store):
    """Replicas race to create the same claim: the store lets exactly one create it."""
    import threading

    barrier = threading.Barrier(8)
    wins: list[bool] = []

    def claim(k: int) -> None:
        barrier.wait()
        wins.append(store.claim_sweep_file("sweep_race", "claims/new.json", f"{k}".encode()))

    threads = [threading.Thread(target=claim, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]
    winner = store.read_sweep_file("sweep_race", "claims/new.json")
    assert winner in {f"{k}".encode() for k in range(8)}
    assert store.claim_sweep_file("sweep_race", "claims/new.json", b"late") is False
    assert store.read_sweep_file("sweep_race", "claims/new.json") == winner
