"""`flowtime analyze sensitivity|goal-seek|optimize|validate`: the analysis service from
the shell. Each command builds the same body as its HTTP route (adapters/analysis_wire.py)
from its options, or takes that body whole with `--spec FILE|-`, so one request works in
both; `--json` prints the same answer the route returns (docs/analysis.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from flowtime.adapters.cli.errors import EXIT_FAILURE, report_errors

B = TypeVar("B")


def _study_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--template-id", help="A catalogue template."),
        click.option("--file", "file_path", type=click.Path(exists=True, dir_okay=False),
                     help="A template or model file instead."),
        click.option("--spec", "spec", metavar="FILE|-",
                     help="The HTTP request body as JSON (a file, or - for standard input); "
                          "the other options are then not used."),
        click.option("--param", "params", multiple=True, metavar="K=V",
                     help="Parameter value (base of the question)."),
        click.option("--seed", type=click.IntRange(0, 2**53), default=1, show_default=True,
                     help="0…2^53, as everywhere."),
        click.option("--samples", type=click.IntRange(1, 1000), default=1, show_default=True,
                     help="Average every evaluation over this many seeds."),
        click.option("--pmf-mode", type=click.Choice(["sample", "expected"]),
                     default="sample", show_default=True),
        click.option("--statistic", default="mean", show_default=True,
                     help="mean, sum, max, p95 or last:N"),
        click.option("--templates", "templates_url", help="Template folder."),
        click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _service(templates_url: str | None) -> Any:
    from flowtime.container import Settings, build_container

    return build_container(Settings.from_env(templates_url=templates_url)).analysis()


def _spec(spec: str, body_type: type[B]) -> B:
    """The JSON body of a `--spec` file (or standard input), decoded as HTTP decodes it."""
    import sys
    from pathlib import Path

    raw = sys.stdin.buffer.read() if spec == "-" else Path(spec).read_bytes()
    return _decode(raw, body_type, "spec")


def _decode(raw: bytes, body_type: type[B], prefix: str) -> B:
    """adapters/wire.decode_body, imported when used: the CLI starts faster without it."""
    from flowtime.adapters.wire import decode_body

    return decode_body(raw, body_type, prefix)


def _study_fields(service: Any, template_id: str | None, file_path: str | None,
                  params: tuple[str, ...], seed: int, samples: int, pmf_mode: str,
                  statistic: str) -> dict[str, Any]:
    """The StudyBody fields from the shared options (parameters typed by the template)."""
    from pathlib import Path

    from flowtime.domain.services.analysis_service import StudySource

    text = Path(file_path).read_text(encoding="utf-8") if file_path else None
    template = service.template(StudySource(template_id, text, {}, seed, pmf_mode, samples))
    parameters = typed_parameters(template, params)
    return {"template_id": template_id, "template": text, "parameters": parameters,
            "seed": seed, "samples": samples, "pmf_mode": pmf_mode, "statistic": statistic}


def typed_parameters(template: Any, params: tuple[str, ...]) -> dict[str, Any]:
    """`--param K=V` values, typed by the template's parameter definitions."""
    from flowtime.domain.errors import Problem, invalid
    from flowtime.domain.modeling.parameters import parse_cli_value

    definitions = {p.name: p for p in template.parameters}
    parameters: dict[str, Any] = {}
    for item in params:
        if "=" not in item:
            raise invalid([Problem("--param", f"expected K=V, got {item!r}")])
        key, value = item.split("=", 1)
        parameters[key] = parse_cli_value(definitions.get(key), value)
    return parameters


def _body(body_type: type[B], common: dict[str, Any], fields: dict[str, Any],
          required: tuple[str, ...]) -> B:
    """The body from options; `--spec` wins. A missing required option is a usage error."""
    service = common.pop("service")
    spec = common.pop("spec")
    if spec is not None:
        return _spec(spec, body_type)
    missing = [name for name in required if fields.get(name) in (None, (), [])]
    if missing:
        raise click.UsageError("missing " + ", ".join(
            "--" + name.replace("_", "-") for name in missing) + " (or give --spec)")
    import msgspec

    study = _study_fields(service, **common)
    # through JSON, so the options get the HTTP body's checks (bounds, lengths) and locations
    return _decode(msgspec.json.encode(body_type(**study, **fields)), body_type, "")


def _common(kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    as_json = kwargs.pop("as_json")
    service = _service(kwargs.pop("templates_url"))
    common = {k: kwargs.pop(k) for k in ("template_id", "file_path", "params", "seed",
                                         "samples", "pmf_mode", "statistic", "spec")}
    common["service"] = service
    return common, as_json


def _parse_constraint(text: str) -> Any:
    """`METRIC<=MAX`, `METRIC>=MIN`, or `METRIC:STATISTIC<=MAX` (statistic mean by default)."""
    from flowtime.adapters.analysis_wire import ConstraintBody
    from flowtime.domain.errors import Problem, invalid

    match = re.fullmatch(r"\s*([^:<>=\s]+)(?::([^<>=\s]+))?\s*(<=|>=)\s*(\S+)\s*", text)
    if match is None:
        raise invalid([Problem("--constraint", f"expected METRIC<=MAX or METRIC>=MIN "
                                               f"(METRIC:STATISTIC<=MAX), got {text!r}")])
    metric, statistic, op, number = match.groups()
    try:
        bound = float(number)
    except ValueError:
        raise invalid([Problem("--constraint", f"{number!r} is not a number")]) from None
    return ConstraintBody(metric, statistic or "mean",
                          max=bound if op == "<=" else None, min=bound if op == ">=" else None)


def _ranges(items: tuple[str, ...]) -> dict[str, Any]:
    from flowtime.adapters.analysis_wire import RangeBody
    from flowtime.domain.errors import Problem, invalid

    found = {}
    for item in items:
        try:
            knob, span = item.split("=", 1)
            lo, hi = (float(v) for v in span.split(":", 1))
        except ValueError:
            raise invalid([Problem("--range", f"expected KNOB=LO:HI, got {item!r}")]) from None
        found[knob] = RangeBody(lo, hi)
    return found


@click.group()
def analyze() -> None:
    """Ask a model questions: sensitivity, goal-seek, optimize, validate."""


@analyze.command("sensitivity")
@_study_options
@click.option("--knob", "knobs", multiple=True, help="Knob id (repeat).")
@click.option("--metric", help="Series id, e.g. billingBacklog.")
@click.option("--perturbation", type=float, default=0.05, show_default=True)
@report_errors
def sensitivity_command(knobs: tuple[str, ...], metric: str | None, perturbation: float,
                        **kwargs: Any) -> None:
    """Gradient of a metric's statistic for each knob (central difference)."""
    from flowtime.adapters import analysis_wire as aw
    from flowtime.adapters.cli.context import print_json, print_table

    common, as_json = _common(kwargs)
    service = common["service"]
    body = _body(aw.SensitivityBody, common, {"knobs": list(knobs), "metric": metric,
                                              "perturbation": perturbation}, ("knobs", "metric"))
    out = aw.sensitivity(service, body)
    if as_json:
        print_json(out)
        return
    print_table(["knob", "base value", f"d {out.statistic}({out.metric}) / d knob"],
                [[p.knob, f"{p.base_value:g}", f"{p.gradient:.6g}"] for p in out.points])


@analyze.command("goal-seek")
@_study_options
@click.option("--knob")
@click.option("--metric")
@click.option("--target", type=float)
@click.option("--lo", type=float)
@click.option("--hi", type=float)
@click.option("--tolerance", type=float, default=1e-6, show_default=True)
@click.option("--max-iterations", type=click.IntRange(1, 1000), default=50, show_default=True)
@report_errors
def goal_seek_command(knob: str | None, metric: str | None, target: float | None,
                      lo: float | None, hi: float | None, tolerance: float,
                      max_iterations: int, **kwargs: Any) -> None:
    """The knob value whose metric statistic hits the target (bisection)."""
    from flowtime.adapters import analysis_wire as aw
    from flowtime.adapters.cli.context import print_json

    common, as_json = _common(kwargs)
    service = common["service"]
    body = _body(aw.GoalSeekBody, common, {
        "knob": knob, "metric": metric, "target": target, "lo": lo, "hi": hi,
        "tolerance": tolerance, "max_iterations": max_iterations},
        ("knob", "metric", "target", "lo", "hi"))
    out = aw.goal_seek(service, body)
    if as_json:
        print_json(out)
    else:
        state = "converged" if out.converged else "not converged"
        error = f", standard error {out.standard_error:.3g}" if out.standard_error else ""
        click.echo(f"{body.knob} = {out.value:.6g} → {body.statistic}({body.metric}) = "
                   f"{out.achieved:.6g} ({state} after {out.iterations} steps{error})")
    if not out.converged:
        raise SystemExit(EXIT_FAILURE)


@analyze.command("optimize")
@_study_options
@click.option("--knob", "knobs", multiple=True)
@click.option("--range", "ranges", multiple=True, metavar="KNOB=LO:HI")
@click.option("--metric")
@click.option("--objective", type=click.Choice(["minimize", "maximize"]), default=None,
              help="Default: minimize.")
@click.option("--maximize", is_flag=True, help="Same as --objective maximize.")
@click.option("--constraint", "constraints", multiple=True,
              metavar="METRIC[:STAT]<=MAX|>=MIN",
              help="Keep a metric's statistic within a bound (repeat).")
@click.option("--tolerance", type=float, default=1e-4, show_default=True)
@click.option("--max-iterations", type=click.IntRange(1, 10_000), default=200,
              show_default=True)
@report_errors
def optimize_command(knobs: tuple[str, ...], ranges: tuple[str, ...], metric: str | None,
                     objective: str | None, maximize: bool, constraints: tuple[str, ...],
                     tolerance: float, max_iterations: int, **kwargs: Any) -> None:
    """Knob values within ranges that minimize (or maximize) a metric's statistic."""
    from flowtime.adapters import analysis_wire as aw
    from flowtime.adapters.cli.context import print_json

    common, as_json = _common(kwargs)
    service = common["service"]
    if maximize and objective == "minimize":
        raise click.UsageError("--maximize contradicts --objective minimize")
    body = _body(aw.OptimizeBody, common, {
        "knobs": list(knobs), "ranges": _ranges(ranges), "metric": metric,
        "objective": "maximize" if maximize else objective or "minimize",
        "tolerance": tolerance, "max_iterations": max_iterations,
        "constraints": [_parse_constraint(c) for c in constraints]},
        ("knobs", "ranges", "metric"))
    out = aw.optimize(service, body)
    if as_json:
        print_json(out)
        return
    chosen = ", ".join(f"{k} = {v:.6g}" for k, v in out.values.items())
    click.echo(f"{chosen} → {body.statistic}({body.metric}) = {out.achieved:.6g} "
               f"({'converged' if out.converged else 'not converged'}, "
               f"{out.iterations} iterations)")
    for name, by in out.violations.items():
        click.echo(f"constraint still violated: {name} by {by:.6g}")


@analyze.command("validate")
@_study_options
@click.option("--tier", type=click.Choice(["schema", "compile", "analyse"]), default="compile",
              show_default=True)
@report_errors
def validate_command(tier: str, **kwargs: Any) -> None:
    """Check a template (structure, compiled model, or one evaluation's warnings)."""
    from flowtime.adapters import analysis_wire as aw
    from flowtime.adapters.cli.context import print_json

    common, as_json = _common(kwargs)
    service = common["service"]
    body = _body(aw.ValidateBody, common, {"tier": tier}, ())
    report = aw.validate(service, body)
    if as_json:
        print_json(report)
    else:
        for p in report.problems:
            click.echo(f"{p.loc}: {p.msg}", err=True)
        for w in report.warnings:
            click.echo(f"warning {w.code}: {w.message}")
        if report.valid:
            click.echo(f"valid ({report.tier})")
    if not report.valid:
        raise SystemExit(EXIT_FAILURE)
