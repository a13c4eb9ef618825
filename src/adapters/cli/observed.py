"""`flowtime data pull` and `flowtime fit pmf|profile|params`: observed data from the shell
(MODELING §8). Specs are YAML or JSON; `fit params` takes the body of POST /v1/fit, and
`--json` prints the answers the HTTP routes give. In a spec, a CSV source may name a local
file (`{kind: csv, file: metrics.csv}`, relative to the spec) — the CLI reads it as `text`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from flowtime.adapters.cli.errors import report_errors


def _load(path: str) -> tuple[Any, Path]:
    import yaml

    from flowtime.domain.errors import Problem, invalid

    raw = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise invalid([Problem("spec", f"is not YAML or JSON{where}")]) from None
    if not isinstance(data, dict):
        raise invalid([Problem("spec", "must be a mapping")])
    return data, (Path.cwd() if path == "-" else Path(path).resolve().parent)


def _local_sources(items: list[Any], folder: Path, defaults: dict[str, Any], loc: str) -> None:
    """Merge `defaults` into each item's source and read `{kind: csv, file}` into text."""
    from flowtime.domain.errors import Problem, invalid

    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("source") is None:
            continue
        source = {**defaults, **item["source"]}
        if source.get("kind") == "csv" and "file" in source:
            path = folder / str(source.pop("file"))
            if not path.is_file():
                raise invalid([Problem(f"{loc}[{i}].source.file", f"{path} not found")])
            source["text"] = path.read_text(encoding="utf-8-sig")
        item["source"] = source


def _container(templates_url: str | None) -> Any:
    from flowtime.container import Settings, build_container

    return build_container(Settings.from_env(templates_url=templates_url))


def _values(path: str, column: str | None) -> list[float]:
    """Numbers from a CSV (the `value` column, or `--column`) or one number per line."""
    import csv
    import io
    import math

    from flowtime.domain.errors import Problem, invalid
    from flowtime.domain.services.telemetry_binding import parses_as_number

    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise invalid([Problem("values", "the file is empty")])
    header = [h.strip() for h in rows[0]]
    numeric_header = all(parses_as_number(h) for h in header)
    index = len(header) - 1
    if column is not None:
        if column not in header:
            raise invalid([Problem("--column", f"no column '{column}' (columns: "
                                   f"{', '.join(header)})")])
        index = header.index(column)
    elif "value" in header:
        index = header.index("value")
    values = []
    for row in rows if numeric_header else rows[1:]:
        if len(row) > index:
            values.append(float(row[index]) if parses_as_number(row[index]) else math.nan)
    return values


@click.group()
def data() -> None:
    """Observed metrics in: pull sources onto a template's grid."""


@data.command("pull")
@click.argument("spec", metavar="SPEC|-")
@click.option("--template", "template_id", help="A catalogue template (its grid is used).")
@click.option("--file", "file_path", type=click.Path(exists=True, dir_okay=False),
              help="A template file instead.")
@click.option("--param", "params", multiple=True, metavar="K=V")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="The capture directory to write.")
@click.option("--overwrite", is_flag=True, help="Replace a capture already there.")
@click.option("--templates", "templates_url", help="Template folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@report_errors
def pull_command(spec: str, template_id: str | None, file_path: str | None,
                 params: tuple[str, ...], out: str, overwrite: bool,
                 templates_url: str | None, as_json: bool) -> None:
    """Resample every series of SPEC onto the template's grid and write a capture
    directory (`<id>.csv` + telemetry-manifest.json) that `run --mode telemetry` reads.

    SPEC: `{defaults: {kind: prometheus, url: …}, series: [{id, source: {query: …},
    type: counter | gauge, aggregation, fill, metric}]}`."""
    import msgspec

    from flowtime.adapters import observed_wire as ow
    from flowtime.adapters.cli.context import print_json, print_table
    from flowtime.adapters.wire import decode_body
    from flowtime.domain.services.analysis_service import StudySource

    body, folder = _load(spec)
    defaults = body.pop("defaults", None) or {}
    _local_sources(body.get("series") or [], folder, defaults, "series")
    container = _container(templates_url)
    observed = container.observed()
    parameters = _parameters(container, template_id, file_path, params)
    text = Path(file_path).read_text(encoding="utf-8") if file_path else None
    request = decode_body(msgspec.json.encode({**body, "directory": out, "templateId": template_id,
                                           "template": text, "parameters": parameters}),
                      ow.CaptureBody, "spec")
    grid = observed.time_grid(StudySource(template_id, text, parameters))

    def progress(i: int, name: str) -> None:
        click.echo(f"pulling {name} ({i + 1}/{len(request.series)})…", err=True)

    answer, warnings = ow.pull(observed, request, out, grid, template_id or "inline",
                               container.clock(), out, progress)
    if as_json:
        print_json(answer)
        return
    print_table(["file", "points", "of bins"], [[f.path, str(f.points), str(grid.bins)]
                                                 for f in answer.files], caption=out)
    for w in warnings:
        click.echo(f"warning: {w.message}", err=True)


def _parameters(container: Any, template_id: str | None, file_path: str | None,
                params: tuple[str, ...]) -> dict[str, Any]:
    from flowtime.adapters.cli.analyze import typed_parameters
    from flowtime.domain.services.analysis_service import StudySource

    if (template_id is None) == (file_path is None):
        raise click.UsageError("give --template ID or --file TEMPLATE")
    text = Path(file_path).read_text(encoding="utf-8") if file_path else None
    return typed_parameters(container.analysis().template(StudySource(template_id, text)),
                            params)


@click.group()
def fit() -> None:
    """Fit PMFs, profiles and parameters to observed data."""


@fit.command("pmf")
@click.argument("values_file", metavar="FILE|-")
@click.option("--max-points", type=click.IntRange(1, 1000), default=8, show_default=True)
@click.option("--column", help="The CSV column (default: value, else the last).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@report_errors
def fit_pmf_command(values_file: str, max_points: int, column: str | None,
                    as_json: bool) -> None:
    """A PMF from per-bin values: prints the `pmf:` block to paste into a template."""
    from flowtime.adapters import observed_wire as ow
    from flowtime.adapters.cli.context import print_json

    out = ow.pmf(ow.PmfFitBody(_values(values_file, column), max_points))
    if as_json:
        print_json(out)
        return
    values = ", ".join(f"{v:.6g}" for v in out.pmf.values)
    probabilities = ", ".join(f"{p:.6g}" for p in out.pmf.probabilities)
    click.echo(f"pmf: {{values: [{values}], probabilities: [{probabilities}]}}")
    click.echo(f"# mean {out.mean:.6g}", err=True)


@fit.command("profile")
@click.argument("values_file", metavar="FILE|-")
@click.option("--slots-per-day", type=click.IntRange(1, 1440), required=True)
@click.option("--weekly", is_flag=True, help="Fit 7 × slots (one shape per weekday).")
@click.option("--column", help="The CSV column (default: value, else the last).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@report_errors
def fit_profile_command(values_file: str, slots_per_day: int, weekly: bool,
                        column: str | None, as_json: bool) -> None:
    """A day (or week) profile from per-bin values starting at a day's first slot: prints
    the `profile:` block to paste into a template."""
    from flowtime.adapters import observed_wire as ow
    from flowtime.adapters.cli.context import print_json

    out = ow.profile(ow.ProfileFitBody(_values(values_file, column), slots_per_day, weekly))
    if as_json:
        print_json(out)
        return
    weights = ", ".join(f"{w:.4f}" for w in out.profile.weights)
    click.echo(f"profile: {{kind: inline, weights: [{weights}]}}")
    click.echo(f"# from {out.observed_days:g} days of values", err=True)


@fit.command("params")
@click.argument("spec", metavar="SPEC|-")
@click.option("--save-as", help="Write the calibrated template under this id.")
@click.option("--templates", "templates_url", help="Template folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@report_errors
def fit_params_command(spec: str, save_as: str | None, templates_url: str | None,
                       as_json: bool) -> None:
    """Calibrate knobs so model series match observed ones. SPEC is the body of
    POST /v1/fit (YAML or JSON): templateId, knobs [{id, lo, hi, start?}], observed
    [{series, values | source, type?}], loss, holdout, weights."""
    import msgspec

    from flowtime.adapters import observed_wire as ow
    from flowtime.adapters.cli.context import print_json, print_table
    from flowtime.adapters.wire import decode_body
    from flowtime.domain.modeling.grid import format_utc

    body, folder = _load(spec)
    defaults = body.pop("defaults", None) or {}
    _local_sources(body.get("observed") or [], folder, defaults, "observed")
    _local_sources(body.get("inputs") or [], folder, defaults, "inputs")
    if save_as is not None:
        body["saveAs"] = save_as
    request = decode_body(msgspec.json.encode(body), ow.FitBody, "spec")
    container = _container(templates_url)
    click.echo("calibrating…", err=True)
    out = ow.fit(container.observed(), request, None,
                 format_utc(container.clock().now().replace(microsecond=0)))
    if as_json:
        print_json(out)
        return
    print_table(["knob", "value"], [[k, f"{v:.6g}"] for k, v in out.values.items()],
                caption=f"{request.loss} {out.loss:.6g} after {out.evaluations} evaluations"
                        f"{'' if out.converged else ' (not converged)'}"
                if out.loss is not None else None)
    print_table(["series", "rmse", "mae", "mape %"], [
        [s.series, *(f"{v:.4g}" if v is not None else "–" for v in (s.rmse, s.mae, s.mape))]
        for s in out.per_series])
    if out.holdout is not None and out.holdout.loss is not None:
        click.echo(f"holdout {request.loss}: {out.holdout.loss:.6g}")
    if out.template_id:
        click.echo(f"saved template {out.template_id}")
    for w in out.warnings:
        click.echo(f"warning: {w.message}", err=True)
