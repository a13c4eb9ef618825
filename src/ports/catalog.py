"""Where run summaries are indexed for listing and search (the run catalog)."""

from __future__ import annotations

from typing import Protocol

from flowtime.domain.runs import RunFilter, RunPage, RunSummary


class RunCatalog(Protocol):
    """An index of run summaries; the artifact store stays the source of truth.

    Upserts are idempotent (the same summary twice leaves one row). `search` orders by
    `sort` with ties broken by run id; `cursor` (from a page's `next_cursor`) continues
    after the last row of that page, so runs added meanwhile neither repeat nor shift it.
    """

    location: str  # where the catalog lives, for people (a path or a URL without password)

    def upsert(self, summary: RunSummary) -> None: ...

    def upsert_many(self, summaries: list[RunSummary]) -> None: ...

    def add_sweep_members(self, sweep_id: str, run_ids: list[str]) -> None:
        """Relate runs to a sweep (many-to-many: a point reused from an earlier sweep is a
        member of both); a run's own `sweep_id` is related on upsert."""
        ...

    def get(self, run_id: str) -> RunSummary | None: ...

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None: ...

    def delete(self, run_id: str) -> bool:
        """Remove a run's row; False when there was none."""
        ...

    def search(self, run_filter: RunFilter, page: int, page_size: int,
               sort: str = "-createdUtc", cursor: str | None = None) -> RunPage: ...

    def count(self) -> int: ...

    def run_ids(self) -> set[str]: ...

    def clear(self) -> None: ...

    def needs_bootstrap(self) -> bool:
        """True until a first sync from the store has completed (a new catalog beside a
        store that may already hold runs)."""
        ...

    def mark_bootstrapped(self, when_utc: str) -> None: ...

    def check(self) -> None:
        """Raise an unavailable FlowTimeError when the catalog cannot be used."""
        ...

    def close(self) -> None: ...
