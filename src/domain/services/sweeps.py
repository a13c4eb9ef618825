"""Sweeps and Monte Carlo: one template × a grid of parameter values and/or N seeds.

Every point is an ordinary deterministic run, so repeating a sweep reuses finished runs
and computes only what is missing. The summary (`sweeps/<sweepId>/sweep.json`, plus a
CSV) lists every run with its parameters, status and per-series aggregates; with
`samples`, per-bin p5/p50/p95 bands per output series are written under `bands/`.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from flowtime.domain.artifacts.bundle import format_value
from flowtime.domain.artifacts.codec import (
    SweepCancelJson,
    SweepJson,
    SweepListItemJson,
    SweepOwnerJson,
    SweepProgressJson,
    SweepRunJson,
    decode,
    encode,
)
from flowtime.domain.artifacts.export import safe_text
from flowtime.domain.artifacts.hashing import canonical_json, sha256_bytes, sha256_canonical
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, invalid
from flowtime.domain.modeling.grid import format_utc, parse_utc
from flowtime.domain.modeling.model import ParameterDef
from flowtime.domain.modeling.names import node_of, series_label
from flowtime.domain.modeling.parameters import check_value, resolve_parameters
from flowtime.domain.runs import MAX_SEED, MODES, RunRequest

if TYPE_CHECKING:
    from flowtime.ports.sweeps import Executor, SweepStore

MAX_SWEEP_RUNS = 100_000
# A queued or running sweep's driver rewrites its record every few seconds; one silent for
# this long has lost its driver (a restarted server, a killed CLI): it reads as interrupted.
STALE_AFTER_SECONDS = 120
BANDS = (("p5", 5.0), ("p50", 50.0), ("p95", 95.0))
# A store outage during a sweep: points that met it are tried again with backoff for up to
# RETRY_SECONDS (FLOWTIME_SWEEP_RETRY_SECONDS), and so is the record's final write.
RETRY_SECONDS = 120.0
RETRY_FIRST_DELAY = 0.5
RETRY_MAX_DELAY = 8.0
REQUEST_FILE = "request.json"  # what a resuming driver needs (inline template text too)


@dataclass(frozen=True, slots=True)
class SweepRequest:
    template_id: str
    mode: str = "simulation"
    grid: dict[str, list[Any]] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)  # fixed (grid values win)
    samples: int | None = None
    seed: int | None = None  # base seed for samples: seed, seed + 1, …
    pmf_mode: str = "sample"  # passed to every run
    # an inline template (a file's or a request's YAML text) instead of a catalogue entry;
    # `template_id` then names it (its metadata id, or "inline")
    template_text: str | None = None

    @property
    def sweep_id(self) -> str:
        identity = SweepIdentity(
            template_id=self.template_id, mode=self.mode, grid=self.grid,
            parameters=self.parameters, samples=self.samples, seed=self.seed,
            pmf_mode=None if self.pmf_mode == "sample" else self.pmf_mode,
            template_text=None if self.template_text is None
            else sha256_bytes(self.template_text.encode("utf-8")))
        return "sweep_" + sha256_canonical(msgspec.to_builtins(identity)).removeprefix(
            "sha256:")[:16]


class SweepIdentity(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """What makes two sweep requests the same sweep (hashed into its id, camelCase keys).
    The optional fields are left out when None (msgspec omits a default by identity, so
    only None is safe), so the ids of sample sweeps of catalogue templates never changed."""

    template_id: str
    mode: str
    grid: dict[str, list[Any]]
    parameters: dict[str, Any]
    samples: int | None
    seed: int | None
    pmf_mode: str | None = None  # None for "sample"
    template_text: str | None = None  # the hash of an inline template's text


@dataclass(frozen=True, slots=True)
class SweepPoint:
    index: int
    combination: int  # which grid combination (bands are per combination)
    request: RunRequest


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a worker reports back for one point (small: aggregates, not bundles)."""

    index: int
    status: str  # created | reused | failed
    run_id: str | None = None
    problems: tuple[str, ...] = ()
    aggregates: dict[str, dict[str, float]] = field(default_factory=dict)
    series: dict[str, list[float]] = field(default_factory=dict)  # only for Monte Carlo
    # failed only because the store (or the worker's way to it) was unavailable: the
    # driver tries the point again within the attempt
    retryable: bool = False

    @staticmethod
    def failure(index: int, error: FlowTimeError) -> RunOutcome:
        """A point that failed with `error`; one that only met an unavailable store is
        retryable (runs are all-or-nothing, so nothing half-written stays behind)."""
        problems = tuple(str(p) for p in error.problems) or (error.detail,)
        return RunOutcome(index, "failed", problems=problems,
                          retryable=error.kind is ErrorKind.UNAVAILABLE)


def inline_sweep(request: SweepRequest, template: Any) -> SweepRequest:
    """The request for an inline template, named by the template's id (its metadata id, or
    `inline`) so listings and records say what was swept."""
    return replace(request, template_id=template.metadata.id or "inline")


def check_sweep(request: SweepRequest) -> list[Problem]:
    problems: list[Problem] = []
    if not request.template_id and request.template_text is None:
        problems.append(Problem("templateId", "is required (or `template`, the YAML text)"))
    if request.mode not in MODES:
        problems.append(Problem("mode", "must be simulation or telemetry"))
    for name, values in request.grid.items():
        if not isinstance(values, list) or not values:
            problems.append(Problem(f"grid.{name}", "must be a non-empty list of values"))
    if request.samples is not None and not 1 <= request.samples <= MAX_SWEEP_RUNS:
        problems.append(Problem("samples", f"must be between 1 and {MAX_SWEEP_RUNS}"))
    if request.seed is not None and not 0 <= request.seed <= MAX_SEED - (request.samples or 1):
        problems.append(Problem("seed", "must be a non-negative integer"))
    return problems


def check_parameters(request: SweepRequest, parameters: list[ParameterDef]) -> list[Problem]:
    """Every grid value and fixed parameter checked against the template's typed parameters,
    before anything starts (a bad value fails the request, not a background run)."""
    by_name = {p.name: p for p in parameters}
    known = ", ".join(sorted(by_name)) or "none"
    _, problems = resolve_parameters(parameters, {k: v for k, v in request.parameters.items()
                                                  if k not in request.grid})
    for name, values in request.grid.items():
        definition = by_name.get(name)
        if definition is None:
            problems.append(Problem(f"grid.{name}", f"unknown parameter (this template "
                                    f"accepts: {known})"))
            continue
        for i, value in enumerate(values if isinstance(values, list) else []):
            problems.extend(check_value(definition, value, f"grid.{name}[{i}]")[1])
    return [p for p in problems if not p.loc.startswith("parameters.") or
            p.loc.split(".", 1)[1].split("[")[0] not in request.grid]


def check_size(request: SweepRequest, limit: int = MAX_SWEEP_RUNS) -> None:
    """Refuse sweeps over `limit` runs (grid cells × samples; too large, before expanding
    anything)."""
    count = _combinations(request) * (request.samples or 1)
    if count > limit:
        raise FlowTimeError(ErrorKind.TOO_LARGE, "sweep too large", [
            Problem("grid", f"{count} runs (grid cells × samples) exceed the limit of {limit} "
                    "(FLOWTIME_MAX_SWEEP_POINTS)")])


def _combinations(request: SweepRequest) -> int:
    count = 1
    for values in request.grid.values():
        count *= len(values) if isinstance(values, list) else 1
    return count


def expand(request: SweepRequest) -> list[SweepPoint]:
    """Grid (cartesian, in the order given) × samples → deterministic run requests.

    Grid values win over fixed `parameters` of the same name; no grid and no samples is
    a sweep of one point.
    """
    problems = check_sweep(request)
    if problems:
        raise invalid(problems, "invalid sweep")
    check_size(request)
    names = list(request.grid)
    combos = list(itertools.product(*(request.grid[n] for n in names))) if names else [()]
    base_seed = request.seed if request.seed is not None else 0
    seeds: list[int | None] = ([base_seed + i for i in range(request.samples)]
                               if request.samples else [request.seed])
    points = []
    inline = request.template_text is not None
    for c, combo in enumerate(combos):
        parameters = {**request.parameters, **dict(zip(names, combo, strict=True))}
        for seed in seeds:
            points.append(SweepPoint(len(points), c, RunRequest(
                template_id=None if inline else request.template_id, mode=request.mode,
                parameters=parameters, deterministic_run_id=True, seed=seed,
                pmf_mode=request.pmf_mode, sweep_id=request.sweep_id,
                template_text=request.template_text,
                template_name=request.template_id if inline else None)))
    return points


# Monte Carlo points of one grid cell go to a worker together, up to this many, and are
# evaluated as one batch there (`RunOrchestrationService.create_runs`).
MAX_TASK_POINTS = 64


def tasks(points: list[SweepPoint], workers: int) -> list[list[SweepPoint]]:
    """Points grouped into worker tasks: a cell's samples in chunks (every worker gets work
    when there are few cells; chunks of at most MAX_TASK_POINTS keep progress and cancel
    fine-grained), every other point alone. Order is kept."""
    cells: list[list[SweepPoint]] = []
    for point in points:
        if cells and cells[-1][0].combination == point.combination \
                and point.request.seed is not None:
            cells[-1].append(point)
        else:
            cells.append([point])
    size = max(1, min(MAX_TASK_POINTS, -(-len(points) // max(1, workers))))
    return [cell[i:i + size] for cell in cells for i in range(0, len(cell), size)]


def aggregate(values: np.ndarray) -> dict[str, float]:
    return {"sum": float(values.sum()), "mean": float(values.mean()),
            "max": float(values.max()), "last": float(values[-1])}


@dataclass
class SweepProgress:
    total: int
    created: int = 0
    reused: int = 0
    failed: int = 0
    retrying: int = 0  # not done: met an unavailable store, tried again shortly

    @property
    def done(self) -> int:
        return self.created + self.reused + self.failed


STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")


@dataclass
class _Attempt:
    """One driver's run of a sweep: what the loop and the heartbeat both write."""

    request: SweepRequest
    points: list[SweepPoint]
    owner: SweepOwnerJson
    started: str
    progress: SweepProgress
    outcomes: dict[int, RunOutcome] = field(default_factory=dict)
    status: str = "queued"
    note: str | None = None  # why the live driver is not making progress
    lock: threading.Lock = field(default_factory=threading.Lock)


class SweepService:
    """Drives sweeps and keeps their job records (`sweeps/<id>/sweep.json`) in the store, so
    every replica and CLI over the same store sees the same status and can cancel."""

    def __init__(self, store: SweepStore, executor: Executor, clock: Any, host: str = "",
                 pid: int = 0, heartbeat_seconds: float = 2.0,
                 alive: Callable[[str, int], bool | None] | None = None,
                 retry_seconds: float = RETRY_SECONDS):
        self.store = store
        # how long points (and the final record write) keep being retried while the store
        # is unavailable, with backoff from RETRY_FIRST_DELAY up to RETRY_MAX_DELAY
        self.retry_seconds = retry_seconds
        self.executor = executor
        self.clock = clock
        self.host = host
        self.pid = pid
        self.heartbeat_seconds = heartbeat_seconds
        # (host, pid) -> is that process alive? None when it cannot tell (another machine)
        self.alive = alive or (lambda host, pid: None)

    def _now(self) -> str:
        return format_utc(self.clock.now().replace(microsecond=0))

    def mark(self, summary: SweepJson, status: str) -> SweepJson:
        """Rewrite a finished summary with another status (a terminated driver's sweep is
        `interrupted`, not `cancelled`); the CSV and bands stay as written."""
        updated = msgspec.structs.replace(summary, status=status)
        self.store.write_sweep_file(summary.sweep_id, "sweep.json", encode(updated))
        return updated

    def _owner(self, role: str, attempt: str | None = None) -> SweepOwnerJson:
        return SweepOwnerJson(host=self.host, pid=self.pid, role=role,
                              attempt=attempt or secrets.token_hex(8))

    def _claim(self, request: SweepRequest, owner: SweepOwnerJson) -> bool:
        """Claim the next attempt of the sweep, atomically: the claim is a file named after
        the attempt it follows (`new` for a sweep without a record), created only if absent
        — so of two replicas (or a replica and a CLI) starting the same sweep at the same
        instant exactly one drives it."""
        try:
            before = self.store.read_sweep_file(request.sweep_id, "sweep.json")
            current = decode(before, SweepJson, f"sweeps/{request.sweep_id}/sweep.json")
            if current.status in ACTIVE and not self._driver_gone(current):
                return False  # claimed and accepted a moment ago by another driver
            after = current.owner.attempt if current.owner is not None else "new"
        except FlowTimeError as exc:
            if exc.kind is not ErrorKind.NOT_FOUND:
                raise
            after = "new"
        return self.store.claim_sweep_file(request.sweep_id, f"claims/{after}.json",
                                           encode(owner))

    def accept(self, request: SweepRequest, role: str = "server") -> str | None:
        """Claim the sweep and write its record now (`queued`), so an accepted sweep can be
        read and cancelled before its driver starts; returns the attempt token to run it
        with, or None when another driver claimed it first (that one drives it)."""
        points = expand(request)
        attempt = _Attempt(request, points, self._owner(role), self._now(),
                           SweepProgress(total=len(points)))
        if not self._claim(request, attempt.owner):
            return None
        self._save_request(request)
        self._write(attempt, with_csv=False)
        return attempt.owner.attempt

    def _save_request(self, request: SweepRequest) -> None:
        self.store.write_sweep_file(request.sweep_id, REQUEST_FILE, msgspec.json.encode(request))

    def saved_request(self, sweep_id: str) -> SweepRequest | None:
        """The request a sweep was started with (to resume it without its client), or None
        for a sweep recorded before requests were kept or an unreadable one."""
        try:
            data = self.store.read_sweep_file(sweep_id, REQUEST_FILE)
            request = msgspec.json.decode(data, type=SweepRequest)
        except (FlowTimeError, msgspec.DecodeError, msgspec.ValidationError):
            return None
        return request if request.sweep_id == sweep_id else None

    def run(self, request: SweepRequest, on_progress: Callable[[SweepProgress], None] | None = None,
            cancel: threading.Event | None = None, checkpoint_seconds: float | None = None,
            attempt: str | None = None, role: str = "cli",
            slot: threading.Semaphore | None = None) -> SweepJson:
        """Run every point not yet done (finished runs are reused). `slot`, when given, is
        taken before any point starts (the sweep stays `queued` until then); a heartbeat
        rewrites the record every few seconds and honours cancel requests from elsewhere
        (`request_cancel`)."""
        points = expand(request)
        cancel = cancel or threading.Event()
        job = _Attempt(request, points, self._owner(role, attempt), self._now(),
                       SweepProgress(total=len(points)))
        if attempt is None and not self._claim(request, job.owner):  # not accepted before
            raise FlowTimeError(ErrorKind.CONFLICT, f"sweep {request.sweep_id} was started "
                                "elsewhere at the same moment", [Problem(
                                    "sweep", "another process claimed it first; follow it "
                                    f"with `flowtime sweep watch {request.sweep_id}`")])
        every = self.heartbeat_seconds if checkpoint_seconds is None else checkpoint_seconds
        if attempt is None:
            self._save_request(request)
        self._write(job)
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, cancel, stop, every),
                                name=f"sweep-heartbeat-{request.sweep_id}", daemon=True)
        beat.start()
        holding = False
        try:
            if slot is not None:
                while not cancel.is_set() and not (holding := slot.acquire(timeout=0.2)):
                    pass
            if not cancel.is_set():
                with job.lock:
                    job.status = "running"
                self._write(job)
                self._drive(job, cancel, on_progress)
        finally:
            stop.set()
            beat.join()
            if holding:
                slot.release()  # type: ignore[union-attr]
        progress = job.progress
        with job.lock:
            job.note = None
            job.status = "cancelled" if cancel.is_set() and progress.done < progress.total \
                else ("failed" if progress.failed else "succeeded")
        summary = self._retrying(lambda: self._write(job, finished=True))
        if request.samples and job.status != "cancelled":
            self._retrying(lambda: self._write_bands(request.sweep_id, points, job.outcomes))
        return summary

    def _drive(self, job: _Attempt, cancel: threading.Event,
               on_progress: Callable[[SweepProgress], None] | None) -> None:
        """Hand the points to the executor; points that met an unavailable store go round
        again with backoff until they land or `retry_seconds` have passed (then they count
        as failed with their problem)."""
        want_series = bool(job.request.samples)
        todo = job.points
        by_index = {p.index: p for p in job.points}
        began = self.clock.now()
        delay = RETRY_FIRST_DELAY
        while todo and not cancel.is_set():
            again: list[SweepPoint] = []
            for outcome in self._outcomes(todo, want_series, cancel):
                waited = (self.clock.now() - began).total_seconds()
                with job.lock:
                    if outcome.retryable and waited < self.retry_seconds:
                        again.append(by_index[outcome.index])
                        job.note = (f"the store is unavailable: {len(again)} points wait to "
                                    "be tried again")
                    else:
                        job.outcomes[outcome.index] = outcome
                        setattr(job.progress, outcome.status,
                                getattr(job.progress, outcome.status) + 1)
                    job.progress.retrying = len(again)
                if on_progress:
                    on_progress(job.progress)
            todo = sorted(again, key=lambda p: p.index)
            if not todo:
                with job.lock:
                    job.note = None
            else:
                cancel.wait(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
        with job.lock:
            job.progress.retrying = 0

    def _outcomes(self, points: list[SweepPoint], want_series: bool,
                  cancel: threading.Event) -> Iterable[RunOutcome]:
        """The executor's outcomes; when the executor itself fails (a task that could not
        even start its worker, a lost cluster), every point it did not report fails with
        that error — retryable when it is the store's or the cluster's unavailability —
        so the sweep ends with a true record instead of a driver that died mid-way."""
        reported: set[int] = set()
        try:
            for outcome in self.executor.run(points, want_series, cancel):
                reported.add(outcome.index)
                yield outcome
        except FlowTimeError as exc:
            error = exc
        except Exception as exc:  # an executor's own failure: reported per point
            error = FlowTimeError(ErrorKind.INTERNAL,
                                  f"the executor failed: {type(exc).__name__}")
        else:
            return
        for point in points:
            if point.index not in reported:
                yield RunOutcome.failure(point.index, error)

    def _retrying(self, write: Callable[[], Any]) -> Any:
        """A write the sweep's outcome depends on, retried with backoff while the store is
        unavailable (for up to `retry_seconds`); the last error is raised after that."""
        began = self.clock.now()
        delay = RETRY_FIRST_DELAY
        while True:
            try:
                return write()
            except FlowTimeError as exc:
                waited = (self.clock.now() - began).total_seconds()
                if exc.kind is not ErrorKind.UNAVAILABLE or waited >= self.retry_seconds:
                    raise
            threading.Event().wait(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY)

    def _heartbeat(self, job: _Attempt, cancel: threading.Event, stop: threading.Event,
                   every: float) -> None:
        while not stop.wait(every):
            if self._cancel_requested(job.request.sweep_id, job.owner.attempt):
                cancel.set()
            with contextlib.suppress(FlowTimeError):  # the store blinked: the next beat writes
                self._write(job)

    def _cancel_requested(self, sweep_id: str, attempt: str) -> bool:
        with contextlib.suppress(FlowTimeError):  # none (or unreadable): no request
            found = decode(self.store.read_sweep_file(sweep_id, "cancel.json"), SweepCancelJson,
                           f"sweeps/{sweep_id}/cancel.json")
            return found.attempt == attempt
        return False

    def request_cancel(self, sweep_id: str) -> SweepJson:
        """Ask whichever process drives the sweep to stop (it notices within a heartbeat);
        returns the record as it is now. A finished sweep is left as it is."""
        summary = self.get(sweep_id)
        if summary.status in ACTIVE and summary.owner is not None:
            self.store.write_sweep_file(sweep_id, "cancel.json", encode(SweepCancelJson(
                attempt=summary.owner.attempt, requested_utc=self._now())))
        return summary

    def _write(self, job: _Attempt, finished: bool = False, with_csv: bool = True) -> SweepJson:
        with job.lock:
            runs = []
            for point in job.points:
                outcome = job.outcomes.get(point.index)
                runs.append(SweepRunJson(
                    index=point.index, parameters=point.request.parameters,
                    seed=point.request.seed, status=outcome.status if outcome else "pending",
                    run_id=outcome.run_id if outcome and outcome.run_id else None,
                    problems=list(outcome.problems) if outcome and outcome.problems else None,
                    aggregates=outcome.aggregates if outcome and outcome.aggregates else None,
                ))
            progress = job.progress
            status = job.status
            now = self._now()
            eta = None
            began = parse_utc(job.started)
            if status == "running" and progress.done and began is not None:
                elapsed = (self.clock.now() - began).total_seconds()
                eta = round(elapsed / progress.done * (progress.total - progress.done), 1)
            request = job.request
            summary = SweepJson(
                schema_version=1, sweep_id=request.sweep_id, template_id=request.template_id,
                mode=request.mode, grid=request.grid, parameters=request.parameters,
                samples=request.samples, seed=request.seed, executor=self.executor.name,
                status=status, started_utc=job.started, updated_utc=now,
                progress=SweepProgressJson(total=progress.total, done=progress.done,
                                           created=progress.created, reused=progress.reused,
                                           failed=progress.failed, eta_seconds=eta,
                                           retrying=progress.retrying),
                runs=runs, owner=job.owner, heartbeat_utc=now,
                finished_utc=now if finished else None, note=job.note,
            )
            if with_csv:
                self.store.write_sweep_file(request.sweep_id, "sweep.csv", _summary_csv(runs))
            self.store.write_sweep_file(request.sweep_id, "sweep.json", encode(summary))
        return summary

    def _write_bands(self, sweep_id: str, points: list[SweepPoint],
                     outcomes: dict[int, RunOutcome]) -> None:
        by_combo: dict[int, list[RunOutcome]] = {}
        for point in points:
            outcome = outcomes.get(point.index)
            if outcome and outcome.series:
                by_combo.setdefault(point.combination, []).append(outcome)
        single = len({p.combination for p in points}) == 1
        for combo, found in by_combo.items():
            for series in found[0].series:
                matrix = np.array([o.series[series] for o in found if series in o.series])
                prefix = "bands/" if single else f"bands/c{combo}/"
                self.store.write_sweep_file(sweep_id, f"{prefix}{series}.csv",
                                            bands_csv(matrix))

    def get(self, sweep_id: str) -> SweepJson:
        try:
            summary = decode(self.store.read_sweep_file(sweep_id, "sweep.json"), SweepJson,
                             f"sweeps/{sweep_id}/sweep.json")
        except FlowTimeError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                raise FlowTimeError(ErrorKind.NOT_FOUND, f"sweep '{sweep_id}' not found", [
                    Problem("sweepId", f"sweep '{sweep_id}' not found")]) from None
            raise
        if summary.status in ACTIVE and self._driver_gone(summary):
            # its driver is gone (a killed process): POST the same sweep again to resume
            summary = msgspec.structs.replace(summary, status="interrupted")
        return summary

    def _driver_gone(self, summary: SweepJson) -> bool:
        """A driver on this machine is checked directly (a `kill -9` shows at once);
        elsewhere, a heartbeat older than STALE_AFTER_SECONDS means it is gone."""
        owner = summary.owner
        if owner is not None and self.alive(owner.host, owner.pid) is False:
            return True
        beat = parse_utc(summary.heartbeat_utc or summary.updated_utc)
        return beat is not None and (
            self.clock.now() - beat).total_seconds() > STALE_AFTER_SECONDS

    def cells(self, summary: SweepJson) -> list[dict[str, Any]]:
        """The sweep's grid cells in order (cell i is `bands/c<i>/`): their parameters and
        how many points each has."""
        found: list[dict[str, Any]] = []
        keys: dict[str, int] = {}
        for run in summary.runs:
            key = canonical_json(run.parameters)
            if key not in keys:
                keys[key] = len(found)
                found.append({"cell": len(found), "parameters": run.parameters, "points": 0})
            found[keys[key]]["points"] += 1
        return found

    def bands(self, sweep_id: str, series: str | None = None, cell: str | None = None
              ) -> dict[str, Any]:
        """Monte Carlo bands (p5/p50/p95 per bin over a cell's samples). Without `series`,
        what there is: every cell with its parameters and the series with bands. `cell` is
        a cell number or its parameters as `name:value,…` (needed when the grid has more
        than one cell)."""
        summary = self.get(sweep_id)
        cells = self.cells(summary)
        ids = list(dict.fromkeys(sid for run in summary.runs for sid in (run.aggregates or {})))
        names = {node_of(sid): sid for sid in ids if series_label(sid) == node_of(sid)}
        if not summary.samples:
            raise FlowTimeError(ErrorKind.NOT_FOUND, "this sweep has no bands", [Problem(
                "sweepId", "bands come from Monte Carlo samples: this sweep has none")])
        if series is None:
            return {"sweepId": sweep_id, "samples": summary.samples, "cells": cells,
                    "series": list(names)}
        if series not in names:
            raise FlowTimeError(ErrorKind.NOT_FOUND, f"no bands for series '{series}'", [
                Problem("series", f"'{series}' is not a series of this sweep (known: "
                                  f"{', '.join(list(names)[:20])})")])
        chosen = _pick_cell(cells, cell)
        path = (f"bands/{names[series]}.csv" if len(cells) == 1
                else f"bands/c{chosen['cell']}/{names[series]}.csv")
        try:
            text = self.store.read_sweep_file(sweep_id, path).decode("utf-8")
        except FlowTimeError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                raise FlowTimeError(ErrorKind.NOT_FOUND, "bands not written yet", [Problem(
                    "sweepId", f"sweep '{sweep_id}' is {summary.status}: bands are written "
                    "when it succeeds")]) from None
            raise
        rows = [line.split(",") for line in text.strip().splitlines()[1:]]
        body: dict[str, Any] = {"sweepId": sweep_id, "series": series, "cell": chosen,
                                "bins": [int(r[0]) for r in rows]}
        for k, (name, _) in enumerate(BANDS):
            body[name] = [float(r[k + 1]) for r in rows]
        return body

    def list(self, page: int = 1, page_size: int = 50, status: str | None = None
             ) -> tuple[list[SweepListItemJson], int]:
        """One page of sweeps, newest first, and how many match."""
        items = []
        for sweep_id in self.store.list_sweeps():
            try:
                s = self.get(sweep_id)
            except FlowTimeError:
                continue
            if status is not None and s.status != status:
                continue
            items.append(SweepListItemJson(
                sweep_id=s.sweep_id, template_id=s.template_id, status=s.status,
                progress=s.progress, started_utc=s.started_utc, updated_utc=s.updated_utc,
                executor=s.executor))
        items.sort(key=lambda s: (s.started_utc, s.sweep_id), reverse=True)
        start = (page - 1) * page_size
        return items[start:start + page_size], len(items)


def _pick_cell(cells: list[dict[str, Any]], cell: str | None) -> dict[str, Any]:
    if cell is None:
        if len(cells) == 1:
            return cells[0]
        raise invalid([Problem("cell", f"this sweep has {len(cells)} cells: name one by number "
                               "(0…) or by its parameters, e.g. "
                               + ",".join(f"{k}:{v}" for k, v in cells[0]["parameters"].items()))])
    if cell.isdigit():
        index = int(cell)
        if index < len(cells):
            return cells[index]
        raise FlowTimeError(ErrorKind.NOT_FOUND, f"no cell {index}", [
            Problem("cell", f"cells are numbered 0…{len(cells) - 1}")])
    wanted = {}
    for part in cell.split(","):
        name, sep, value = part.partition(":")
        if not sep:
            raise invalid([Problem("cell", f"'{part}': use name:value")])
        wanted[name] = value
    for candidate in cells:
        params = candidate["parameters"]
        if all(name in params and _same(params[name], value) for name, value in wanted.items()):
            return candidate
    raise FlowTimeError(ErrorKind.NOT_FOUND, "no such cell", [
        Problem("cell", f"no cell has {cell}")])


def _same(value: Any, text: str) -> bool:
    from flowtime.domain.runs import parameter_matches

    return parameter_matches(value, text)


def bands_csv(matrix: np.ndarray) -> bytes:
    """Per-bin p5/p50/p95 over samples (rows) as `t,p5,p50,p95`."""
    quantiles = np.percentile(matrix, [q for _, q in BANDS], axis=0)
    lines = ["t," + ",".join(name for name, _ in BANDS)]
    for t in range(matrix.shape[1]):
        lines.append(f"{t}," + ",".join(format_value(float(quantiles[i, t]))
                                        for i in range(len(BANDS))))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _summary_csv(runs: Iterable[SweepRunJson]) -> bytes:
    """One row per point, one column per parameter (`param.<name>`; arrays and other
    non-scalar values as JSON in one quoted cell)."""
    rows = list(runs)
    names = list(dict.fromkeys(name for run in rows for name in run.parameters))
    lines = [",".join(["index", "runId", "status", "seed",
                       *(_csv_name(f"param.{n}") for n in names)])]
    for run in rows:
        seed = "" if run.seed is None else str(run.seed)
        cells = [str(run.index), run.run_id or "", run.status, seed]
        for name in names:
            value = run.parameters.get(name)
            if value is None:
                cells.append("")
            elif isinstance(value, bool | int | float) and not isinstance(value, str):
                cells.append(canonical_json(value))
            else:
                text = value if isinstance(value, str) else canonical_json(value)
                cells.append(_csv_text(text))
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _csv_name(text: str) -> str:
    safe = safe_text(text)
    return _csv_text(safe) if any(c in safe for c in ',"\n\r') else safe


def _csv_text(text: str) -> str:
    """A quoted text cell that a spreadsheet will not run as a formula."""
    return '"' + safe_text(text).replace('"', '""') + '"'
