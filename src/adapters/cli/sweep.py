"""`flowtime sweep`: a parameter grid and/or Monte Carlo seeds on a local pool or Dask."""

from __future__ import annotations

import json
from typing import Any

import click

from flowtime.adapters.cli.errors import EXIT_FAILURE, report_errors


def _grid_values(text: str) -> list[Any]:
    """`4,6,8` → [4, 6, 8]; `[1,2],[3,4]` → [[1, 2], [3, 4]]; bare words stay strings."""
    try:
        values = json.loads(f"[{text}]")
    except ValueError:
        values = [part.strip() for part in text.split(",")]
    return values


@click.command()
@click.option("--template-id", required=True)
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
@report_errors
def sweep(template_id: str, mode: str, grids: tuple[str, ...], params: tuple[str, ...],
          samples: int | None, seed: int | None, pmf_mode: str, executor: str | None,
          scheduler: str | None,
          workers: int | None, store: str | None, templates_url: str | None,
          as_json: bool) -> None:
    """Run one template over a parameter grid and/or N seeds; reuse finished runs."""
    import threading

    from flowtime.adapters.cli.context import print_json
    from flowtime.container import Settings, build_container
    from flowtime.domain.errors import invalid
    from flowtime.domain.parameters import parse_cli_value
    from flowtime.domain.sweeps import SweepRequest, check_parameters

    settings = Settings.from_env(store_url=store, templates_url=templates_url,
                                 executor=executor or ("dask" if scheduler else None),
                                 dask_scheduler=scheduler, sweep_workers=workers)
    container = build_container(settings)
    definitions = {p.name: p for p in container.templates().get(template_id).parameters}
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
    request = SweepRequest(template_id, mode, grid, fixed, samples, seed, pmf_mode)
    found = check_parameters(request, list(definitions.values()))
    if found:
        raise invalid(found, "invalid sweep")  # exit 2, before any worker starts
    service = container.sweeps()
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
        from flowtime.domain.sweeps import expand

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
