"""The run orchestration service: request -> validated model -> bundle -> store.

Every driver (HTTP, CLI, sweeps) calls `create_run`; none re-implements any step.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
from msgspec.structs import replace

from flowtime.domain.artifacts.bundle import (
    Bundle,
    BundleDocuments,
    BundleInput,
    build_bundle,
    series_id,
)
from flowtime.domain.artifacts.codec import (
    BUNDLE_DOCUMENTS,
    MODEL_YAML,
    PROVENANCE_JSON,
    AnalysisJson,
    BottleneckJson,
    ProvenanceJson,
    decode,
    to_builtins,
)
from flowtime.domain.artifacts.hashing import (
    deterministic_run_id,
    is_valid_run_id,
    random_run_id,
    seed_from_hash,
    sha256_bytes,
    sha256_canonical,
)
from flowtime.domain.artifacts.records import RECORD_FILES, read_record, record_of
from flowtime.domain.artifacts.tags import check_tags, read_tags, write_tags
from flowtime.domain.compile.checks import run_checks
from flowtime.domain.compile.classes import check_invariant
from flowtime.domain.compile.compiler import EvaluationPlan
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, invalid
from flowtime.domain.evaluate.batch import evaluate_batch, samples_per_batch
from flowtime.domain.evaluate.budget import DEFAULT_BUDGET, ModelBudget
from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.modeling import schemas
from flowtime.domain.modeling.grid import format_utc
from flowtime.domain.modeling.model import Model
from flowtime.domain.modeling.templates import Template, build_model, parse_template, template_id_from
from flowtime.domain.modeling.validation import output_series
from flowtime.domain.runs import (
    MAX_SEED,
    MODES,
    PMF_MODES,
    GridSummary,
    RunPlan,
    RunRecord,
    RunRequest,
    RunResult,
    RunSummary,
)
from flowtime.domain.services.catalog import (
    add_member,
    ensure_listed,
    heal,
    remember_unlisted,
)
from flowtime.domain.services.telemetry_binding import TelemetryInputs, bind_telemetry, binding_parameters
from flowtime.domain.views.flow_analysis import analyse, node_flows, throughput_links
from flowtime.domain.views.scenarios import Overlay, overrides_for, parameter_knobs
from flowtime.domain.views.scenarios import resolve as resolve_overlays
from flowtime.ports import (
    ArtifactStore,
    Clock,
    RandomSource,
    RunContext,
    RunObserver,
    TemplateSource,
)
from flowtime.ports.catalog import RunCatalog
from flowtime.ports.telemetry import TelemetrySource

log = logging.getLogger("flowtime.catalog")
runs_log = logging.getLogger("flowtime.runs")
RESERVED_RUN_IDS = frozenset({"compare"})  # /v1/runs/<these> are endpoints, not runs


@dataclass(slots=True)
class _Batch:
    """Series evaluated for many seeds at once, handed out one seed at a time. Seeds are
    evaluated `size` at a time when the first of them is asked for (a batch's memory is
    bounded: `batch.samples_per_batch`)."""

    model: Model
    pmf_mode: str
    pending: list[int]  # seeds not evaluated yet, in request order
    size: int
    evaluate: Callable[[list[int]], dict[str, np.ndarray] | None]
    rows: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)

    def take(self, model: Model, seed: int, pmf_mode: str) -> dict[str, np.ndarray] | None:
        if model is not self.model or pmf_mode != self.pmf_mode:
            return None  # not the batch's model (e.g. evicted from the model cache)
        if seed not in self.rows and seed in self.pending:
            start = self.pending.index(seed)
            part = self.pending[start:start + self.size]
            del self.pending[start:start + self.size]
            values = self.evaluate(part) if len(part) > 1 else None
            if values is not None:
                self.rows.update({s: {name: matrix[i] for name, matrix in values.items()}
                                  for i, s in enumerate(part)})
        return self.rows.pop(seed, None)


class NullObserver:
    """An observer that ignores everything (the default when none is wired)."""

    @contextmanager
    def run(self, ctx: RunContext) -> Iterator[None]:
        yield

    @contextmanager
    def phase(self, name: str, ctx: RunContext) -> Iterator[None]:
        yield

    def started(self, ctx: RunContext) -> None: ...
    def completed(self, ctx: RunContext, *, created: bool, dry_run: bool) -> None: ...
    def failed(self, ctx: RunContext, reason: str, error: BaseException) -> None: ...


def check_request(request: RunRequest) -> list[Problem]:
    problems: list[Problem] = []
    has_id = isinstance(request.template_id, str) and bool(request.template_id)
    if request.inline and has_id:
        problems.append(Problem("templateId", "give templateId or template (YAML text), not "
                                "both"))
    elif not request.inline and not has_id:
        problems.append(Problem("templateId", "is required (or give the template's YAML text "
                                "as `template`)"))
    if request.mode not in MODES:
        problems.append(Problem("mode", f"must be simulation or telemetry (got {request.mode!r})"))
    if request.pmf_mode not in PMF_MODES:
        problems.append(Problem("options.pmfMode", f"must be sample or expected (got "
                                f"{request.pmf_mode!r})"))
    if request.tags:
        try:
            check_tags(request.tags, "options.tags")
        except FlowTimeError as exc:
            problems.extend(exc.problems)
    if request.run_id is not None and not is_valid_run_id(request.run_id):
        problems.append(Problem(
            "options.runId",
            "must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ (letters, digits, '.', '_', '-')",
        ))
    elif request.run_id in RESERVED_RUN_IDS:
        problems.append(Problem("options.runId", f"'{request.run_id}' is reserved: "
                                f"/v1/runs/{request.run_id} is another endpoint"))
    seed = request.seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed <= MAX_SEED):
        problems.append(Problem("options.seed", f"must be an integer between 0 and {MAX_SEED}"))
    if request.mode == "telemetry" and request.telemetry is None:
        problems.append(Problem("telemetry", "is required in telemetry mode "
                                "(captureDirectory and bindings)"))
    return problems


class RunOrchestrationService:
    def __init__(
        self,
        templates: TemplateSource,
        store: ArtifactStore,
        clock: Clock,
        observer: RunObserver | None = None,
        telemetry: TelemetrySource | None = None,
        random: RandomSource | None = None,
        catalog: RunCatalog | None = None,
        budget: ModelBudget = DEFAULT_BUDGET,
    ):
        self.budget = budget
        self._behind = False  # a run of ours waits in the catalog backlog
        self.templates = templates
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.observer: RunObserver = observer or NullObserver()
        self.telemetry = telemetry
        self.random = random

    def create_runs(self, requests: Sequence[RunRequest]) -> list[RunResult | FlowTimeError]:
        """Create many runs; each result is what `create_run` gives for that request, or the
        error it raises. Requests that differ only in their seed (a sweep cell's Monte Carlo
        samples) are evaluated as one batch (`batch.py`): row i is bit-identical to
        evaluating seed i alone, so the runs are the same as made one by one."""
        batch = self._evaluate_batch(requests)
        results: list[RunResult | FlowTimeError] = []
        for request in requests:
            try:
                results.append(self.create_run(request, batch))
            except FlowTimeError as exc:
                results.append(exc)
        return results

    def _evaluate_batch(self, requests: Sequence[RunRequest]) -> _Batch | None:
        """The batch that serves requests sharing one model and differing in their seed;
        None when the requests do not qualify (they then run alone). Nothing is evaluated
        here: `create_run` asks the batch for a seed only once it knows the run is not
        reused, and the batch evaluates that seed with the next ones."""
        first = requests[0] if requests else None
        if (first is None or len(requests) < 2 or first.mode != "simulation" or first.overlays
                or any(r.seed is None or r.dry_run or r.mode != first.mode
                       or replace(r, seed=None) != replace(first, seed=None)
                       for r in requests) or any(check_request(r) for r in requests)):
            return None
        try:
            template = self._template(first)
            model = build_model(template, dict(first.parameters), self.budget)
        except FlowTimeError:
            return None  # each request reports its own error
        seeds = [int(request.seed) for request in requests if request.seed is not None]

        def evaluate(part: list[int]) -> dict[str, np.ndarray] | None:
            ctx = RunContext(template_id=template.id, mode=first.mode)
            try:
                with self._phase("evaluate_batch", ctx):  # a span and a log event of its own
                    return evaluate_batch(model, part, None, model.rng_kind, first.pmf_mode)
            except Exception:  # never lose the runs to the faster path: make them one by one
                runs_log.exception("batch evaluation of %d seeds failed; evaluating one by "
                                   "one", len(part))
                return None

        return _Batch(model, first.pmf_mode, seeds, samples_per_batch(model), evaluate)

    def create_run(self, request: RunRequest, batch: _Batch | None = None) -> RunResult:
        ctx = RunContext(template_id=str(request.template_id or request.template_name or "inline"),
                         mode=str(request.mode))
        start = self.clock.monotonic()
        with self.observer.run(ctx):
            self.observer.started(ctx)
            try:
                result = self._create(request, ctx, batch)
            except FlowTimeError as exc:
                ctx.elapsed_ms = (self.clock.monotonic() - start) * 1000.0
                self.observer.failed(ctx, exc.kind.value, exc)
                raise
            except Exception as exc:
                ctx.elapsed_ms = (self.clock.monotonic() - start) * 1000.0
                self.observer.failed(ctx, "internal", exc)
                raise
            ctx.elapsed_ms = (self.clock.monotonic() - start) * 1000.0
            self.observer.completed(ctx, created=result.created, dry_run=result.is_dry_run)
            return result

    @contextmanager
    def _phase(self, name: str, ctx: RunContext) -> Iterator[None]:
        """One phase; its duration is recorded before the observer sees it complete."""
        with self.observer.phase(name, ctx):
            start = self.clock.monotonic()
            yield
            ctx.durations_ms[name] = (self.clock.monotonic() - start) * 1000.0

    def _create(self, request: RunRequest, ctx: RunContext, batch: _Batch | None = None
                ) -> RunResult:
        with self._phase("validate", ctx):
            problems = check_request(request)
            if problems and any(p.loc == "templateId" for p in problems):
                raise invalid(problems)
            template = self._template(request)
            ctx.template_id = template.id
            parameters = dict(request.parameters)
            if request.mode == "telemetry" and request.telemetry is not None:
                bound, binding_problems = binding_parameters(
                    template.parameters, request.telemetry.bindings)
                parameters.update(bound)
                problems.extend(binding_problems)
            try:
                model = build_model(template, parameters, self.budget)
            except FlowTimeError as exc:
                if exc.kind is not ErrorKind.INVALID:
                    raise
                raise invalid(problems + exc.problems) from None
            if problems:
                raise invalid(problems)
            inputs = self._telemetry_inputs(model, request)
            seed = self._resolve_seed(template, model, request, inputs)
            resolved = resolve_overlays(request.overlays, model.plan.components,
                                        model.plan.node_ids, model.grid.bins,
                                        parameter_knobs(template.tree, template.text))
            scenario_hash = _scenario_hash(template, model, request.mode, seed, inputs,
                                           request.pmf_mode, request.overlays,
                                           request.base_run_id)
            run_id = self._choose_run_id(request, scenario_hash)
            ctx.run_id = run_id

        if request.dry_run:
            plan = RunPlan(
                template_id=template.id, mode=request.mode, run_id=run_id,
                scenario_hash=scenario_hash, seed=seed, parameters=model.parameters,
                grid=_grid_summary(model), series=output_series(model.definition, model.plan.node_ids),
                telemetry_bindings=dict(request.telemetry.bindings) if request.telemetry else {},
            )
            return RunResult(None, plan, [*model.warnings, *inputs.warnings], created=False)

        explicit = request.run_id is not None
        reusable = request.deterministic_run_id and not explicit
        if self.store.exists(run_id):
            if reusable:
                return self._existing(run_id, request.sweep_id)
            if not (explicit and request.overwrite_existing):
                raise FlowTimeError(ErrorKind.CONFLICT, f"run '{run_id}' already exists", [
                    Problem("options.runId", f"run '{run_id}' already exists; set "
                            "overwriteExisting to replace it"),
                ])

        with self._phase("evaluate", ctx):
            rng_kind = model.rng_kind
            values = batch.take(model, seed, request.pmf_mode) if batch is not None else None
            if values is None:
                values = evaluate_model(model, seed, inputs.overrides, rng_kind,
                                        request.pmf_mode)
            if resolved:  # the scenario: its inputs changed, everything downstream again
                overrides = {**inputs.overrides, **overrides_for(resolved, values)}
                values = evaluate_model(model, seed, overrides, rng_kind, request.pmf_mode)
            check_invariant(model.plan.class_series, values)
            checks = run_checks(model.definition, model.plan, values)
            analysis = run_analysis(model.plan, values, model.grid.bins)

        with self._phase("write", ctx):
            chosen = output_series(model.definition, model.plan.node_ids)
            series = {node_id: values[node_id] for node_id in chosen}
            classes = model.plan.class_series
            class_series = {node_id: [(c, values[name]) for c, name in
                                      zip(model.plan.classes, classes[node_id], strict=True)]
                            for node_id in chosen if node_id in classes}
            bundle = build_bundle(BundleInput(
                run_id=run_id, template=template, model=model, mode=request.mode, seed=seed,
                rng_kind=rng_kind, scenario_hash=scenario_hash,
                created_utc=format_utc(self.clock.now().replace(microsecond=0)),
                series=series, warnings=[*model.warnings, *inputs.warnings, *checks],
                telemetry_files=tuple(inputs.files),
                template_source="inline" if request.inline else "flowtime",
                pmf_mode=request.pmf_mode, class_series=class_series, analysis=analysis,
                sweep_id=request.sweep_id, base_run_id=request.base_run_id,
                overlays=[o.as_dict() for o in request.overlays],
            ), check=_validate_documents)
            published = self._publish(run_id, bundle, explicit and request.overwrite_existing,
                                      reusable)
        if not published:
            return self._existing(run_id, request.sweep_id)  # a concurrent identical won
        if request.tags:
            write_tags(self.store, run_id, dict(request.tags))
        self._catalog(replace(bundle.summary, tags=dict(request.tags)))
        record = record_of(bundle.run, bundle.metadata, bundle.index, bundle.telemetry,
                           sha256_bytes(bundle.files[PROVENANCE_JSON]),
                           lambda path: self.store.location(run_id, path), set(bundle.files),
                           decode(bundle.files[PROVENANCE_JSON], ProvenanceJson,
                                  PROVENANCE_JSON, run_id), bundle.manifest)
        return RunResult(record, None, record.warnings, created=True,
                         series={series_id(node): values for node, values in series.items()})

    def _template(self, request: RunRequest) -> Template:
        if request.template_text is None:
            assert request.template_id is not None  # check_request made sure
            return self.templates.get(request.template_id)
        name = request.template_name or "inline"
        return parse_template(request.template_text, loc="template",
                              default_id=template_id_from(name))

    def _publish(self, run_id: str, bundle: Bundle, overwrite: bool, reusable: bool) -> bool:
        """Publish; False when an identical deterministic run appeared meanwhile."""
        try:
            self.store.publish(run_id, bundle.files, bundle.summary, overwrite=overwrite)
        except FlowTimeError as exc:
            if exc.kind is ErrorKind.CONFLICT and reusable:
                return False
            raise
        return True

    def scenario(self, base_run_id: str, overlays: tuple[Any, ...],
                 deterministic_run_id: bool = False, tags: dict[str, str] | None = None
                 ) -> RunResult:
        """A scenario of a stored run (MODELING §10): the same template, parameters, seed and
        pmfMode with `overlays`, linked to its baseline by `baseRunId`."""
        record = describe_run(self.store, base_run_id)  # an unknown run: 404
        if record.mode != "simulation":
            raise invalid([Problem("runId", "scenarios derive from simulation runs; for a "
                                   "telemetry run POST /v1/runs with its bindings and overlays")])
        template_id: str | None = record.template_id
        text = None
        try:
            same = self.templates.get(record.template_id).content_hash == record.template_hash
        except FlowTimeError:
            same = False
        parameters = dict(record.parameters)
        if not same:  # an inline template, or the catalogue's changed: the stored model
            template_id = None
            text = self.store.read(base_run_id, MODEL_YAML).decode("utf-8")
            parameters = {}
        request = RunRequest(
            template_id=template_id, parameters=parameters, seed=record.seed,
            pmf_mode=record.pmf_mode, deterministic_run_id=deterministic_run_id,
            template_text=text, template_name=record.template_id if text else None,
            tags=dict(tags or {}), overlays=tuple(overlays), base_run_id=base_run_id)
        return self.create_run(request)

    def _existing(self, run_id: str, sweep_id: str | None = None) -> RunResult:
        record = describe_run(self.store, run_id)
        if self.catalog is not None:  # reused (e.g. a resumed sweep): make sure it is listed
            ensure_listed(self.catalog, replace(record, tags=read_tags(self.store, run_id)))
            if sweep_id is not None and sweep_id != record.sweep_id:
                add_member(self.catalog, sweep_id, run_id)  # a point of this sweep too
        return RunResult(record, None, record.warnings, created=False)

    def _catalog(self, summary: RunSummary) -> None:
        """Index a published run. The bundle is already safe in the store: when the catalog
        cannot take the row, the run is still created (and listed again after `flowtime
        catalog sync`, or as soon as it is fetched by id)."""
        if self.catalog is None:
            return
        try:
            self.catalog.upsert(summary)
        except FlowTimeError as exc:
            log.warning("run %s is published but not cataloged yet: %s", summary.run_id,
                        exc.detail)
            remember_unlisted(self.store, summary.run_id)
            self._behind = True
            return
        if self._behind:  # the catalog is back: list what it missed (this process's notes
            self._behind = False  # and any other's)
            with contextlib.suppress(FlowTimeError):
                heal(self.store, self.catalog)

    def _telemetry_inputs(self, model: Model, request: RunRequest) -> TelemetryInputs:
        if request.mode != "telemetry":
            return TelemetryInputs.empty()
        if self.telemetry is None:
            raise FlowTimeError(ErrorKind.INVALID, "telemetry mode is not configured", [
                Problem("mode", "telemetry mode needs a capture root (FLOWTIME_CAPTURE_ROOT)")])
        assert request.telemetry is not None
        return bind_telemetry(model, request.telemetry, self.telemetry)

    def _resolve_seed(
        self, template: Template, model: Model, request: RunRequest, inputs: TelemetryInputs
    ) -> int:
        if request.seed is not None:
            return request.seed
        rng = model.definition.rng
        if rng is not None and rng.seed is not None:
            return rng.seed
        if request.deterministic_run_id:
            return seed_from_hash(_scenario_hash(template, model, request.mode, None, inputs,
                                                 request.pmf_mode))
        return self._random().seed()

    def _choose_run_id(self, request: RunRequest, scenario_hash: str) -> str:
        if request.run_id is not None:
            return request.run_id
        if request.deterministic_run_id:
            return deterministic_run_id(scenario_hash)
        return random_run_id(self.clock.now(), self._random().token())

    def _random(self) -> RandomSource:
        if self.random is None:
            raise FlowTimeError(ErrorKind.INTERNAL, "no random source configured", [
                Problem("options", "set a seed and deterministicRunId, or wire a RandomSource")])
        return self.random


def describe_run(store: ArtifactStore, run_id: str) -> RunRecord:
    bundle = store.read_many(run_id, RECORD_FILES)  # one version, fetched together

    def read(path: str) -> bytes:
        found = bundle.data.get(path)
        return found if found is not None else store.read(run_id, path)  # names what lacks

    return read_record(run_id, read, lambda path: store.location(run_id, path),
                       set(bundle.files))


def _grid_summary(model: Model) -> GridSummary:
    grid = model.grid
    return GridSummary(grid.bins, grid.bin_size, grid.bin_unit, format_utc(grid.start),
                       grid.duration_minutes)


class ScenarioIdentity(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """What makes two runs the same scenario: hashed (canonical JSON, camelCase keys) into
    the scenario hash and the deterministic run id. The optional fields are left out when
    None (msgspec omits a default by identity, so only None is safe): sample runs without
    overlays keep the hashes they always had."""

    template_id: str
    template_hash: str
    mode: str
    parameters: dict[str, Any]
    seed: int | None
    telemetry: dict[str, str]
    pmf_mode: str | None = None  # None for "sample"
    overlays: tuple[Overlay, ...] | None = None
    base_run_id: str | None = None


def _scenario_hash(
    template: Template, model: Model, mode: str, seed: int | None, inputs: TelemetryInputs,
    pmf_mode: str = "sample", overlays: tuple[Overlay, ...] = (), base_run_id: str | None = None,
) -> str:
    return sha256_canonical(msgspec.to_builtins(ScenarioIdentity(
        template_id=template.id, template_hash=template.content_hash, mode=mode,
        parameters=model.parameters, seed=seed, telemetry=inputs.hashes,
        pmf_mode=None if pmf_mode == "sample" else pmf_mode,
        overlays=tuple(overlays) or None, base_run_id=base_run_id or None)))


def run_analysis(plan: EvaluationPlan, values: dict[str, np.ndarray], bins: int
                 ) -> AnalysisJson | None:
    """The run's bottlenecks over all its bins (flow_analysis rules); None without any."""
    findings = analyse(node_flows(plan.components, plan.edges, values.get),
                       throughput_links(plan.edges),
                       0, bins - 1)
    bottlenecks = [BottleneckJson(node_id=f.node_id, bins=list(f.bins),
                                  queue_growth=float(f.growth or 0.0),
                                  mean_utilization=f.utilization, path=list(f.nodes))
                   for f in findings if f.code == "bottleneck"]
    return AnalysisJson(bottlenecks=bottlenecks) if bottlenecks else None


def _validate_documents(documents: BundleDocuments) -> None:
    """The bundle's JSON against `schemas/` (the contract) before any of it is published."""
    problems: list[Problem] = []
    for path, doc in documents.by_path.items():
        schema = BUNDLE_DOCUMENTS[path][1]
        if schema is not None:
            problems.extend(schemas.validate_output(schema, to_builtins(doc), prefix=path))
    if problems:
        raise FlowTimeError(ErrorKind.INTERNAL, "bundle failed schema validation; not published",
                            problems)

