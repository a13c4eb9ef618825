"""`flowtime forecast SPEC`: a forecast from the shell (MODELING §9). SPEC is the body of
POST /v1/forecasts (YAML or JSON); it runs here with a progress bar on standard error, is
kept as a forecast record in the store like one made over HTTP (asking again returns it),
and `--json` prints the record the HTTP route returns."""

from __future__ import annotations

import sys
from typing import Any

import click

from flowtime.adapters.cli.errors import report_errors


@click.command("forecast")
@click.argument("spec", metavar="SPEC|-")
@click.option("--samples", type=click.IntRange(1, 100_000), help="Override the spec's samples.")
@click.option("--store", help="Artifact store URL (where the forecast record is kept).")
@click.option("--templates", "templates_url", help="Template folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the forecast record as JSON.")
@report_errors
def forecast(spec: str, samples: int | None, store: str | None, templates_url: str | None,
             as_json: bool) -> None:
    """Sample a model under knob priors (and a demand forecast): quantiles per series and
    bin, SLA breach probabilities, first-breach bins, overflow probabilities."""
    import msgspec

    from flowtime.adapters import forecast_wire as fw
    from flowtime.adapters.cli.context import container_for, print_json
    from flowtime.adapters.cli.observed import _load, _local_sources
    from flowtime.adapters.wire import decode_body

    body, folder = _load(spec)
    if isinstance(body.get("demand"), dict):
        _local_sources([body["demand"]], folder, {}, "demand")
    if samples is not None:
        body["samples"] = samples
    request = decode_body(msgspec.json.encode(body), fw.ForecastBody, "spec").request()
    container = container_for(store, templates_url)
    service = container.forecasts()
    record, run = service.open(request)
    if run:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("forecast"), BarColumn(), TextColumn("{task.completed:.0f}/"
                      "{task.total:.0f} samples"), TimeRemainingColumn(),
                      console=Console(stderr=True), transient=True,
                      disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task("forecast", total=request.samples)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            service.execute(request, None, update, record)
        record = service.get(record["id"])
    out = fw.forecast_out(record)
    if as_json:
        print_json(out)
        return
    _print(out)


def _print(out: Any) -> None:
    from flowtime.adapters.cli.context import print_table

    click.echo(f"{out.id}  {out.status}  {out.progress.done}/{out.progress.total} samples")
    result = out.result or {}
    sla = result.get("sla") or {}
    if sla:
        rows = []
        for node, risk in sla.items():
            first = risk["firstBreach"]
            peak = max(risk["breachProbability"] or [0.0])
            rows.append([node, f"{risk['slaMinutes']:g}", f"{risk['anyBreach']:.1%}",
                         f"{peak:.1%}", *(str(first.get(k)) if first.get(k) is not None
                                          else "none" for k in ("p10", "p50", "p90")),
                         str(first.get("neverCount"))])
        print_table(["node", "SLA min", "P(any breach)", "peak P(breach)", "first p10",
                     "first p50", "first p90", "never"], rows)
    for node, probabilities in (result.get("overflow") or {}).items():
        click.echo(f"{node}: P(overflow) peaks at {max(probabilities or [0.0]):.1%}")
