"""`flowtime scenario RUN --overlay …` (a run with overlays, linked to RUN), `flowtime runs
diff A --against B` and `flowtime runs metrics RUN` (MODELING §10). `--json` prints the
HTTP bodies."""

from __future__ import annotations

from typing import Any

import click

from flowtime.adapters.cli.errors import report_errors

OVERLAY_HELP = ("TARGET OP VALUE @FROM:TO, OP one of = (set), * (scale), + or - (add); "
                "e.g. Tier1.capacity*0@40:44 (repeat)")


@click.command("scenario")
@click.argument("run_id")
@click.option("--overlay", "overlays", multiple=True, metavar="TARGET*V@FROM:TO",
              help=OVERLAY_HELP)
@click.option("--overlay-file", type=click.Path(exists=True, dir_okay=False),
              help="A JSON list of {target, op, value, fromBin, toBin}.")
@click.option("--deterministic-run-id", is_flag=True, help="Reuse an identical scenario.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the new run.")
@click.option("--store", help="Artifact store URL.")
@click.option("--json", "as_json", is_flag=True, help="The run as JSON (the HTTP body).")
@report_errors
def scenario(run_id: str, overlays: tuple[str, ...], overlay_file: str | None,
             deterministic_run_id: bool, tags: tuple[str, ...], store: str | None,
             as_json: bool) -> None:
    """Run RUN again with overlays (an outage, a surge…), linked to it as its baseline."""
    from flowtime.adapters.cli.context import container_for, print_json
    from flowtime.adapters.cli.run import _print_result, _split_pairs
    from flowtime.adapters.wire import result_response

    chosen = read_overlays(overlays, overlay_file)
    if not chosen:
        raise click.UsageError("give at least one --overlay or --overlay-file")
    labels = dict(_split_pairs(tags, "--tag"))
    result = container_for(store).orchestration().scenario(run_id, chosen, deterministic_run_id,
                                                           labels)
    if as_json:
        print_json(result_response(result))
        return
    _print_result(result)
    click.echo(f"baseline  {run_id}  ({', '.join(o.describe() for o in chosen)})")


def read_overlays(short: tuple[str, ...] | list[str], path: str | None) -> tuple[Any, ...]:
    import json
    from pathlib import Path

    from flowtime.adapters.overlays import overlays_from
    from flowtime.domain.errors import Problem, invalid
    from flowtime.domain.views.scenarios import parse_short

    found = [parse_short(text) for text in short]
    if path is not None:
        try:
            items = json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise invalid([Problem("--overlay-file", f"not JSON: {exc}")]) from None
        found.extend(overlays_from(items, "--overlay-file"))
    return tuple(found)


@click.command("diff")
@click.argument("run_id")
@click.option("--against", required=True, help="The baseline run.")
@click.option("--store", help="Artifact store URL.")
@click.option("--json", "as_json", is_flag=True, help="The diff as JSON (the HTTP body).")
@report_errors
def diff(run_id: str, against: str, store: str | None, as_json: bool) -> None:
    """What RUN changed against its baseline: per node Δ mean/max/sum, first flip, recovery."""
    from flowtime.adapters.cli.context import container_for, print_json, print_table
    from flowtime.adapters.http.scenarios import diff_out

    body = diff_out(container_for(store).queries().diff(run_id, against))
    if as_json:
        print_json(body)
        return

    def cell(value: object) -> str:
        return "—" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)

    rows = []
    for node in body.nodes:
        queue = node.metrics.get("queue")
        latency = node.metrics.get("latencyMinutes")
        rows.append([node.id, cell(queue.delta_max if queue else None),
                     cell(latency.delta_max if latency else None), cell(node.extra_backlog),
                     cell(node.first_flip_bin), cell(node.recovery_bin)])
    print_table(["node", "Δ max queue", "Δ max latency min", "extra backlog", "first flip bin",
                 "recovery bin"], rows, caption=f"{run_id} against {against}")


@click.command("metrics")
@click.argument("run_id")
@click.option("--start-bin", type=click.IntRange(0), default=0, show_default=True)
@click.option("--end-bin", type=click.IntRange(0), help="Default: the last bin.")
@click.option("--store", help="Artifact store URL.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON (the HTTP body).")
@report_errors
def metrics(run_id: str, start_bin: int, end_bin: int | None, store: str | None,
            as_json: bool) -> None:
    """SLA attainment per node with an SLA: bins met of bins with flow."""
    from flowtime.adapters.cli.context import container_for, print_json, print_table
    from flowtime.adapters.http.scenarios import metrics_out

    body = metrics_out(container_for(store).queries().sla_metrics(run_id, start_bin, end_bin))
    if as_json:
        print_json(body)
        return
    print_table(["node", "SLA min", "bins met", "bins with flow", "attainment"],
                [[n.id, f"{n.sla_minutes:g}", str(n.bins_met), str(n.bins_with_flow),
                  "—" if n.attainment is None else f"{n.attainment:.1%}"] for n in body.nodes],
                caption=f"bins {body.window.start_bin}–{body.window.end_bin}")
