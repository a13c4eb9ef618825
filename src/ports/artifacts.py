"""Where run bundles live."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from flowtime.domain.runs import RunFilter, RunPage, RunSummary
from flowtime.ports.sweeps import RecordStore, SweepStore


@dataclass(frozen=True, slots=True)
class RunFiles:
    """Several files of one run read together, all from the same version of it."""

    files: list[str]  # every file the run has
    data: dict[str, bytes]  # the asked-for files it has (one it lacks is simply absent)


class ArtifactStore(SweepStore, RecordStore, Protocol):
    """Immutable run bundles keyed by run id; each bundle is {relative path: bytes}.

    `publish` stages every file and makes the run visible in one step: readers never see
    part of a bundle. It raises a conflict FlowTimeError when the run exists, unless
    `overwrite` is set, in which case the old bundle is replaced as a whole. Paths passed
    to `read` are relative to the bundle; anything that would escape it is refused
    (invalid). Unknown runs or files raise not-found.
    """

    def publish(
        self, run_id: str, files: Mapping[str, bytes], summary: RunSummary, *, overwrite: bool
    ) -> None: ...

    def exists(self, run_id: str) -> bool: ...

    def read(self, run_id: str, path: str) -> bytes: ...

    def list_files(self, run_id: str) -> list[str]: ...

    def read_many(self, run_id: str, paths: Sequence[str] | None = None, *,
                  fresh: bool = False) -> RunFiles:
        """The run's file list and the bytes of `paths` (every file when None), read in
        parallel where the store is remote; `fresh` bypasses any cache (verification).
        Not-found when the run is unknown."""
        ...

    def list_runs(self, run_filter: RunFilter, page: int, page_size: int) -> RunPage:
        """The store's own listing (a scan; the service lists from the run catalog)."""
        ...

    def summary(self, run_id: str) -> RunSummary:
        """One run's listing summary (kept with the bundle, or derived from its documents
        for bundles written before summaries carried parameters); not-found when unknown."""
        ...

    def run_ids(self) -> list[str]:
        """Every published run, found by walking the store (not from listing summaries, so
        a run whose summary is lost is still found); sorted."""
        ...

    def delete(self, run_id: str) -> None: ...

    def location(self, run_id: str, path: str) -> str:
        """A human/tool-facing address of a bundle file (a path or a URL)."""
        ...

    def clean_debris(self, older_than_seconds: float = 3600) -> int:
        """Remove what interrupted publishes left behind (never visible as runs); returns
        how many entries went. Work younger than `older_than_seconds` may be in flight."""
        ...

    def check(self) -> None:
        """Raise an unavailable FlowTimeError if the store cannot be used (readiness)."""
        ...
