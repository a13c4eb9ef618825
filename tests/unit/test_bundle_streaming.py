"""A large run's series are formatted when written, not held as text (issue 36): the same
bytes in the same order as a small run's bundle, on every store, with one series' text
alive at a time."""

from __future__ import annotations

import pytest

from flowtime.adapters.stores.file import FileArtifactStore
from flowtime.adapters.stores.memory import MemoryArtifactStore
from flowtime.domain.artifacts import bundle as bundle_module
from flowtime.domain.runs import RunRequest
from flowtime.domain.services.orchestration import RunOrchestrationService
from tests.conftest import CountingRandom, StepClock

REQUESTS = [RunRequest("it-system", run_id="r1", seed=7),
            RunRequest("transit-classes", run_id="r2", seed=7)]  # with class series


def _published(store, shipped_source, monkeypatch, threshold: int) -> dict[str, dict[str, bytes]]:
    monkeypatch.setattr(bundle_module, "STREAM_ABOVE_CELLS", threshold)
    service = RunOrchestrationService(shipped_source, store, StepClock(), random=CountingRandom())
    out = {}
    for request in REQUESTS:
        service.create_run(request)
        files = store.read_many(request.run_id)
        out[request.run_id] = {path: files.data[path] for path in files.files}
    return out


@pytest.mark.parametrize("make_store", [MemoryArtifactStore, "file"])
def test_a_streamed_bundle_is_the_same_bytes_as_a_held_one(tmp_path, shipped_source,
                                                           monkeypatch, make_store):
    def store(name):
        if make_store == "file":
            return FileArtifactStore(tmp_path / name, durable=False)
        return make_store()

    held = _published(store("held"), shipped_source, monkeypatch, threshold=10**12)
    calls = _counting(monkeypatch)
    streamed = _published(store("streamed"), shipped_source, monkeypatch, threshold=0)
    assert held == streamed
    # each series formatted once, as the store wrote it
    assert len(calls) == sum(path.endswith(".csv") for run in held.values() for path in run)
    assert any(path.startswith("series/") and "@" in path.split("@", 1)[1]
               for path in held["r2"])  # class series were part of it


def _counting(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = bundle_module.series_csv
    monkeypatch.setattr(bundle_module, "series_csv",
                        lambda values: calls.append(len(values)) or real(values))
    return calls


def _documents(hashes):
    return bundle_module.BundleDocuments(None, None, None, None, None,  # type: ignore[arg-type]
                                         {path: repr(sorted(hashes.items())).encode()
                                          for path in bundle_module.DOCUMENT_PATHS})


def test_a_store_writing_in_order_formats_each_series_once(monkeypatch):
    """Read in order (as every store writes), each series is formatted once and the
    documents are made when reached, naming every series' hash."""
    import numpy as np

    from flowtime.domain.artifacts.hashing import sha256_bytes

    calls = _counting(monkeypatch)
    made = []
    files = bundle_module.BundleFiles(
        {"a.yaml": b"a"}, {"series/x.csv": np.array([1.0, 2.5]), "series/y.csv": np.ones(3)},
        lambda hashes: made.append(dict(hashes)) or _documents(hashes))
    assert list(files) == ["a.yaml", "series/x.csv", "series/y.csv",
                           *bundle_module.DOCUMENT_PATHS] and len(files) == 10
    written = {path: files[path] for path in files}
    assert calls == [2, 3] and len(made) == 1
    assert written["series/x.csv"] == b"t,value\n0,1\n1,2.5\n"
    assert made[0] == {"series/x.csv": sha256_bytes(b"t,value\n0,1\n1,2.5\n"),
                       "series/y.csv": sha256_bytes(b"t,value\n0,1\n1,1\n2,1\n")}
    assert "run.json" in files and "series/y.csv" in files and "nope" not in files
    with pytest.raises(KeyError):
        files["nope"]


def test_documents_asked_first_format_the_series_for_their_hashes(monkeypatch):
    """Documents asked for before the series were read (a caller reading bundle.run first)
    still name every hash; the series read afterwards are formatted again (nothing kept)."""
    import numpy as np

    calls = _counting(monkeypatch)
    files = bundle_module.BundleFiles({}, {"series/x.csv": np.array([1.0, 2.5])}, _documents)
    first = files["run.json"]
    assert calls == [2]
    assert files["series/x.csv"] == b"t,value\n0,1\n1,2.5\n" and calls == [2, 2]
    assert files["run.json"] == first  # made once


@pytest.mark.parametrize("make_store", [MemoryArtifactStore, "file"])
def test_a_streamed_bundle_that_fails_its_check_is_not_published(tmp_path, shipped_source,
                                                                 monkeypatch, make_store):
    """The schema check of a large run's documents runs while the store writes: failing,
    it leaves no run and no staged files behind."""
    import msgspec

    from flowtime.domain.errors import ErrorKind, FlowTimeError

    monkeypatch.setattr(bundle_module, "STREAM_ABOVE_CELLS", 0)
    real = bundle_module.build_bundle

    def broken(data, check):
        def check_a_broken_manifest(documents):
            bad = msgspec.structs.replace(documents.manifest, schema_version=2)
            check(msgspec.structs.replace(documents, manifest=bad))
        return real(data, check_a_broken_manifest)

    monkeypatch.setattr("flowtime.domain.services.orchestration.build_bundle", broken)
    store = (FileArtifactStore(tmp_path / "s", durable=False) if make_store == "file"
             else make_store())
    service = RunOrchestrationService(shipped_source, store, StepClock(), random=CountingRandom())
    with pytest.raises(FlowTimeError) as info:
        service.create_run(RunRequest("it-system", run_id="broken"))
    assert info.value.kind is ErrorKind.INTERNAL
    assert [p.loc for p in info.value.problems] == ["manifest.json.schemaVersion"]
    assert not store.exists("broken")
    if make_store == "file":
        assert list((tmp_path / "s").rglob("*.csv")) == []
