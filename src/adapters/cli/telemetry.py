"""`flowtime telemetry capture`: turn a run into a capture directory."""

from __future__ import annotations

import click

from flowtime.adapters.cli.errors import report_errors


@click.group()
def telemetry() -> None:
    """Telemetry captures."""


@telemetry.command("capture")
@click.argument("run_id")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--gaps", default="", help="Inject gaps: node:bin[-bin],… (e.g. demand:3,demand:5-7).")
@click.option("--gap-mode", type=click.Choice(["drop", "zero"]), default="drop",
              show_default=True, help="Drop the rows or write zeros.")
@click.option("--store", help="Artifact store URL.")
@click.option("--json", "as_json", is_flag=True, help="Print {out, files, warnings} as JSON.")
@report_errors
def capture(run_id: str, out: str, gaps: str, gap_mode: str, store: str | None,
            as_json: bool) -> None:
    """Write one CSV per node metric of RUN_ID plus telemetry-manifest.json."""
    from rich.progress import Progress

    from flowtime.adapters.cli.context import container_for
    from flowtime.adapters.telemetry.capture import capture_run, parse_gaps

    container = container_for(store)
    with Progress(transient=True) as progress:
        task = progress.add_task("capturing", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        manifest = capture_run(container.queries(), run_id, out, parse_gaps(gaps), gap_mode,
                               container.clock(), on_progress=advance)
    if as_json:
        from flowtime.adapters.cli.context import print_json

        print_json({"out": out, "files": [f.path for f in manifest.files],
                    "warnings": [w.message for w in manifest.warnings]})
        return
    click.echo(f"captured {len(manifest.files)} files to {out}")
    for warning in manifest.warnings:
        click.echo(f"warning: {warning.message}")
