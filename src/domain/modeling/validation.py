"""Semantic validation of a substituted model; every problem is collected."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from datetime import timedelta

from flowtime.domain.compile.classes import ClassCompilation, compile_classes
from flowtime.domain.compile.compiler import EvaluationPlan, FeedbackStep, compile_model
from flowtime.domain.compile.flow import FlowCompilation, compile_flow
from flowtime.domain.compile.kinds import kind_of
from flowtime.domain.errors import Problem, ProblemCollector
from flowtime.domain.expressions.ast import ArrayLit, Call, Expr, Ref, children, references
from flowtime.domain.expressions.functions import FUNCTIONS
from flowtime.domain.expressions.parser import ExpressionError, parse_expression
from flowtime.domain.modeling.grid import BIN_UNIT_MINUTES, parse_utc
from flowtime.domain.modeling.model import (
    BufferNode,
    ConstNode,
    ExprNode,
    ModelDef,
    PmfNode,
    initial_conditions,
)
from flowtime.domain.modeling.profiles import BUILTIN as BUILTIN_PROFILES
from flowtime.domain.runs import RunWarning

PMF_TOLERANCE = 1e-6


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse_node_expressions(model: ModelDef) -> tuple[dict[str, Expr], list[Problem]]:
    """ASTs of every expr node, and problems for expressions that do not parse."""
    asts: dict[str, Expr] = {}
    problems: list[Problem] = []
    for i, node in enumerate(model.nodes):
        if not isinstance(node, ExprNode):
            continue
        try:
            asts[node.id] = parse_expression(node.expr_text)
        except ExpressionError as exc:
            problems.append(Problem(f"nodes[{i}].expr", f"{exc.message} at column {exc.column}"))
    return asts, problems


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Every problem of a model; when there is none, its plan; and non-fatal warnings."""

    problems: list[Problem]
    plan: EvaluationPlan | None
    warnings: list[RunWarning]


def validate_model(model: ModelDef) -> list[Problem]:
    return validate_and_plan(model).problems


def validate_and_plan(model: ModelDef) -> ValidationResult:
    """Validate everything; the plan is built here so expressions are parsed and ordered once."""
    problems = ProblemCollector()
    warnings: list[RunWarning] = []
    _check_window(model, problems)
    positions = _check_node_ids(model, problems)
    _check_node_values(model, problems)
    asts, parse_problems = parse_node_expressions(model)
    problems.extend(parse_problems)
    flow = compile_flow(model)
    problems.extend(flow.problems)
    warnings.extend(flow.warnings)
    series = [*positions, *(s.node_id for s in flow.series)]
    _check_references(model, asts, positions, series, flow.initial, problems)
    _check_topology(model, series, problems, warnings)
    _check_outputs(model, series, problems)
    if not problems:
        classes = compile_classes(model, asts, flow)
        problems.extend(classes.problems)
    plan = _check_graph(model, asts, flow, classes, positions, problems) if not problems \
        else None
    return ValidationResult(problems.problems, plan if not problems else None, warnings)


def _check_window(model: ModelDef, problems: ProblemCollector) -> None:
    start = model.window.start or model.grid.start
    if not start:
        problems.add("window.start", "is required (an ISO 8601 UTC instant like 2025-01-01T00:00:00Z)")
    elif parse_utc(start) is None:
        problems.add(
            "window.start", f"{start!r} must be an ISO 8601 UTC instant like 2025-01-01T00:00:00Z"
        )
    else:
        begin = parse_utc(start)
        minutes = model.grid.bins * model.grid.bin_size * BIN_UNIT_MINUTES.get(
            model.grid.bin_unit, 1)
        try:
            assert begin is not None
            begin + timedelta(minutes=minutes)
        except OverflowError:
            problems.add("window.start", f"{start} plus {model.grid.bins} bins of "
                         f"{model.grid.bin_size} {model.grid.bin_unit} ends after year 9999")


def _check_node_ids(model: ModelDef, problems: ProblemCollector) -> dict[str, int]:
    return _unique_ids([n.id for n in model.nodes], "nodes", "node", problems)


def _unique_ids(ids: list[str], where: str, what: str, problems: ProblemCollector
                ) -> dict[str, int]:
    """Position of each id's first use; every later use is a duplicate problem."""
    positions: dict[str, int] = {}
    for i, item in enumerate(ids):
        if item in positions:
            problems.add(f"{where}[{i}].id", f"duplicate {what} id '{item}' (first defined at "
                         f"{where}[{positions[item]}])")
        else:
            positions[item] = i
    return positions


def _check_node_values(model: ModelDef, problems: ProblemCollector) -> None:
    bins = model.grid.bins
    for i, node in enumerate(model.nodes):
        loc = f"nodes[{i}]"
        if isinstance(node, ConstNode):
            if len(node.values) != bins:
                problems.add(
                    f"{loc}.values",
                    f"length {len(node.values)} does not match grid.bins {bins}",
                )
            _check_finite(node.values, f"{loc}.values", problems)
        if isinstance(node, PmfNode):
            _check_pmf(node, loc, problems)
            if node.profile is not None:
                _check_profile(node, loc, bins, problems)
        if node.initial is not None and not math.isfinite(node.initial):
            problems.add(f"{loc}.initial", "must be a finite number")


def _check_finite(values: list[float], loc: str, problems: ProblemCollector) -> None:
    for j, value in enumerate(values):
        if not math.isfinite(value):
            problems.add(f"{loc}[{j}]", "must be a finite number")
            return


def _check_profile(node: PmfNode, loc: str, bins: int, problems: ProblemCollector) -> None:
    profile = node.profile
    assert profile is not None
    if profile.kind == "builtin":
        if profile.name not in BUILTIN_PROFILES:
            known = ", ".join(sorted(BUILTIN_PROFILES))
            problems.add(f"{loc}.profile.name", f"unknown builtin profile {profile.name!r} "
                         f"(builtin: {known})")
    elif profile.kind == "inline":
        weights = profile.weights or []
        if len(weights) != bins:
            problems.add(f"{loc}.profile.weights", f"has {len(weights)} weights; the grid has "
                         f"{bins} bins (one weight per bin)")
        bad = [j for j, w in enumerate(weights) if not math.isfinite(w) or w < 0]
        if bad:
            problems.add(f"{loc}.profile.weights[{bad[0]}]", "weights must be finite and ≥ 0")
        elif weights and sum(weights) <= 0:
            problems.add(f"{loc}.profile.weights", "at least one weight must be > 0")
    if profile.align not in ("index", "clock"):
        problems.add(f"{loc}.profile.align", "must be index (by bin) or clock (by time of day)")
    elif profile.align == "clock" and profile.kind != "builtin":
        problems.add(f"{loc}.profile.align", "clock alignment applies to builtin profiles")


def _check_pmf(node: PmfNode, loc: str, problems: ProblemCollector) -> None:
    pmf = node.pmf
    if len(pmf.values) != len(pmf.probabilities):
        problems.add(
            f"{loc}.pmf",
            f"values has {len(pmf.values)} entries but probabilities has {len(pmf.probabilities)}",
        )
    _check_finite(pmf.values, f"{loc}.pmf.values", problems)
    negative = [j for j, p in enumerate(pmf.probabilities) if p < 0]
    if negative:
        problems.add(f"{loc}.pmf.probabilities[{negative[0]}]", "probabilities must be ≥ 0")
    total = math.fsum(pmf.probabilities)
    if not math.isfinite(total) or abs(total - 1.0) > PMF_TOLERANCE:
        problems.add(f"{loc}.pmf.probabilities", f"must sum to 1 (within 1e-6), got {total:.9g}")


def _walk(node: Expr):
    yield node
    for child in children(node):
        yield from _walk(child)


def _check_references(
    model: ModelDef, asts: dict[str, Expr], positions: dict[str, int], known: list[str],
    synthesized_initial: dict[str, float], problems: ProblemCollector,
) -> None:
    names = set(known)
    initials = _initial_nodes(model) | set(synthesized_initial)
    for i, node in enumerate(model.nodes):
        if isinstance(node, BufferNode):
            series = [("inflow", node.inflow), ("outflow", node.outflow), ("loss", node.loss)]
            if node.dispatch_schedule is not None:
                series.append(("dispatchSchedule.capacitySeries",
                               node.dispatch_schedule.capacity_series))
            for field, name in series:
                if name and name not in names:
                    problems.add(f"nodes[{i}].{field}",
                                 f"unknown series '{name}'{_suggest(name, known)}")
        if node.dependencies is not None and node.id in asts:
            read = {r.name for r in references(asts[node.id])}
            listed = set(node.dependencies)
            if read != listed:
                extra, missing = sorted(listed - read), sorted(read - listed)
                problems.add(f"nodes[{i}].dependencies", "must list exactly what the expression "
                             f"reads (not read: {extra or 'none'}; not listed: {missing or 'none'})")
    for node_id, ast in asts.items():
        loc = f"nodes[{positions[node_id]}].expr"
        for ref in references(ast):
            if ref.name not in names:
                problems.add(
                    loc,
                    f"unknown node '{ref.name}' at column {ref.col}{_suggest(ref.name, known)}",
                )
            elif ref.name == node_id and not ref.delayed:
                problems.add(
                    loc,
                    f"'{node_id}' refers to itself without a delay at column {ref.col} "
                    "(use SHIFT({0}, 1))".format(node_id),
                )
        for sub in _walk(ast):
            if isinstance(sub, Call) and sub.name == "SHIFT":
                target = sub.args[0]
                if isinstance(target, Ref) and target.name == node_id and node_id not in initials:
                    problems.add(
                        loc,
                        f"'{node_id}' refers to itself through SHIFT at column {sub.col} but has no "
                        f"initial condition; set nodes[{positions[node_id]}].initial or the "
                        "topology initialCondition.queueDepth of the node whose queue it is",
                    )


def _initial_nodes(model: ModelDef) -> set[str]:
    return set(initial_conditions(model))


def _check_topology(
    model: ModelDef, known: list[str], problems: ProblemCollector, warnings: list[RunWarning],
) -> None:
    topology = model.topology
    names = set(known)
    seen = _unique_ids([t.id for t in topology.nodes], "topology.nodes", "topology node",
                       problems)
    _unique_ids([c.id for c in topology.constraints], "topology.constraints", "constraint",
                problems)
    for k, constraint in enumerate(topology.constraints):
        capacity = constraint.semantics.served
        if capacity is not None and capacity not in names:
            problems.add(f"topology.constraints[{k}].semantics.served",
                         f"unknown series '{capacity}'{_suggest(capacity, known)}")
    for i, tnode in enumerate(topology.nodes):
        for field, series in tnode.semantics.all_series():
            if series not in names:
                camel = _camel(field)
                if field == "queue" and tnode.semantics.queue_depth:
                    camel = "queueDepth"
                problems.add(
                    f"topology.nodes[{i}].semantics.{camel}",
                    f"unknown series '{series}'{_suggest(series, known)}",
                )
        ic = tnode.initial_condition
        if ic is not None and ic.queue_depth is not None and not math.isfinite(ic.queue_depth):
            problems.add(f"topology.nodes[{i}].initialCondition.queueDepth", "must be finite")
    for j, edge in enumerate(topology.edges):
        for end, target in (("from" if edge.from_ else "source", edge.origin),
                            ("to" if edge.to else "target", edge.destination)):
            if target not in seen and not (end in ("from", "source") and target in names):
                problems.add(
                    f"topology.edges[{j}].{end}",
                    f"unknown topology node '{target}'{_suggest(target, list(seen))}",
                )
        if not math.isfinite(edge.weight) or edge.weight < 0:
            problems.add(f"topology.edges[{j}].weight", "must be a finite number ≥ 0")
    dlqs = {t.id for t in topology.nodes if kind_of(t.kind).terminal_edges}
    for j, edge in enumerate(topology.edges):
        if edge.type.lower() == "terminal":
            continue
        for end, node_id in (("inbound", edge.destination), ("outbound", edge.origin)):
            if node_id in dlqs:
                warnings.append(RunWarning(
                    f"dlq_non_terminal_{end}",
                    f"topology.edges[{j}]: {end} edge of dead-letter queue '{node_id}' is "
                    f"'{edge.type}'; DLQ edges should be `type: terminal`", node_id=node_id))
    if len(topology.nodes) > 1 and not topology.edges:
        # The reference accepts unconnected topologies; say so, but do not refuse the model.
        warnings.append(RunWarning(
            "topology_without_edges",
            f"topology.edges: {len(topology.nodes)} topology nodes but no edges connect them",
            severity="info",
        ))


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)


def output_series(model: ModelDef, ids: list[str] | tuple[str, ...]) -> list[str]:
    """Series selected by `outputs` (all when outputs is empty), in plan order; `ids`
    are every series of the compiled model (`plan.node_ids`)."""
    ids = list(ids)
    if not model.outputs:
        return ids
    chosen: set[str] = set()
    excluded: set[str] = set()
    for output in model.outputs:
        chosen.update(_match(output.selector, ids))
        excluded.update(output.exclude)
    return [i for i in ids if i in chosen and i not in excluded]


def _match(pattern: str, ids: list[str]) -> list[str]:
    if pattern == "*":
        return ids
    if pattern.endswith("*"):
        prefix = pattern[:-1].rstrip("/")
        return [i for i in ids if i.startswith(prefix)]
    return [i for i in ids if i == pattern]


def _check_outputs(model: ModelDef, ids: list[str], problems: ProblemCollector) -> None:
    positions = set(ids)
    for i, output in enumerate(model.outputs):
        if not _match(output.selector, ids):
            field = "series" if output.series else "source"
            problems.add(
                f"outputs[{i}].{field}",
                f"unknown series '{output.selector}'{_suggest(output.selector, ids)}",
            )
        for j, name in enumerate(output.exclude):
            if name not in positions:
                problems.add(f"outputs[{i}].exclude[{j}]", f"unknown series '{name}'")


def _check_graph(
    model: ModelDef, asts: dict[str, Expr], flow: FlowCompilation, classes: ClassCompilation,
    positions: dict[str, int], problems: ProblemCollector,
) -> EvaluationPlan:
    plan, cycles = compile_model(model, asts, flow, classes)
    for cycle in cycles:
        defined = [n for n in cycle[:-1] if n in positions]
        loc = f"nodes[{positions[min(defined, key=positions.__getitem__)]}].expr" if defined \
            else "topology"
        problems.add(
            loc,
            "cycle without a delay: " + " -> ".join(cycle)
            + " (a feedback loop needs SHIFT(x, 1) or more somewhere on it)",
        )
    class_names = set(plan.class_ids())
    for step in plan.steps:
        if not isinstance(step, FeedbackStep):
            continue
        looped = sorted(class_names.intersection(step.members))
        if looped:
            problems.add("classes", "class series inside a feedback loop are not supported ("
                         + ", ".join(looped[:3]) + "): route by class outside the loop")
        members = set(step.members)
        for node_id in step.members:
            if node_id not in asts:
                continue  # synthesized: built with node ids only
            for sub in _walk(asts[node_id]):
                if not (isinstance(sub, Call) and FUNCTIONS[sub.name].reads_past):
                    continue
                target = sub.args[0]
                uses_loop = any(r.name in members for r in references(target))
                if uses_loop and not isinstance(target, Ref | ArrayLit):
                    problems.add(
                        f"nodes[{positions[node_id]}].expr",
                        f"inside a feedback loop, {sub.name} at column {sub.col} must apply to a "
                        "node id, not an expression (move the expression into its own node)",
                    )
    return plan
