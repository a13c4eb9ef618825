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
        record = service.get(record.id)
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


@click.command("watch")
@click.argument("spec", metavar="SPEC")
@click.option("--once", is_flag=True, help="One cycle, then exit (for cron).")
@click.option("--metrics-port", type=click.IntRange(1, 65535),
              help="Serve the gauges on http://127.0.0.1:PORT/metrics meanwhile.")
@click.option("--store", help="Artifact store URL.")
@click.option("--templates", "templates_url", help="Template folder.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per cycle.")
@report_errors
def watch(spec: str, once: bool, metrics_port: int | None, store: str | None,
          templates_url: str | None, as_json: bool) -> None:
    """Re-forecast on an interval and alert before an SLA breach. SPEC (YAML or JSON, read
    again every cycle): {forecast: <POST /v1/forecasts body>, rules: [{node, probability,
    withinBins}], intervalSeconds, webhook: {url}, windowParameter}. A rule fires when
    P(first breach within withinBins bins) ≥ probability; every start and stop is POSTed
    once to the webhook in Alertmanager's format."""
    import json
    import threading

    import msgspec

    from flowtime.adapters import forecast_wire as fw
    from flowtime.adapters.cli.context import container_for
    from flowtime.adapters.cli.observed import _load, _local_sources
    from flowtime.adapters.watch import WatchGauges, WatchLoop, WebhookSender
    from flowtime.adapters.wire import decode_body

    def read() -> Any:
        body, folder = _load(spec)
        demand = (body.get("forecast") or {}).get("demand")
        if isinstance(demand, dict):
            _local_sources([demand], folder, {}, "forecast.demand")
        return decode_body(msgspec.json.encode(body), fw.WatchBody, "spec")

    first = read()
    container = container_for(store, templates_url)
    gauges = WatchGauges()
    if metrics_port is not None:
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry()
        registry.register(gauges)
        start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
    sender = (WebhookSender(first.webhook.url, first.webhook.timeout_seconds,
                            first.webhook.max_attempts) if first.webhook else None)
    loop = WatchLoop(container.forecasts(), read, container.clock().now, gauges, sender)
    stop = threading.Event()
    while True:
        try:
            changes = loop.cycle()
        except Exception as exc:
            from flowtime.domain.errors import FlowTimeError

            if once or not isinstance(exc, FlowTimeError):
                raise
            click.echo(f"warning: cycle failed: {exc.detail}", err=True)
            changes = []
        if as_json:
            click.echo(json.dumps({"cycle": loop.cycles, "utc": loop.last_cycle,
                                   "rules": loop.last_states, "alerts": changes}))
        else:
            for state in loop.last_states:
                mark = "FIRING" if state["firing"] else "ok"
                click.echo(f"{loop.last_cycle} {state['node']}: P(breach within "
                           f"{state['withinBins']} bins) = {state['value']:.3f} "
                           f"(≥ {state['probability']:g}: {mark})")
        if once:
            break
        try:
            stop.wait(read().interval_seconds)
        except KeyboardInterrupt:
            break
    if sender is not None:
        sender.close(wait=10.0 if once else 0.0)
