"""Sweeps and Monte Carlo: one template × a grid of parameter values and/or N seeds.

Every point is an ordinary deterministic run, so repeating a sweep reuses finished runs
and computes only what is missing. The summary (`sweeps/<sweepId>/sweep.json`, plus a
CSV) lists every run with its parameters, status and per-series aggregates; with
`samples`, per-bin p5/p50/p95 bands per output series are written under `bands/`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from flowtime.domain.bundle import format_value
from flowtime.domain.codec import (
    SweepJson,
    SweepListItemJson,
    SweepProgressJson,
    SweepRunJson,
    decode,
    encode,
)
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, invalid
from flowtime.domain.grid import format_utc, parse_utc
from flowtime.domain.hashing import canonical_json, sha256_canonical
from flowtime.domain.model import ParameterDef
from flowtime.domain.parameters import check_value, resolve_parameters
from flowtime.domain.runs import MODES, RunRequest

if TYPE_CHECKING:
    from flowtime.ports.sweeps import Executor, SweepStore

MAX_SWEEP_RUNS = 100_000
# A running sweep rewrites its summary every few seconds; one silent for this long has lost
# its driver (a restarted server, a killed CLI) and is reported as interrupted.
STALE_AFTER_SECONDS = 120
BANDS = (("p5", 5.0), ("p50", 50.0), ("p95", 95.0))


@dataclass(frozen=True, slots=True)
class SweepRequest:
    template_id: str
    mode: str = "simulation"
    grid: dict[str, list[Any]] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)  # fixed (grid values win)
    samples: int | None = None
    seed: int | None = None  # base seed for samples: seed, seed + 1, …
    pmf_mode: str = "sample"  # passed to every run

    @property
    def sweep_id(self) -> str:
        identity: dict[str, Any] = {
            "templateId": self.template_id, "mode": self.mode, "grid": self.grid,
            "parameters": self.parameters, "samples": self.samples, "seed": self.seed}
        if self.pmf_mode != "sample":
            identity["pmfMode"] = self.pmf_mode
        return "sweep_" + sha256_canonical(identity).removeprefix("sha256:")[:16]


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


def check_sweep(request: SweepRequest) -> list[Problem]:
    problems: list[Problem] = []
    if not request.template_id:
        problems.append(Problem("templateId", "is required"))
    if request.mode not in MODES:
        problems.append(Problem("mode", "must be simulation or telemetry"))
    for name, values in request.grid.items():
        if not isinstance(values, list) or not values:
            problems.append(Problem(f"grid.{name}", "must be a non-empty list of values"))
    if request.samples is not None and not 1 <= request.samples <= MAX_SWEEP_RUNS:
        problems.append(Problem("samples", f"must be between 1 and {MAX_SWEEP_RUNS}"))
    if request.seed is not None and not 0 <= request.seed < 2**62:
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
    for c, combo in enumerate(combos):
        parameters = {**request.parameters, **dict(zip(names, combo, strict=True))}
        for seed in seeds:
            points.append(SweepPoint(len(points), c, RunRequest(
                template_id=request.template_id, mode=request.mode, parameters=parameters,
                deterministic_run_id=True, seed=seed, pmf_mode=request.pmf_mode,
                sweep_id=request.sweep_id)))
    return points


def aggregate(values: np.ndarray) -> dict[str, float]:
    return {"sum": float(values.sum()), "mean": float(values.mean()),
            "max": float(values.max()), "last": float(values[-1])}


@dataclass
class SweepProgress:
    total: int
    created: int = 0
    reused: int = 0
    failed: int = 0

    @property
    def done(self) -> int:
        return self.created + self.reused + self.failed


class SweepService:
    def __init__(self, store: SweepStore, executor: Executor, clock: Any):
        self.store = store
        self.executor = executor
        self.clock = clock

    def mark(self, summary: SweepJson, status: str) -> SweepJson:
        """Rewrite a finished summary with another status (a terminated driver's sweep is
        `interrupted`, not `cancelled`); the CSV and bands stay as written."""
        updated = msgspec.structs.replace(summary, status=status)
        self.store.write_sweep_file(summary.sweep_id, "sweep.json", encode(updated))
        return updated

    def accept(self, request: SweepRequest) -> None:
        """Write the sweep's first summary now, so an accepted sweep can be read (and
        cancelled) before its driver thread has started."""
        points = expand(request)
        self._write(request, points, {}, SweepProgress(total=len(points)), "running",
                    format_utc(self.clock.now().replace(microsecond=0)))

    def run(self, request: SweepRequest, on_progress: Callable[[SweepProgress], None] | None = None,
            cancel: threading.Event | None = None, checkpoint_seconds: float = 2.0
            ) -> SweepJson:
        points = expand(request)
        cancel = cancel or threading.Event()
        progress = SweepProgress(total=len(points))
        outcomes: dict[int, RunOutcome] = {}
        started = format_utc(self.clock.now().replace(microsecond=0))
        want_series = bool(request.samples)
        self._write(request, points, outcomes, progress, "running", started)
        last_checkpoint = self.clock.monotonic()
        for outcome in self.executor.run(points, want_series, cancel):
            outcomes[outcome.index] = outcome
            setattr(progress, outcome.status, getattr(progress, outcome.status) + 1)
            if on_progress:
                on_progress(progress)
            if self.clock.monotonic() - last_checkpoint > checkpoint_seconds:
                self._write(request, points, outcomes, progress, "running", started)
                last_checkpoint = self.clock.monotonic()
        status = "cancelled" if cancel.is_set() and progress.done < progress.total else (
            "failed" if progress.failed else "completed")
        summary = self._write(request, points, outcomes, progress, status, started)
        if want_series and status != "cancelled":
            self._write_bands(request.sweep_id, points, outcomes)
        return summary

    def _write(self, request: SweepRequest, points: list[SweepPoint],
               outcomes: dict[int, RunOutcome], progress: SweepProgress, status: str,
               started: str) -> SweepJson:
        runs = []
        for point in points:
            outcome = outcomes.get(point.index)
            runs.append(SweepRunJson(
                index=point.index, parameters=point.request.parameters,
                seed=point.request.seed, status=outcome.status if outcome else "pending",
                run_id=outcome.run_id if outcome and outcome.run_id else None,
                problems=list(outcome.problems) if outcome and outcome.problems else None,
                aggregates=outcome.aggregates if outcome and outcome.aggregates else None,
            ))
        eta = None
        began = parse_utc(started)
        if status == "running" and progress.done and began is not None:
            elapsed = (self.clock.now() - began).total_seconds()
            eta = round(elapsed / progress.done * (progress.total - progress.done), 1)
        summary = SweepJson(
            schema_version=1, sweep_id=request.sweep_id, template_id=request.template_id,
            mode=request.mode, grid=request.grid, parameters=request.parameters,
            samples=request.samples, seed=request.seed, executor=self.executor.name,
            status=status, started_utc=started,
            updated_utc=format_utc(self.clock.now().replace(microsecond=0)),
            progress=SweepProgressJson(total=progress.total, done=progress.done,
                                       created=progress.created, reused=progress.reused,
                                       failed=progress.failed, eta_seconds=eta),
            runs=runs,
        )
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
            updated = parse_utc(summary.updated_utc)
            if summary.status == "running" and updated is not None and (
                    self.clock.now() - updated).total_seconds() > STALE_AFTER_SECONDS:
                # POST the same sweep again to resume
                summary = msgspec.structs.replace(summary, status="interrupted")
            return summary
        except FlowTimeError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                raise FlowTimeError(ErrorKind.NOT_FOUND, f"sweep '{sweep_id}' not found", [
                    Problem("sweepId", f"sweep '{sweep_id}' not found")]) from None
            raise

    def list(self) -> list[SweepListItemJson]:
        items = []
        for sweep_id in self.store.list_sweeps():
            try:
                s = self.get(sweep_id)
            except FlowTimeError:
                continue
            items.append(SweepListItemJson(
                sweep_id=s.sweep_id, template_id=s.template_id, status=s.status,
                progress=s.progress, started_utc=s.started_utc, updated_utc=s.updated_utc,
                executor=s.executor))
        return sorted(items, key=lambda s: (s.started_utc, s.sweep_id), reverse=True)


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
    lines = [",".join(["index", "runId", "status", "seed", *(f"param.{n}" for n in names)])]
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
                cells.append('"' + text.replace('"', '""') + '"')
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode("utf-8")
