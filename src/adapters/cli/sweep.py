"""`flowtime sweep`: a parameter grid and/or Monte Carlo seeds on a local pool or Dask."""

from __future__ import annotations

import json
from typing import Any

import click

from flowtime.adapters.cli.errors import EXIT_FAILURE, report_errors
from flowtime.adapters.cli.remote import server_option


def _grid_values(text: str) -> list[Any]:
    """`4,6,8` → [4, 6, 8]; `[1,2],[3,4]` → [[1, 2], [3, 4]]; bare words stay strings."""
    try:
        values = json.loads(f"[{text}]")
    except ValueError:
        values = [part.strip() for part in text.split(",")]
    return values


@click.group(invoke_without_command=True)
@click.option("--template-id", help="The template to sweep (or --file).")
@click.option("--file", "template_file", type=click.Path(exists=True, dir_okay=False),
              help="Sweep a template or model file instead of a catalogue template.")
@click.option("--mode", type=click.Choice(["simulation", "telemetry"]), default="simulation",
              show_default=True)
@click.option("--grid", "grids", multiple=True, metavar="NAME=V1,V2,…",
              help="Values for one parameter; several --grid make a cartesian product.")
@click.option("--param", "params", multiple=True, metavar="K=V", help="Fixed parameter value.")
@click.option("--samples", type=click.IntRange(1, 100_000),
              help="Monte Carlo: this many seeds per grid point.")
@click.option("--seed", type=click.IntRange(0), help="First seed of the samples.")
@click.option("--pmf-mode", type=click.Choice(["sample", "expected"]), default="sample",
              show_default=True, help="PMF nodes as samples or as their expected value.")
@click.option("--executor", type=click.Choice(["local", "dask"]), help="Default: local.")
@click.option("--scheduler", help="Dask scheduler address (tcp://host:8786); default a "
              "LocalCluster.")
@click.option("--workers", type=click.IntRange(1, 256), help="Processes / LocalCluster workers.")
@click.option("--store", help="Artifact store URL (shared by every worker).")
@click.option("--templates", "templates_url", help="Template folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep summary as JSON.")
@click.pass_context
@report_errors
def sweep(ctx: click.Context, template_id: str | None, template_file: str | None, mode: str,
          grids: tuple[str, ...],
          params: tuple[str, ...],
          samples: int | None, seed: int | None, pmf_mode: str, executor: str | None,
          scheduler: str | None,
          workers: int | None, store: str | None, templates_url: str | None,
          as_json: bool) -> None:
    """Run one template over a parameter grid and/or N seeds; reuse finished runs.

    `flowtime sweep watch ID` follows a sweep started elsewhere; `flowtime sweep cancel ID`
    stops one, whichever process (a server replica, another shell) drives it."""
    if ctx.invoked_subcommand is not None:
        return
    if (template_id is None) == (template_file is None):
        raise click.UsageError("give --template-id or --file (one of the two).")
    import threading

    from flowtime.adapters.cli.context import print_json
    from flowtime.container import Settings, build_container
    from flowtime.domain.errors import invalid
    from flowtime.domain.modeling.parameters import parse_cli_value
    from flowtime.domain.services.analysis_service import StudySource
    from flowtime.domain.services.sweeps import SweepRequest, check_parameters, inline_sweep

    settings = Settings.from_env(store_url=store, templates_url=templates_url,
                                 executor=executor or ("dask" if scheduler else None),
                                 dask_scheduler=scheduler, sweep_workers=workers)
    container = build_container(settings)
    source = None
    if template_file is not None:
        from pathlib import Path

        source = Path(template_file).read_bytes().decode("utf-8", "replace")
    template = container.analysis().template(StudySource(template_id, source))
    definitions = {p.name: p for p in template.parameters}
    grid: dict[str, list[Any]] = {}
    for item in grids:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise click.UsageError(f"--grid expects NAME=V1,V2, got {item!r}")
        values = _grid_values(text)
        defn = definitions.get(name)
        grid[name] = [parse_cli_value(defn, v) if isinstance(v, str) else v for v in values]
    fixed = {}
    for item in params:
        name, _, text = item.partition("=")
        fixed[name] = parse_cli_value(definitions.get(name), text)
    request = SweepRequest(template_id or "", mode, grid, fixed, samples, seed, pmf_mode,
                           template_text=source)
    if source is not None:
        request = inline_sweep(request, template)
    found = check_parameters(request, list(definitions.values()))
    if found:
        raise invalid(found, "invalid sweep")  # exit 2, before any worker starts
    service = container.sweeps()
    _refuse_if_driven_elsewhere(service, request.sweep_id)
    cancel = threading.Event()
    terminated = threading.Event()
    outcome: dict[str, Any] = {}

    import signal

    def on_terminate(signum: int, frame: Any) -> None:
        # SIGTERM (a supervisor, `kill`): stop handing out points, let the ones in flight
        # finish so no worker is orphaned, then record the sweep as interrupted.
        terminated.set()
        cancel.set()

    signal.signal(signal.SIGTERM, on_terminate)

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"),
                  TextColumn("[green]{task.fields[created]} new[/] "
                             "{task.fields[reused]} reused [red]{task.fields[failed]} failed[/]"),
                  TimeRemainingColumn(), transient=as_json) as bar:
        from flowtime.domain.services.sweeps import expand

        # the total from the first frame (not 0/None while the workers start)
        task = bar.add_task(f"sweep {request.sweep_id}", total=len(expand(request)),
                            created=0, reused=0, failed=0)

        def update(progress: Any) -> None:
            bar.update(task, total=progress.total, completed=progress.done,
                       created=progress.created, reused=progress.reused, failed=progress.failed)

        finished = threading.Event()

        def work() -> None:
            try:
                outcome["summary"] = service.run(request, update, cancel)
            except BaseException as exc:  # reported in the main thread
                outcome["error"] = exc
            finally:
                finished.set()

        # The sweep runs in a thread so Ctrl-C lands here; an Event (not Thread.join, which
        # can return early once interrupted) tells us when it has really finished.
        threading.Thread(target=work, name="flowtime-sweep", daemon=True).start()
        while True:
            try:
                if finished.wait(0.2):
                    break
            except KeyboardInterrupt:
                cancel.set()
                bar.update(task, description="cancelling (finishing runs in flight)…")
    if "error" in outcome:
        raise outcome["error"]
    summary = outcome["summary"]
    if terminated.is_set() and summary.status == "cancelled":
        summary = service.mark(summary, "interrupted")
    if as_json:
        print_json(summary)
    else:
        p = summary.progress
        click.echo(f"sweep {summary.sweep_id}: {summary.status} — {p.created} new, "
                   f"{p.reused} reused, {p.failed} failed of {p.total} "
                   f"({summary.executor} executor)")
    failed = [r for r in summary.runs if r.status == "failed"]
    for run in failed:
        click.echo(f"failed: {json.dumps(run.parameters)} seed={run.seed}", err=True)
        for problem in run.problems or []:
            click.echo(f"  {problem}", err=True)
    if summary.status == "interrupted":
        raise SystemExit(143)  # 128 + SIGTERM
    if summary.status == "cancelled":
        raise SystemExit(130)
    if failed:
        raise SystemExit(EXIT_FAILURE)


def _refuse_if_driven_elsewhere(service: Any, sweep_id: str) -> None:
    from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem
    from flowtime.domain.services.sweeps import ACTIVE

    try:
        current = service.get(sweep_id)
    except FlowTimeError:
        return
    if current.status in ACTIVE and current.owner is not None:
        owner = current.owner
        raise FlowTimeError(ErrorKind.CONFLICT, f"sweep {sweep_id} is {current.status} elsewhere", [
            Problem("sweep", f"{owner.role} process {owner.pid} on {owner.host} drives it; "
                    f"follow it with `flowtime sweep watch {sweep_id}` or stop it with "
                    f"`flowtime sweep cancel {sweep_id}`")])


class _RemoteSweeps:
    """The two calls `watch` and `cancel` need, against a server."""

    def __init__(self, server: str):
        self.server = server

    def get(self, sweep_id: str) -> Any:
        import msgspec

        from flowtime.adapters.cli.remote import call
        from flowtime.domain.artifacts.codec import SweepJson

        body = call(self.server, "GET", f"/v1/sweeps/{sweep_id}")[1]
        return msgspec.convert(body, SweepJson)

    def request_cancel(self, sweep_id: str) -> Any:
        from flowtime.adapters.cli.remote import call

        call(self.server, "DELETE", f"/v1/sweeps/{sweep_id}")
        return self.get(sweep_id)


def _sweeps(store: str | None, server: str | None = None) -> Any:
    from flowtime.adapters.cli.context import container_for
    from flowtime.adapters.cli.remote import server_url

    remote = server_url(server)
    return _RemoteSweeps(remote) if remote else container_for(store).sweeps()


@sweep.command("watch")
@click.argument("sweep_id")
@click.option("--store", help="Artifact store URL (where the sweep's record lives).")
@server_option
@click.option("--interval", type=click.FloatRange(0.1, 60), default=1.0, show_default=True,
              help="Seconds between looks at the record.")
@click.option("--json", "as_json", is_flag=True, help="Print the final record as JSON.")
@report_errors
def watch(sweep_id: str, store: str | None, server: str | None, interval: float,
          as_json: bool) -> None:
    """Follow a sweep until it ends (exit 0 when it succeeded, 1 otherwise)."""
    import time

    from rich.progress import BarColumn, Progress, TextColumn

    from flowtime.adapters.cli.context import print_json
    from flowtime.domain.services.sweeps import ACTIVE

    service = _sweeps(store, server)
    summary = service.get(sweep_id)  # unknown: exit 2 with the not-found line
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"),
                  TextColumn("[green]{task.fields[created]} new[/] {task.fields[reused]} "
                             "reused [red]{task.fields[failed]} failed[/] {task.fields[eta]}"),
                  transient=as_json) as bar:
        task = bar.add_task(f"sweep {sweep_id} ({summary.status})", total=summary.progress.total,
                            created=0, reused=0, failed=0, eta="")
        while True:
            p = summary.progress
            eta = f"~{p.eta_seconds:.0f} s left" if p.eta_seconds else ""
            bar.update(task, description=f"sweep {sweep_id} ({summary.status})",
                       total=p.total, completed=p.done, created=p.created, reused=p.reused,
                       failed=p.failed, eta=eta)
            if summary.status not in ACTIVE:
                break
            time.sleep(interval)
            summary = service.get(sweep_id)
    if as_json:
        print_json(summary)
    else:
        p = summary.progress
        click.echo(f"sweep {sweep_id}: {summary.status} — {p.created} new, {p.reused} reused, "
                   f"{p.failed} failed of {p.total}")
    if summary.status != "succeeded":
        raise SystemExit(EXIT_FAILURE)


@sweep.command("cancel")
@click.argument("sweep_id")
@click.option("--store", help="Artifact store URL (where the sweep's record lives).")
@server_option
@click.option("--wait", is_flag=True, help="Return once the sweep has stopped.")
@click.option("--json", "as_json", is_flag=True)
@report_errors
def cancel_command(sweep_id: str, store: str | None, server: str | None, wait: bool,
                   as_json: bool) -> None:
    """Stop a sweep, whichever process drives it: no new points start, points in flight
    finish and are kept; it ends `cancelled` and the same sweep started again resumes."""
    import time

    from flowtime.adapters.cli.context import print_json
    from flowtime.domain.services.sweeps import ACTIVE, STALE_AFTER_SECONDS

    service = _sweeps(store, server)
    summary = service.request_cancel(sweep_id)
    requested = summary.status in ACTIVE
    if requested and wait:
        deadline = time.monotonic() + STALE_AFTER_SECONDS
        while (summary := service.get(sweep_id)).status in ACTIVE:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
    if as_json:
        print_json({"sweepId": sweep_id, "status": summary.status,
                    "cancelRequested": requested})
    elif not requested:
        click.echo(f"sweep {sweep_id} is {summary.status}: nothing to cancel")
    elif summary.status in ACTIVE:
        owner = summary.owner
        where = f" ({owner.role} process {owner.pid} on {owner.host})" if owner else ""
        click.echo(f"cancel requested: sweep {sweep_id}{where} stops within a few seconds")
    else:
        click.echo(f"sweep {sweep_id}: {summary.status}")


@sweep.command("export")
@click.argument("sweep_id")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "parquet", "arrow"]),
              default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="File to write (default: stdout "
              "for csv/json, <sweepId>.<format> otherwise).")
@click.option("--store", help="Artifact store URL (where the sweep's record lives).")
@click.option("--json", "as_json", is_flag=True, help="Print {path, bytes} of the written file.")
@report_errors
def export_command(sweep_id: str, fmt: str, out: str | None, store: str | None,
                   as_json: bool) -> None:
    """The sweep's points as one table: parameters as columns, per-series aggregates."""

    from flowtime.adapters.cli.context import write_output
    from flowtime.adapters.export import export_sweep

    write_output(export_sweep(_sweeps(store), sweep_id, fmt), fmt, out, sweep_id, as_json)
