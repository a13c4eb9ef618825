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
    streamed = _published(store("streamed"), shipped_source, monkeypatch, threshold=0)
    assert held == streamed
    assert any(path.startswith("series/") and "@" in path.split("@", 1)[1]
               for path in held["r2"])  # class series were part of it


def test_bundle_files_format_each_series_when_read(monkeypatch):
    """Reading a streamed bundle's series formats it each time (nothing kept); documents are
    the bytes built; order, length and membership are the bundle's."""
    import numpy as np

    calls = []
    real = bundle_module.series_csv
    monkeypatch.setattr(bundle_module, "series_csv",
                        lambda values: calls.append(len(values)) or real(values))
    files = bundle_module.BundleFiles(["a.yaml", "series/x.csv", "run.json"],
                                      {"a.yaml": b"a", "run.json": b"{}"},
                                      {"series/x.csv": np.array([1.0, 2.5])})
    assert list(files) == ["a.yaml", "series/x.csv", "run.json"] and len(files) == 3
    assert files["series/x.csv"] == b"t,value\n0,1\n1,2.5\n" == files["series/x.csv"]
    assert calls == [2, 2]
    assert files["run.json"] == b"{}" and "series/x.csv" in files and "nope" not in files
    with pytest.raises(KeyError):
        files["nope"]
