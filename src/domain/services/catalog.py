"""Keeping the run catalog in step with the artifact store, which stays the source of truth.

Publishing writes the bundle first and then upserts the run's catalog row. A process that
dies in between leaves a run the catalog does not know: `sync` (walk the store, add what is
missing, drop rows whose bundle is gone) repairs that, and so does fetching the run by id.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from msgspec.structs import replace

from flowtime.domain.artifacts.codec import SweepJson, decode
from flowtime.domain.artifacts.tags import RECORD_KIND as TAGS
from flowtime.domain.artifacts.tags import read_tags
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.runs import RunRecord, RunSummary

if TYPE_CHECKING:
    from flowtime.ports.artifacts import ArtifactStore
    from flowtime.ports.catalog import RunCatalog

log = logging.getLogger("flowtime.catalog")
BATCH = 500  # rows per catalog transaction while syncing
READERS = 16  # summaries read from the store in parallel (S3 round trips dominate)

Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True, slots=True)
class SyncReport:
    stored: int  # runs found in the store
    added: int  # rows written (new ones; every run for a full refresh)
    removed: int  # rows whose bundle is gone
    cataloged: int  # rows after the sync
    unreadable: list[str] = field(default_factory=list)  # runs whose documents could not be read


def stored_summary(store: ArtifactStore, run_id: str, tagged: bool = True) -> RunSummary:
    """A run's catalog row: the store's summary of its bundle plus its tags record (read
    only when `tagged`: a sync lists which runs have tags once instead of asking each)."""
    summary = store.summary(run_id)
    return replace(summary, tags=read_tags(store, run_id) if tagged else {})


def summary_of_record(record: RunRecord) -> RunSummary:
    return RunSummary(record.run_id, record.template_id, record.template_title,
                      record.template_version, record.mode, record.created_utc,
                      len(record.warnings), dict(record.parameters), dict(record.tags),
                      record.sweep_id)


def ensure_listed(catalog: RunCatalog, record: RunRecord) -> None:
    """Give a run read from the store its catalog row if a crash lost it. A catalog that is
    down is left alone: reading runs from the store goes on, `sync` repairs later."""
    try:
        if catalog.get(record.run_id) is None:
            catalog.upsert(summary_of_record(record))
    except FlowTimeError as exc:
        log.warning("run %s is in the store but not cataloged: %s", record.run_id, exc.detail)


def add_member(catalog: RunCatalog, sweep_id: str, run_id: str) -> None:
    """Relate a reused run to the sweep that reused it. A catalog that is down is left
    alone: the sweep's record lists the run, and `sync` relates it from there."""
    try:
        catalog.add_sweep_members(sweep_id, [run_id])
    except FlowTimeError as exc:
        log.warning("run %s: cannot list it under sweep %s yet: %s", run_id, sweep_id,
                    exc.detail)


def sync_sweep_members(store: ArtifactStore, catalog: RunCatalog, stored: set[str]) -> int:
    """Relate every sweep's points (as its record lists them: reused ones included) to the
    sweep; returns how many relations were given. The records are the source of truth."""
    given = 0
    for sweep_id in store.list_sweeps():
        try:
            record = decode(store.read_sweep_file(sweep_id, "sweep.json"), SweepJson,
                            f"sweeps/{sweep_id}/sweep.json")
        except FlowTimeError:
            continue  # unreadable: nothing to relate
        members = sorted({r.run_id for r in record.runs if r.run_id and r.run_id in stored})
        catalog.add_sweep_members(sweep_id, members)
        given += len(members)
    return given


def sync(store: ArtifactStore, catalog: RunCatalog, full: bool = False,
         progress: Progress | None = None) -> SyncReport:
    """Make the catalog list exactly the store's runs. `full` rewrites every row (a
    rebuild: the listing never goes empty meanwhile); otherwise only missing rows are added."""
    stored = set(store.run_ids())
    known = catalog.run_ids()
    gone = sorted(known - stored)
    for run_id in gone:
        catalog.delete(run_id)
    wanted = sorted(stored if full else stored - known)
    unreadable: list[str] = []
    done = 0
    if progress:
        progress(0, len(wanted))

    tagged = set(store.list_records(TAGS))

    def read(run_id: str) -> RunSummary | None:
        try:
            return stored_summary(store, run_id, run_id in tagged)
        except FlowTimeError:
            return None  # not (or no longer) a readable run: nothing to list

    from concurrent.futures import ThreadPoolExecutor  # here: a run need not import it

    with ThreadPoolExecutor(READERS) as pool:
        for start in range(0, len(wanted), BATCH):
            chunk = wanted[start:start + BATCH]
            summaries = []
            for run_id, summary in zip(chunk, pool.map(read, chunk), strict=True):
                if summary is None:
                    unreadable.append(run_id)
                else:
                    summaries.append(summary)
            catalog.upsert_many(summaries)
            done += len(chunk)
            if progress:
                progress(done, len(wanted))
    sync_sweep_members(store, catalog, stored)
    for run_id in backlog(store):  # every run is listed now: the notes are done
        store.delete_record(BACKLOG, run_id)
    return SyncReport(len(stored), len(wanted) - len(unreadable), len(gone), catalog.count(),
                      unreadable)


BACKLOG = "catalog-backlog"  # record kind: published runs the catalog has not listed yet


def remember_unlisted(store: ArtifactStore, run_id: str) -> None:
    """A run published while the catalog could not take its row: keep a note beside the
    runs, so `heal` lists it once the catalog is back (any process, any replica)."""
    try:
        store.write_record(BACKLOG, run_id, b"{}")
    except FlowTimeError as exc:  # the store just took the run; if not now, sync repairs
        log.warning("run %s: cannot note it for the catalog: %s", run_id, exc.detail)


def backlog(store: ArtifactStore) -> list[str]:
    return store.list_records(BACKLOG)


def heal(store: ArtifactStore, catalog: RunCatalog) -> int:
    """List the runs the catalog missed while it was down; returns how many are listed.
    A catalog still down raises (nothing is lost: the notes stay for the next try)."""
    waiting = backlog(store)
    if not waiting:
        return 0
    tagged = set(store.list_records(TAGS))
    summaries = []
    for run_id in waiting:
        with contextlib.suppress(FlowTimeError):  # deleted since, or unreadable: not listed
            summaries.append(stored_summary(store, run_id, run_id in tagged))
    catalog.upsert_many(summaries)
    for run_id in waiting:
        store.delete_record(BACKLOG, run_id)
    return len(summaries)


def bootstrap(store: ArtifactStore, catalog: RunCatalog, now_utc: str) -> SyncReport | None:
    """A new catalog beside a store that may already hold runs: sync once, then remember."""
    if not catalog.needs_bootstrap():
        return None
    report = sync(store, catalog)
    catalog.mark_bootstrapped(now_utc)
    return report
