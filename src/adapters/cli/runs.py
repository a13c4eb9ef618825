"""`flowtime runs list|show|state|export|delete`."""

from __future__ import annotations

import contextlib
from typing import Any

import click

from flowtime.adapters.cli.errors import report_errors
from flowtime.adapters.cli.remote import server_option, server_url

STORE_HELP = "Artifact store URL (default: FLOWTIME_STORE or FLOWTIME_DATA_DIR)."


@click.group()
def runs() -> None:
    """Inspect stored runs."""


@runs.command("list")
@click.option("--mode", type=click.Choice(["simulation", "telemetry"]))
@click.option("--template-id")
@click.option("--has-warnings/--no-warnings", default=None)
@click.option("--page", type=click.IntRange(1), default=1, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 200), default=50, show_default=True)
@click.option("--tag", "tags", multiple=True, metavar="KEY:VALUE", help="Only runs with this "
              "tag (repeat for several).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Only runs with "
              "this parameter value (numbers match by value; repeat for several).")
@click.option("--sweep", "sweep_id", metavar="SWEEP_ID", help="Only the points of this sweep.")
@click.option("--sweep-members", type=click.Choice(["include", "exclude", "only"]),
              default=None, help="Runs made by sweeps: shown, hidden or alone [default: "
              "exclude, or include with --sweep].")
@click.option("--since", "created_from", metavar="TIME", help="Created at or after (ISO UTC or "
              "a date).")
@click.option("--until", "created_to", metavar="TIME", help="Created before (ISO UTC or a date).")
@click.option("--sort", default="-createdUtc", show_default=True,
              type=click.Choice(["-createdUtc", "createdUtc", "templateId", "-templateId",
                                 "runId", "-runId"]))
@click.option("--cursor", help="nextCursor of a previous page (--json shows it).")
@click.option("--store", help=STORE_HELP)
@server_option
@click.option("--json", "as_json", is_flag=True)
@report_errors
def list_runs(mode: str | None, template_id: str | None, has_warnings: bool | None, page: int,
              page_size: int, tags: tuple[str, ...], params: tuple[str, ...],
              sweep_id: str | None, sweep_members: str | None, created_from: str | None,
              created_to: str | None, sort: str, cursor: str | None, store: str | None,
              server: str | None, as_json: bool) -> None:
    """List runs, newest first (from the run catalog, or from a server)."""
    from flowtime.adapters.cli.context import container_for, print_json
    from flowtime.adapters.wire import page_response
    from flowtime.domain.artifacts.tags import parse_assignments, parse_filters
    from flowtime.domain.runs import RunFilter

    members = sweep_members or ("include" if sweep_id else "exclude")
    wanted = parse_assignments(list(params), "--param")
    remote = server_url(server)
    if remote:
        from flowtime.adapters.cli.remote import call

        query: dict[str, Any] = {"page": page, "pageSize": page_size, "sort": sort,
                                 "sweepMembers": members}
        for name, value in (("mode", mode), ("templateId", template_id), ("sweepId", sweep_id),
                            ("createdFrom", _rfc3339(created_from)),
                            ("createdTo", _rfc3339(created_to)), ("cursor", cursor)):
            if value is not None:
                query[name] = value
        if has_warnings is not None:
            query["hasWarnings"] = str(has_warnings).lower()
        if tags:
            query["tag"] = ",".join(tags)
        query.update({f"param.{k}": v for k, v in wanted.items()})
        body = call(remote, "GET", "/v1/runs", params=query)[1]
    else:
        run_filter = RunFilter(mode, template_id, has_warnings, parse_filters(list(tags)),
                               wanted, sweep_id, created_from, created_to, members)
        result = container_for(store).queries().list_runs(run_filter, page, page_size, sort,
                                                          cursor)
        import msgspec

        body = msgspec.to_builtins(page_response(result))
    if as_json:
        print_json(body)
        return
    from flowtime.adapters.cli.context import print_table

    rows = [[s["runId"], f"{s['templateId']} {s['templateVersion']}", s["mode"], s["createdUtc"],
             str(s["warningCount"]), _brief(s["parameters"])] for s in body["items"]]
    print_table(["run id", "template", "mode", "created", "warnings", "parameters"], rows,
                f"page {body['page']} of {body['totalCount']} runs")


def _rfc3339(text: str | None) -> str | None:
    """--since/--until accept a date too; the API wants a full time: a date is midnight UTC."""
    return f"{text}T00:00:00Z" if text is not None and len(text) == 10 else text


def _brief(parameters: dict[str, object], width: int = 48) -> str:
    """Scalar parameters as name=value, cut to `width` characters."""
    text = " ".join(f"{k}={v}" for k, v in parameters.items()
                    if isinstance(v, int | float | str | bool) and v != "")
    return text if len(text) <= width else text[:width - 1] + "…"


@runs.command("show")
@click.argument("run_id")
@click.option("--store", help=STORE_HELP)
@server_option
@click.option("--json", "as_json", is_flag=True, help="The GET /v1/runs/{runId} body as JSON.")
@report_errors
def show_run(run_id: str, store: str | None, server: str | None, as_json: bool) -> None:
    """Show a run: what made it, its grid, warnings and findings (`--json`: the HTTP body)."""
    import msgspec

    from flowtime.adapters.cli.context import container_for, print_json
    from flowtime.adapters.wire import record_response

    remote = server_url(server)
    if remote:
        from urllib.parse import quote

        from flowtime.adapters.cli.remote import call

        body = call(remote, "GET", f"/v1/runs/{quote(run_id, safe='')}")[1]
        sla = None
    else:
        queries = container_for(store).queries()
        body = msgspec.to_builtins(record_response(queries.get_run(run_id)))
        sla = None
        if not as_json:
            from flowtime.domain.errors import FlowTimeError

            with contextlib.suppress(FlowTimeError):  # a damaged series: the rest still shows
                sla = queries.sla_metrics(run_id)
    if as_json:
        print_json(body)
        return
    _print_run(body)
    for node in sla.nodes if sla is not None else []:  # MODELING §10: SLA attainment
        shown = "—" if node.attainment is None else f"{node.attainment:.1%}"
        click.echo(f"sla         {node.id}: {shown} of {node.bins_with_flow} bins with flow "
                   f"within {node.sla_minutes:g} min")


def _print_run(body: dict[str, Any]) -> None:
    meta, scenario = body.get("metadata") or {}, body.get("scenario") or {}
    grid = body.get("grid") or {}
    lines = [("run id", meta.get("runId")),
             ("template", f"{meta.get('templateId')} {meta.get('templateVersion', '')}".strip()),
             ("mode", meta.get("mode")), ("created", meta.get("createdUtc")),
             ("grid", f"{grid.get('bins')} bins of {grid.get('binSize')} {grid.get('binUnit')}"
              f" from {grid.get('startTimeUtc')}" if grid else None),
             ("seed", scenario.get("seed")), ("rng", scenario.get("rng")),
             ("pmf mode", scenario.get("pmfMode")),
             ("parameters", _brief(scenario.get("parameters") or {}, 200)),
             ("tags", " ".join(f"{k}={v}" for k, v in (body.get("tags") or {}).items())),
             ("sweep", body.get("sweepId")),
             ("location", (meta.get("storage") or {}).get("modelPath"))]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        if value not in (None, ""):
            click.echo(f"{key.ljust(width)}  {value}")
    for b in (body.get("analysis") or {}).get("bottlenecks") or []:
        click.echo(f"bottleneck  {b['nodeId']} (mean utilization {b.get('meanUtilization')}, "
                   f"queue growth {b.get('queueGrowth')}, bins {b.get('bins')})")
    warnings = body.get("warnings") or []
    click.echo(f"warnings    {len(warnings)}")
    for w in warnings:
        click.echo(f"  [{w['severity']}] {w['code']}: {w['message']}")


@runs.command("state")
@click.argument("run_id")
@click.option("--bin", "bin_index", type=int, required=True, help="Bin index (0-based).")
@click.option("--store", help=STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="The GET …/state body as JSON.")
@report_errors
def run_state(run_id: str, bin_index: int, store: str | None, as_json: bool) -> None:
    """Time-travel snapshot of every topology node at one bin (a table; `--json`: the body)."""
    import msgspec

    from flowtime.adapters.cli.context import container_for, print_json, print_table

    state = container_for(store).queries().state(run_id, bin_index)
    if as_json:
        print_json(state)
        return
    body = msgspec.to_builtins(state)

    def cell(value: object) -> str:
        return "—" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)

    rows = []
    for node in body["nodes"]:
        m, d = node.get("metrics") or {}, node.get("derived") or {}
        rows.append([node["id"], node["kind"], str(d.get("color")),
                     *(cell(m.get(k)) for k in ("arrivals", "served", "queue", "capacity")),
                     cell(d.get("utilization")), cell(d.get("latencyMinutes"))])
    bin_info = body.get("bin") or {}
    print_table(["node", "kind", "colour", "arrivals", "served", "queue", "capacity",
                 "utilization", "latency min"], rows,
                caption=f"bin {bin_info.get('index', bin_index)} "
                        f"({bin_info.get('startUtc', '')})".rstrip(" ()"))


@runs.command("verify")
@click.argument("run_id", required=False)
@click.option("--all", "verify_all", is_flag=True, help="Verify every run in the store.")
@click.option("--store", help=STORE_HELP)
@click.option("--jobs", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Runs verified at once (a remote store's round trips overlap).")
@click.option("--json", "as_json", is_flag=True, help="[{runId, ok, problems}] as JSON.")
@report_errors
def verify_runs(run_id: str | None, verify_all: bool, store: str | None, jobs: int,
                as_json: bool) -> None:
    """Re-hash bundle files against manifest.json and the series index."""
    from concurrent.futures import ThreadPoolExecutor

    from flowtime.adapters.cli.context import container_for

    if bool(run_id) == verify_all:
        raise click.UsageError("give a RUN_ID or --all")
    container = container_for(store)
    queries = container.queries()
    # --all walks the store itself: a run whose listing summary is lost is still checked.
    run_ids = [run_id] if run_id else container.store().run_ids()
    bad = 0
    results = []
    with ThreadPoolExecutor(jobs) as pool:  # `jobs` runs in flight, printed in order
        for rid, problems in zip(run_ids, pool.map(queries.verify_run, run_ids), strict=True):
            bad += bool(problems)
            results.append({"runId": rid, "ok": not problems,
                            "problems": [str(p) for p in problems]})
            if not as_json:
                click.echo(f"{rid}: {'ok' if not problems else 'CORRUPT'}")
                for problem in problems:
                    click.echo(f"  {problem}")
    if as_json:
        from flowtime.adapters.cli.context import print_json

        print_json(results)
    if bad:
        click.echo(f"{bad} of {len(run_ids)} runs failed verification", err=True)
        raise SystemExit(1)


@runs.command("gc")
@click.option("--older-than", type=click.FloatRange(0), default=3600, show_default=True,
              help="Seconds; younger leftovers may belong to a publish in flight.")
@click.option("--store", help=STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="{removed} as JSON.")
@report_errors
def collect_garbage(older_than: float, store: str | None, as_json: bool) -> None:
    """Remove leftovers of interrupted publishes (staging folders, uncommitted objects)."""
    from flowtime.adapters.cli.context import container_for, print_json

    removed = container_for(store).store().clean_debris(older_than)
    if as_json:
        print_json({"removed": removed})
        return
    click.echo(f"removed {removed} leftover entries")


@runs.command("delete")
@click.argument("run_id")
@click.option("--store", help=STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="{runId, deleted} as JSON.")
@report_errors
def delete_run(run_id: str, store: str | None, as_json: bool) -> None:
    """Delete a run."""
    from flowtime.adapters.cli.context import container_for, print_json

    container_for(store).queries().delete_run(run_id)
    if as_json:
        print_json({"runId": run_id, "deleted": True})
        return
    click.echo(f"deleted {run_id}")


@runs.command("tag")
@click.argument("run_id")
@click.argument("changes", nargs=-1, required=True, metavar="KEY=VALUE|KEY:VALUE|KEY=")
@click.option("--store", help=STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="The run's tags as JSON (the default "
              "is key=value lines).")
@report_errors
def tag_run(run_id: str, changes: tuple[str, ...], store: str | None, as_json: bool) -> None:
    """Set tags on a run (`KEY=` removes one); prints the run's tags."""
    from flowtime.adapters.cli.context import container_for, print_json

    updates: dict[str, str | None] = {}
    for item in changes:  # KEY=VALUE or KEY:VALUE, as the --tag filters take them
        cut = min((i for i in (item.find("="), item.find(":")) if i >= 0), default=-1)
        if cut <= 0:
            raise click.UsageError(f"expected KEY=VALUE (or KEY:VALUE), got {item!r}")
        updates[item[:cut]] = item[cut + 1:] or None
    tags = container_for(store).queries().tag_run(run_id, updates)
    if as_json:
        print_json(tags)
        return
    for key, value in tags.items():
        click.echo(f"{key}={value}")


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--series", "only", help="Only these series (comma-separated).")
@click.option("--all", "show_all", is_flag=True, help="List series that do not differ too.")
@click.option("--store", help=STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="The GET /v1/runs/compare body.")
@report_errors
def compare_runs(run_ids: tuple[str, ...], only: str | None, show_all: bool,
                 store: str | None, as_json: bool) -> None:
    """Compare 2–5 runs: differing parameters, then each series' mean/max/p95/last."""
    from flowtime.adapters.cli.context import container_for, print_json, print_table
    from flowtime.adapters.wire import compare_out

    wanted = [s for s in only.split(",") if s] if only else None
    result = container_for(store).queries().compare(list(run_ids), as_json, wanted)
    if as_json:
        print_json(compare_out(result))
        return
    ids = [r["runId"] for r in result.runs]

    def cell(value: object) -> str:
        return "—" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)

    print_table(["parameter", *ids],
                [[name, *(cell(result.parameters[name].get(i)) for i in ids)]
                 for name in result.differing_parameters]
                + [[f"({name})", *(cell(result.settings[name].get(i)) for i in ids)]
                   for name in result.differing_settings],
                caption="parameters and settings that differ")
    rows = []
    for s in result.series:
        if not (s.differs or show_all):
            continue
        for stat in ("mean", "max", "p95", "last"):
            rows.append([s.id if stat == "mean" else "", stat,
                         *(cell(getattr(s.summaries[i], stat)) for i in ids)])
    print_table(["series", "statistic", *ids], rows,
                caption="series that differ" if not show_all else "series")


@runs.command("export")
@click.argument("run_id")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "parquet", "arrow"]),
              default="csv", show_default=True)
@click.option("--classes", is_flag=True, help="One row per class as well (a `class` column).")
@click.option("--out", type=click.Path(dir_okay=False), help="Output file (default: stdout "
              "for csv and json, <runId>.<format> for parquet and arrow).")
@click.option("--store", help=STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print {path, bytes} of the written file.")
@report_errors
def export_run(run_id: str, fmt: str, classes: bool, out: str | None,
               store: str | None, as_json: bool) -> None:
    """Export every series of a run as one wide table (time, bin, one column per series)."""

    from flowtime.adapters.cli.context import container_for, write_output
    from flowtime.adapters.export import stream_run

    container = container_for(store)
    write_output(stream_run(container.queries(), run_id, fmt, classes,
                            container.settings().max_cells), fmt, out, run_id, as_json)
