"""`flowtime catalog status|sync|rebuild`: the run catalog beside the artifact store."""

from __future__ import annotations

from typing import Any

import click

from flowtime.adapters.cli.errors import report_errors

STORE_HELP = "Artifact store URL (default: FLOWTIME_STORE or FLOWTIME_DATA_DIR)."


@click.group()
def catalog() -> None:
    """The run catalog: what listing and search read (FLOWTIME_CATALOG; default an
    embedded SQLite file beside the store's runs)."""


def _report(report: Any, location: str, as_json: bool, what: str) -> None:
    from flowtime.adapters.cli.context import print_json

    body = {"catalog": location, "storedRuns": report.stored, "written": report.added,
            "removed": report.removed, "cataloged": report.cataloged,
            "unreadable": list(report.unreadable)}
    if as_json:
        print_json(body)
        return
    click.echo(f"{what}: {report.added} written, {report.removed} removed; "
               f"{report.cataloged} runs cataloged, {report.stored} in the store ({location})")
    if report.unreadable:
        click.echo(f"skipped {len(report.unreadable)} unreadable runs: "
                   + ", ".join(report.unreadable[:10]), err=True)


def _sync(store: str | None, full: bool, as_json: bool) -> None:
    import sys

    from flowtime.adapters.cli.context import container_for
    from flowtime.domain.services.catalog import sync

    container = container_for(store)
    target = container.catalog()
    if as_json or not sys.stderr.isatty():
        report = sync(container.store(), target, full=full)
    else:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("reading runs", total=None)
            report = sync(container.store(), target, full=full,
                          progress=lambda done, total: bar.update(task, completed=done,
                                                                  total=total))
    _report(report, target.location, as_json, "rebuilt" if full else "synced")


@catalog.command("sync")
@click.option("--store", help=STORE_HELP)
@click.option("--json", "as_json", is_flag=True)
@report_errors
def sync_command(store: str | None, as_json: bool) -> None:
    """Add runs the catalog misses (a crash between publish and catalog) and drop rows whose
    bundle is gone."""
    _sync(store, False, as_json)


@catalog.command("rebuild")
@click.option("--store", help=STORE_HELP)
@click.option("--json", "as_json", is_flag=True)
@report_errors
def rebuild_command(store: str | None, as_json: bool) -> None:
    """Rewrite every row from the store (listings stay available meanwhile)."""
    _sync(store, True, as_json)


@catalog.command("status")
@click.option("--store", help=STORE_HELP)
@click.option("--json", "as_json", is_flag=True)
@report_errors
def status_command(store: str | None, as_json: bool) -> None:
    """Where the catalog is, its schema revision and how many runs it lists."""
    from flowtime.adapters.cli.context import container_for, print_json
    from flowtime.domain.services.catalog import backlog

    container = container_for(store)
    target = container.catalog()
    body = {"catalog": target.location, "revision": target.revision(), "runs": target.count(),
            "backlog": len(backlog(container.store()))}
    if as_json:
        print_json(body)
    else:
        click.echo(f"{body['catalog']}: {body['runs']} runs (schema {body['revision']})")
        if body["backlog"]:
            click.echo(f"{body['backlog']} runs published while it was down wait to be listed "
                       "(a server lists them within seconds; `flowtime catalog sync` now)")
