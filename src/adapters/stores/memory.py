"""An in-memory artifact store: a test double for the domain, and `memory://` for demos."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from flowtime.adapters.stores.paths import (
    already_exists,
    check_bundle,
    check_record,
    check_relative_path,
    check_run_id,
    read_one_by_one,
)
from flowtime.domain.errors import not_found
from flowtime.domain.runs import RunFilter, RunPage, RunSummary, paginate
from flowtime.ports.artifacts import RunFiles


class MemoryArtifactStore:
    scheme = "memory"

    def __init__(self) -> None:
        self._runs: dict[str, tuple[dict[str, bytes], RunSummary]] = {}
        self._sweeps: dict[str, dict[str, bytes]] = {}
        self._records: dict[str, dict[str, bytes]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, durable: bool = True) -> MemoryArtifactStore:
        return cls()

    def publish(
        self, run_id: str, files: Mapping[str, bytes], summary: RunSummary, *, overwrite: bool
    ) -> None:
        check_bundle(run_id, files)
        with self._lock:
            if run_id in self._runs and not overwrite:
                raise already_exists(run_id)
            self._runs[run_id] = (dict(files), summary)

    def exists(self, run_id: str) -> bool:
        check_run_id(run_id)
        return run_id in self._runs

    def _files(self, run_id: str) -> dict[str, bytes]:
        check_run_id(run_id)
        try:
            return self._runs[run_id][0]
        except KeyError:
            raise not_found("runId", f"run '{run_id}' not found") from None

    def read(self, run_id: str, path: str) -> bytes:
        check_relative_path(path)
        files = self._files(run_id)
        if path not in files:
            raise not_found("path", f"no file '{path}' in run '{run_id}'")
        return files[path]

    def read_many(self, run_id: str, paths: Sequence[str] | None = None, *,
                  fresh: bool = False) -> RunFiles:
        """Local reads are cheap: one after another (`fresh` changes nothing, no cache)."""
        files = self.list_files(run_id)
        return RunFiles(files, read_one_by_one(files, lambda p: self.read(run_id, p), paths))

    def list_files(self, run_id: str) -> list[str]:
        return sorted(self._files(run_id))

    def list_runs(self, run_filter: RunFilter, page: int, page_size: int) -> RunPage:
        return paginate([s for _, s in self._runs.values()], run_filter, page, page_size)

    def summary(self, run_id: str) -> RunSummary:
        self._files(run_id)
        return self._runs[run_id][1]

    def run_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._runs)

    def delete(self, run_id: str) -> None:
        self._files(run_id)
        with self._lock:
            self._runs.pop(run_id, None)

    def location(self, run_id: str, path: str) -> str:
        return f"memory://runs/{run_id}/{path}"

    def default_catalog_url(self) -> str:
        return "sqlite://"  # in memory, gone with the process like the runs

    def write_sweep_file(self, sweep_id: str, path: str, data: bytes) -> None:
        check_run_id(sweep_id)
        check_relative_path(path)
        with self._lock:
            self._sweeps.setdefault(sweep_id, {})[path] = data

    def claim_sweep_file(self, sweep_id: str, path: str, data: bytes) -> bool:
        check_run_id(sweep_id)
        check_relative_path(path)
        with self._lock:
            files = self._sweeps.setdefault(sweep_id, {})
            if path in files:
                return False
            files[path] = data
            return True

    def read_sweep_file(self, sweep_id: str, path: str) -> bytes:
        check_run_id(sweep_id)
        try:
            return self._sweeps[sweep_id][path]
        except KeyError:
            raise not_found("sweepId", f"no '{path}' for sweep '{sweep_id}'") from None

    def list_sweeps(self) -> list[str]:
        return sorted(self._sweeps)

    def write_record(self, kind: str, record_id: str, data: bytes) -> None:
        check_record(kind, record_id)
        with self._lock:
            self._records.setdefault(kind, {})[record_id] = data

    def read_record(self, kind: str, record_id: str) -> bytes:
        check_record(kind, record_id)
        try:
            return self._records[kind][record_id]
        except KeyError:
            raise not_found("id", f"no {kind} record '{record_id}'") from None

    def list_records(self, kind: str) -> list[str]:
        check_record(kind, "x")
        return sorted(self._records.get(kind, {}))

    def delete_record(self, kind: str, record_id: str) -> None:
        check_record(kind, record_id)
        with self._lock:
            self._records.get(kind, {}).pop(record_id, None)

    def clean_debris(self, older_than_seconds: float = 3600) -> int:
        return 0  # publishing is a single dict assignment: nothing can be left half-done

    def check(self) -> None:
        return None
