"""The analysis service: the one place HTTP, the CLI and what-if sessions ask questions of a
model (MODELING §6). It loads the template (catalogue id or YAML text), compiles a `Study`
once per question and runs the operation; a result is written only when asked (`save`:
`analyses/<id>/result.json` through the store's record port)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import msgspec

from flowtime.domain.artifacts.hashing import sha256_canonical
from flowtime.domain.compile.checks import run_checks
from flowtime.domain.errors import FlowTimeError, Problem, invalid
from flowtime.domain.evaluate.budget import DEFAULT_BUDGET, ModelBudget
from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.evaluate.work import DEFAULT_LIMITS, WorkGuard, WorkLimits, check_work
from flowtime.domain.modeling.grid import format_utc
from flowtime.domain.modeling.templates import Template, build_model, parse_template, template_id_from
from flowtime.domain.runs import RunWarning
from flowtime.domain.services.analysis import (
    Constraint,
    OptimizeResult,
    SeekResult,
    SensitivityPoint,
    Study,
    goal_seek,
    optimize,
    sensitivity,
)
from flowtime.ports import Clock, TemplateSource
from flowtime.ports.sweeps import RecordStore

TIERS = ("schema", "compile", "analyse")
RECORD_KIND = "analyses"


class SavedAnalysis(msgspec.Struct, frozen=True, rename="camel"):
    """A kept result (`analyses/<id>`): the question as asked and the answer, both in the
    wire form the driver gave them (the domain does not read inside either)."""

    id: str
    kind: str
    created_utc: str
    request: dict[str, Any]
    result: Any
    template_name: str | None = None


@dataclass(frozen=True, slots=True)
class StudySource:
    """Which model a question is about, and how it is evaluated."""

    template_id: str | None = None
    template_text: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    seed: int = 1
    pmf_mode: str = "sample"
    samples: int = 1


@dataclass(frozen=True, slots=True)
class ValidationReport:
    valid: bool
    tier: str
    problems: list[Problem]
    warnings: list[RunWarning]


class AnalysisService:
    def __init__(self, templates: TemplateSource, store: RecordStore | None = None,
                 clock: Clock | None = None, budget: ModelBudget = DEFAULT_BUDGET,
                 limits: WorkLimits = DEFAULT_LIMITS):
        self.budget = budget
        self.limits = limits
        self.templates = templates
        self.store = store
        self.clock = clock

    # -- saved results (`analyses/<id>/result.json`) -------------------------------------
    def save(self, kind: str, request: dict[str, Any], result: dict[str, Any],
             template_name: str | None = None) -> str:
        """Keep a result; the id follows from the question, so asking again replaces it."""
        assert self.store is not None and self.clock is not None
        analysis_id = "analysis_" + sha256_canonical(
            {"kind": kind, "request": request}).removeprefix("sha256:")[:16]
        record = SavedAnalysis(
            id=analysis_id, kind=kind,
            created_utc=format_utc(self.clock.now().replace(microsecond=0)),
            request=request, result=result, template_name=template_name)
        # the json module (not msgspec) both ways: results written before kept NaN/Infinity
        self.store.write_record(RECORD_KIND, analysis_id,
                                json.dumps(msgspec.to_builtins(record)).encode("utf-8"))
        return analysis_id

    def saved(self, analysis_id: str) -> SavedAnalysis:
        assert self.store is not None
        return msgspec.convert(json.loads(self.store.read_record(RECORD_KIND, analysis_id)),
                               SavedAnalysis)

    def list_saved(self) -> list[SavedAnalysis]:
        """Every saved result, the newest first."""
        assert self.store is not None
        items = [self.saved(analysis_id) for analysis_id in self.store.list_records(RECORD_KIND)]
        return sorted(items, key=lambda i: i.created_utc, reverse=True)

    @staticmethod
    def check_source(source: StudySource) -> None:
        if (source.template_id is None) == (source.template_text is None):
            raise invalid([Problem("templateId", "give templateId or template (its YAML "
                                   "text), not both and not neither")])

    def template(self, source: StudySource) -> Template:
        self.check_source(source)
        if source.template_text is not None:
            return parse_template(source.template_text, loc="template",
                                  default_id=template_id_from("inline"))
        assert source.template_id is not None
        return self.templates.get(source.template_id)

    def study(self, source: StudySource, guard: WorkGuard | None = None) -> Study:
        study = Study(self.template(source), source.parameters, budget=self.budget,
                      seed=source.seed, pmf_mode=source.pmf_mode, samples=source.samples)
        study.guard = guard
        return study

    def _budgeted(self, source: StudySource, guard: WorkGuard | None, evaluations: int
                  ) -> Study:
        """The study, once the question's work (evaluations × cells) fits the budget."""
        study = self.study(source, guard)
        check_work(self.limits, evaluations * study.samples, study.cells())
        return study

    def sensitivity(self, source: StudySource, knobs: list[str], metric: str,
                    statistic: str = "mean", perturbation: float = 0.05,
                    guard: WorkGuard | None = None) -> list[SensitivityPoint]:
        study = self._budgeted(source, guard, 1 + 2 * len(knobs))
        return sensitivity(study, knobs, metric, statistic, perturbation)

    def goal_seek(self, source: StudySource, knob: str, metric: str, target: float,
                  lo: float, hi: float, statistic: str = "mean", tolerance: float = 1e-6,
                  max_iterations: int = 50, guard: WorkGuard | None = None) -> SeekResult:
        study = self._budgeted(source, guard, 2 + max_iterations)
        return goal_seek(study, knob, metric, target, lo, hi, statistic, tolerance,
                         max_iterations)

    def optimize(self, source: StudySource, knobs: list[str],
                 ranges: dict[str, tuple[float, float]], metric: str,
                 objective: str = "minimize", statistic: str = "mean",
                 tolerance: float = 1e-4, max_iterations: int = 200,
                 constraints: list[Constraint] | None = None,
                 guard: WorkGuard | None = None) -> OptimizeResult:
        if len(knobs) > self.limits.max_knobs:
            raise invalid([Problem("knobs", f"{len(knobs)} knobs; at most "
                                   f"{self.limits.max_knobs}")])
        if constraints and len(constraints) > self.limits.max_constraints:
            raise invalid([Problem("constraints", f"{len(constraints)} constraints; at most "
                                   f"{self.limits.max_constraints}")])
        # Nelder–Mead may evaluate about twice per iteration, plus its first simplex
        study = self._budgeted(source, guard, 2 * max_iterations + len(knobs) + 1)
        return optimize(study, knobs, ranges, metric, objective, statistic, tolerance,
                        max_iterations, constraints)

    def validate(self, source: StudySource, tier: str = "compile") -> ValidationReport:
        """`schema`: the template's structure; `compile`: also the model built from the
        parameters; `analyse`: also evaluated once, with the run checks' warnings."""
        if tier not in TIERS:
            raise invalid([Problem("tier", f"must be one of {', '.join(TIERS)}")])
        self.check_source(source)  # a request that names no model is malformed: 400
        try:
            template = self.template(source)
            if tier == "schema":
                return ValidationReport(True, tier, [], [])
            model = build_model(template, source.parameters, self.budget)
        except FlowTimeError as exc:
            if exc.kind != "invalid":
                raise
            return ValidationReport(False, tier, exc.problems, [])
        warnings = list(model.warnings)
        if tier == "analyse":
            values = evaluate_model(model, source.seed, pmf_mode=source.pmf_mode)
            warnings += run_checks(model.definition, model.plan, values)
        return ValidationReport(True, tier, [], warnings)
