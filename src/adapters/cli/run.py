"""`flowtime run`: create one run through the orchestration service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from flowtime.adapters.cli.errors import report_errors
from flowtime.adapters.cli.remote import server_option, server_url

STORE_HELP = "Artifact store URL (file:///path, s3://bucket/prefix?endpoint_url=…)."
TEMPLATES_HELP = "Template folder (default: FLOWTIME_TEMPLATES_DIR or the shipped templates)."


def _params_from_file(path: str) -> dict[str, Any]:
    from flowtime.domain.errors import Problem, invalid
    from flowtime.domain.modeling.yaml_document import load_yaml

    data = load_yaml(Path(path).read_bytes(), loc=path)  # JSON is YAML too
    if not isinstance(data, dict):
        raise invalid([Problem(path, "must contain a mapping of parameter names to values")])
    return data


def _split_pairs(pairs: tuple[str, ...], flag: str) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.UsageError(f"{flag} expects key=value, got {pair!r}")
        out.append((key.strip(), value))
    return out


@click.command()
@click.option("--template-id", help="Template id (see `flowtime templates list`).")
@click.option("--file", "template_file", type=click.Path(exists=True, dir_okay=False),
              help="Run a template or model file instead (the reference's model format too).")
@click.option("--mode", type=click.Choice(["simulation", "telemetry"]), default="simulation",
              show_default=True)
@click.option("--param", "params", multiple=True, metavar="K=V",
              help="Parameter value, typed by the template (arrays: 1,2,3 or [1,2,3]).")
@click.option("--params-file", type=click.Path(exists=True, dir_okay=False),
              help="JSON or YAML mapping of parameters (--param wins).")
@click.option("--seed", type=click.IntRange(0, 2**53), help="RNG seed for PMF nodes (0…2^53).")
@click.option("--pmf-mode", type=click.Choice(["sample", "expected"]), default="sample",
              show_default=True, help="PMF nodes as per-bin samples, or as their expected value "
              "(the reference system's numbers).")
@click.option("--deterministic-run-id", is_flag=True,
              help="Id derived from the scenario; repeating the request reuses the run.")
@click.option("--run-id", help="Explicit run id.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run with --run-id.")
@click.option("--dry-run", is_flag=True, help="Validate and show the plan; write nothing.")
@click.option("--capture-dir", help="Telemetry capture directory (telemetry mode).")
@click.option("--bind", "binds", multiple=True, metavar="PARAM=FILE",
              help="Bind a template parameter to a capture file (telemetry mode).")
@click.option("--store", help=STORE_HELP)
@click.option("--templates", "templates_url", help=TEMPLATES_HELP)
@server_option
@click.option("--json", "as_json", is_flag=True, help="Print the API response body as JSON.")
@report_errors
def run(template_id: str | None, template_file: str | None, mode: str, params: tuple[str, ...],
        params_file: str | None,
        seed: int | None, pmf_mode: str, deterministic_run_id: bool, run_id: str | None, overwrite: bool,
        dry_run: bool, capture_dir: str | None, binds: tuple[str, ...], store: str | None,
        templates_url: str | None, server: str | None, as_json: bool) -> None:
    """Create a run from a template and write its bundle to the store (or on a server)."""
    from flowtime.adapters.cli.context import container_for, print_json
    from flowtime.adapters.wire import result_response
    from flowtime.domain.modeling.parameters import parse_cli_value
    from flowtime.domain.modeling.templates import parse_template, template_id_from
    from flowtime.domain.runs import RunRequest, TelemetryRequest

    if (template_id is None) == (template_file is None):
        raise click.UsageError("give --template-id or --file (one of them)")
    remote = server_url(server)
    if remote:
        _run_remote(remote, template_id, template_file, mode, params, params_file, seed,
                    pmf_mode, deterministic_run_id, run_id, overwrite, dry_run, capture_dir,
                    binds, as_json)
        return
    container = container_for(store, templates_url)
    source = Path(template_file).read_bytes().decode("utf-8", "replace") if template_file else None
    template = (parse_template(source, loc=template_file, default_id=template_id_from(
        template_file)) if source is not None and template_file else
        container.templates().get(template_id or ""))
    definitions = {p.name: p for p in template.parameters}
    parameters: dict[str, Any] = _params_from_file(params_file) if params_file else {}
    for key, text in _split_pairs(params, "--param"):
        parameters[key] = parse_cli_value(definitions.get(key), text)
    telemetry = None
    if mode == "telemetry" or capture_dir or binds:
        if capture_dir and not Path(capture_dir).is_absolute() and Path(capture_dir).is_dir():
            # a folder named from here (as `data pull --out` wrote it) rather than from the
            # capture root: the capture source still checks it lies under the root
            capture_dir = str(Path(capture_dir).resolve())
        telemetry = TelemetryRequest(capture_dir or "", dict(_split_pairs(binds, "--bind")))
    request = RunRequest(
        template_id=template_id, mode=mode, parameters=parameters, telemetry=telemetry,
        deterministic_run_id=deterministic_run_id, run_id=run_id, overwrite_existing=overwrite,
        dry_run=dry_run, seed=seed, template_text=source, template_name=template_file,
        pmf_mode=pmf_mode,
    )
    service = container.orchestration()
    if sys.stderr.isatty() and not as_json:
        from rich.console import Console

        with Console(stderr=True).status(f"running {template.id} ({mode})…"):
            result = service.create_run(request)
    else:
        result = service.create_run(request)
    if as_json:
        print_json(result_response(result))
        return
    _print_result(result)


def _print_result(result: Any) -> None:
    """Plain lines (click styles them on a terminal only): no rich import on the run path,
    which saves ~60 ms of start-up per run."""
    echo = click.echo
    if result.plan is not None:
        plan = result.plan
        echo(f"{click.style('dry run', bold=True)} — nothing written; run id would be "
             f"{plan.run_id}")
        echo(f"template  {plan.template_id}  mode {plan.mode}  seed {plan.seed}")
        echo(f"grid      {plan.grid.bins} × {plan.grid.bin_size} "
             f"{plan.grid.bin_unit}  series {len(plan.series)}")
        return
    record = result.record
    verb = "reused" if not result.created else "created"
    echo(f"{click.style(verb, fg='green', bold=True)} run {record.run_id}")
    echo(f"location  {record.storage.bundle_location}")
    echo(f"mode      {record.mode}")
    echo(f"template  {record.template_id} {record.template_version}")
    echo(f"series    {record.artifacts.series_count}")
    for warning in record.warnings:
        echo(f"{click.style('warning', fg='yellow')} {warning.message}")


def _run_remote(server: str, template_id: str | None, template_file: str | None, mode: str,
                params: tuple[str, ...], params_file: str | None, seed: int | None,
                pmf_mode: str, deterministic: bool, run_id: str | None, overwrite: bool,
                dry_run: bool, capture_dir: str | None, binds: tuple[str, ...],
                as_json: bool) -> None:
    from rich.console import Console

    from flowtime.adapters.cli.context import print_json
    from flowtime.adapters.cli.remote import call, cli_value

    parameters: dict[str, Any] = _params_from_file(params_file) if params_file else {}
    for key, text in _split_pairs(params, "--param"):
        parameters[key] = cli_value(text)
    options: dict[str, Any] = {"pmfMode": pmf_mode, "deterministicRunId": deterministic,
                               "overwriteExisting": overwrite, "dryRun": dry_run}
    if seed is not None:
        options["seed"] = seed
    if run_id:
        options["runId"] = run_id
    body: dict[str, Any] = {"mode": mode, "parameters": parameters, "options": options}
    if template_file:
        body["template"] = Path(template_file).read_text(encoding="utf-8", errors="replace")
    else:
        body["templateId"] = template_id
    if capture_dir or binds:
        body["telemetry"] = {"captureDirectory": capture_dir or "",
                             "bindings": dict(_split_pairs(binds, "--bind"))}
    status, answer = call(server, "POST", "/v1/runs", body=body)
    if as_json:
        print_json(answer)
        return
    console = Console(highlight=False)
    if answer.get("isDryRun"):
        plan = answer["plan"]
        console.print(f"[bold]dry run[/] — nothing written; run id would be {plan['runId']}")
        console.print(f"template  {plan['templateId']}  mode {plan['mode']}  seed {plan['seed']}")
        return
    meta = answer["metadata"]
    console.print(f"[bold green]{'created' if status == 201 else 'reused'}[/] run {meta['runId']}")
    console.print(f"location  {server}/v1/runs/{meta['runId']}")
    console.print(f"mode      {meta['mode']}")
    console.print(f"template  {meta['templateId']} {meta['templateVersion']}")
    console.print(f"series    {answer['artifacts']['seriesCount']}")
    for warning in answer.get("warnings", []):
        console.print(f"[yellow]warning[/] {warning['message']}")
