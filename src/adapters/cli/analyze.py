"""`flowtime analyze sensitivity|goal-seek|optimize|validate`: the analysis service from
the shell, with the same validation and errors as HTTP (docs/analysis.md)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from flowtime.adapters.cli.errors import EXIT_FAILURE, report_errors


def _study_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--template-id", help="A catalogue template."),
        click.option("--file", "file_path", type=click.Path(exists=True, dir_okay=False),
                     help="A template or model file instead."),
        click.option("--param", "params", multiple=True, metavar="K=V",
                     help="Parameter value (base of the question)."),
        click.option("--seed", type=click.IntRange(0), default=1, show_default=True),
        click.option("--samples", type=click.IntRange(1, 1000), default=1, show_default=True,
                     help="Average every evaluation over this many seeds."),
        click.option("--pmf-mode", type=click.Choice(["sample", "expected"]),
                     default="sample", show_default=True),
        click.option("--statistic", default="mean", show_default=True,
                     help="mean, sum, max, p95 or last:N"),
        click.option("--templates", "templates_url", help="Template folder."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _service_and_source(template_id: str | None, file_path: str | None,
                        params: tuple[str, ...], seed: int, samples: int, pmf_mode: str,
                        templates_url: str | None) -> tuple[Any, Any]:
    from pathlib import Path

    from flowtime.container import Settings, build_container
    from flowtime.domain.analysis_service import StudySource
    from flowtime.domain.errors import Problem, invalid
    from flowtime.domain.parameters import parse_cli_value

    service = build_container(Settings.from_env(templates_url=templates_url)).analysis()
    text = Path(file_path).read_text(encoding="utf-8") if file_path else None
    source = StudySource(template_id, text, {}, seed, pmf_mode, samples)
    template = service.template(source)
    definitions = {p.name: p for p in template.parameters}
    parameters: dict[str, Any] = {}
    for item in params:
        if "=" not in item:
            raise invalid([Problem("--param", f"expected K=V, got {item!r}")])
        key, value = item.split("=", 1)
        parameters[key] = parse_cli_value(definitions.get(key), value)
    return service, StudySource(template_id, text, parameters, seed, pmf_mode, samples)


def _ranges(items: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    from flowtime.domain.errors import Problem, invalid

    found = {}
    for item in items:
        try:
            knob, span = item.split("=", 1)
            lo, hi = (float(v) for v in span.split(":", 1))
        except ValueError:
            raise invalid([Problem("--range", f"expected KNOB=LO:HI, got {item!r}")]) from None
        found[knob] = (lo, hi)
    return found


def _study(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the shared options into (service, source) for the command."""
    @wraps(func)
    def wrapper(template_id: str | None, file_path: str | None, params: tuple[str, ...],
                seed: int, samples: int, pmf_mode: str, templates_url: str | None,
                **kwargs: Any) -> Any:
        service, source = _service_and_source(template_id, file_path, params, seed, samples,
                                              pmf_mode, templates_url)
        return func(service, source, **kwargs)
    return wrapper


@click.group()
def analyze() -> None:
    """Ask a model questions: sensitivity, goal-seek, optimize, validate."""


@analyze.command("sensitivity")
@_study_options
@click.option("--knob", "knobs", multiple=True, required=True, help="Knob id (repeat).")
@click.option("--metric", required=True, help="Series id, e.g. billingBacklog.")
@click.option("--perturbation", type=float, default=0.05, show_default=True)
@report_errors
@_study
def sensitivity_command(service: Any, source: Any, knobs: tuple[str, ...], metric: str,
                        perturbation: float, statistic: str, as_json: bool) -> None:
    """Gradient of a metric's statistic for each knob (central difference)."""
    from flowtime.adapters.cli.context import print_json, print_table

    points = service.sensitivity(source, list(knobs), metric, statistic, perturbation)
    if as_json:
        print_json({"metric": metric, "statistic": statistic, "points": [
            {"knob": p.knob, "baseValue": p.base_value, "gradient": p.gradient}
            for p in points]})
        return
    print_table(["knob", "base value", f"d {statistic}({metric}) / d knob"],
                [[p.knob, f"{p.base_value:g}", f"{p.gradient:.6g}"] for p in points])


@analyze.command("goal-seek")
@_study_options
@click.option("--knob", required=True)
@click.option("--metric", required=True)
@click.option("--target", type=float, required=True)
@click.option("--lo", type=float, required=True)
@click.option("--hi", type=float, required=True)
@click.option("--tolerance", type=float, default=1e-6, show_default=True)
@click.option("--max-iterations", type=click.IntRange(1, 1000), default=50, show_default=True)
@report_errors
@_study
def goal_seek_command(service: Any, source: Any, knob: str, metric: str, target: float,
                      lo: float, hi: float, tolerance: float, max_iterations: int,
                      statistic: str, as_json: bool) -> None:
    """The knob value whose metric statistic hits the target (bisection)."""
    from flowtime.adapters.cli.context import print_json

    result = service.goal_seek(source, knob, metric, target, lo, hi, statistic, tolerance,
                               max_iterations)
    if as_json:
        print_json({"value": result.value, "achieved": result.achieved,
                    "converged": result.converged, "iterations": result.iterations,
                    "trace": [{"iteration": s.iteration, "value": s.value,
                               "achieved": s.achieved, "lo": s.lo, "hi": s.hi}
                              for s in result.trace]})
    else:
        state = "converged" if result.converged else "not converged"
        click.echo(f"{knob} = {result.value:.6g} → {statistic}({metric}) = "
                   f"{result.achieved:.6g} ({state} after {result.iterations} steps)")
    if not result.converged:
        raise SystemExit(EXIT_FAILURE)


@analyze.command("optimize")
@_study_options
@click.option("--knob", "knobs", multiple=True, required=True)
@click.option("--range", "ranges", multiple=True, required=True, metavar="KNOB=LO:HI")
@click.option("--metric", required=True)
@click.option("--maximize", is_flag=True, help="Maximize instead of minimize.")
@click.option("--tolerance", type=float, default=1e-4, show_default=True)
@click.option("--max-iterations", type=click.IntRange(1, 10_000), default=200,
              show_default=True)
@report_errors
@_study
def optimize_command(service: Any, source: Any, knobs: tuple[str, ...],
                     ranges: tuple[str, ...], metric: str, maximize: bool, tolerance: float,
                     max_iterations: int, statistic: str, as_json: bool) -> None:
    """Knob values within ranges that minimize (or maximize) a metric's statistic."""
    from flowtime.adapters.cli.context import print_json

    result = service.optimize(source, list(knobs), _ranges(ranges), metric,
                              "maximize" if maximize else "minimize", statistic, tolerance,
                              max_iterations)
    if as_json:
        print_json({"values": result.values, "achieved": result.achieved,
                    "converged": result.converged, "iterations": result.iterations,
                    "rounded": result.rounded,
                    "trace": [{"iteration": s.iteration, "values": s.values,
                               "achieved": s.achieved} for s in result.trace]})
        return
    chosen = ", ".join(f"{k} = {v:.6g}" for k, v in result.values.items())
    click.echo(f"{chosen} → {statistic}({metric}) = {result.achieved:.6g} "
               f"({'converged' if result.converged else 'not converged'}, "
               f"{result.iterations} iterations)")


@analyze.command("validate")
@_study_options
@click.option("--tier", type=click.Choice(["schema", "compile", "analyse"]), default="compile",
              show_default=True)
@report_errors
@_study
def validate_command(service: Any, source: Any, tier: str, statistic: str,
                     as_json: bool) -> None:
    """Check a template (structure, compiled model, or one evaluation's warnings)."""
    from flowtime.adapters.cli.context import print_json

    report = service.validate(source, tier)
    if as_json:
        print_json({"valid": report.valid, "tier": report.tier,
                    "problems": [{"loc": p.loc, "msg": p.msg} for p in report.problems],
                    "warnings": [{"code": w.code, "message": w.message} for w in
                                 report.warnings]})
    else:
        for p in report.problems:
            click.echo(f"{p.loc}: {p.msg}", err=True)
        for w in report.warnings:
            click.echo(f"warning {w.code}: {w.message}")
        if report.valid:
            click.echo(f"valid ({tier})")
    if not report.valid:
        raise SystemExit(EXIT_FAILURE)
