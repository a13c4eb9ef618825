"""Watching a forecast (MODELING §9): every interval the data is read again (the forecast's
demand source), the forecast re-run, the rules evaluated; the results are published as
gauges (`flowtime_forecast_breach_probability{template,node}`,
`flowtime_forecast_first_breach_seconds{template,node,quantile}`, +Inf for "no breach in
the horizon") and every change of a rule (starts or stops firing) is POSTed once to the
webhook in Alertmanager's format. Delivery runs on its own thread with retries and
exponential backoff, so a receiver that is down never holds up the loop. Used by
`flowtime watch` and by the server's `/v1/watches`."""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flowtime.adapters.forecast_wire import WatchBody
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.modeling.grid import format_utc
from flowtime.domain.risk.service import ForecastService
from flowtime.domain.risk.watch import Alerts, Rule, check_rules, evaluate, webhook_payload

log = logging.getLogger("flowtime.watch")


class WebhookSender:
    """POSTs payloads in order on a thread of its own; retries with backoff."""

    def __init__(self, url: str, timeout: float = 5.0, attempts: int = 6,
                 backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep):
        self.url, self.timeout, self.attempts, self.backoff = url, timeout, attempts, backoff
        self.sleep = sleep
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="flowtime-webhook", daemon=True)
        self._thread.start()

    def send(self, payload: dict[str, Any]) -> None:
        self._queue.put(payload)

    def close(self, wait: float = 0.0) -> None:
        self._queue.put(None)
        if wait:
            self._thread.join(wait)

    def _run(self) -> None:
        while (payload := self._queue.get()) is not None:
            data = json.dumps(payload).encode("utf-8")
            for attempt in range(self.attempts):
                try:
                    request = urllib.request.Request(self.url, data=data, method="POST",
                                                     headers={"Content-Type":
                                                              "application/json"})
                    with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                        answer.read()
                    self.sent += 1
                    break
                except (urllib.error.URLError, OSError) as exc:
                    log.warning("webhook %s failed (attempt %d of %d): %s", self.url,
                                attempt + 1, self.attempts, exc)
                    if attempt + 1 < self.attempts:
                        self.sleep(self.backoff * 2 ** attempt)
            else:
                self.failed += 1


class WatchGauges:
    """The latest forecast of every watch, as a Prometheus collector."""

    def __init__(self) -> None:
        self.breach: dict[tuple[str, str], float] = {}
        self.first: dict[tuple[str, str, str], float] = {}
        self.lock = threading.Lock()

    def publish(self, template: str, result: Any, bin_seconds: float) -> None:
        with self.lock:
            for node, risk in result.sla.items():
                self.breach[(template, node)] = risk.any_breach
                for key, value in risk.first_breach.items():
                    self.first[(template, node, key)] = (math.inf if value is None
                                                         else value * bin_seconds)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        breach = GaugeMetricFamily("flowtime_forecast_breach_probability",
                                   "Probability of an SLA breach within the forecast horizon",
                                   labels=["template", "node"])
        first = GaugeMetricFamily("flowtime_forecast_first_breach_seconds",
                                  "Seconds from the window start to the first SLA breach, by "
                                  "quantile (+Inf: after the horizon)",
                                  labels=["template", "node", "quantile"])
        with self.lock:
            for (template, node), value in sorted(self.breach.items()):
                breach.add_metric([template, node], value)
            for (template, node, q), value in sorted(self.first.items()):
                first.add_metric([template, node, q], value)
        yield breach
        yield first


@dataclass
class WatchLoop:
    service: ForecastService
    spec: Callable[[], WatchBody]  # read again every cycle
    now: Callable[[], Any]
    gauges: WatchGauges
    sender: WebhookSender | None = None
    cycles: int = 0
    last_cycle: str | None = None
    last_states: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    alerts_sent: int = 0
    _alerts: Alerts | None = None

    def cycle(self) -> list[dict[str, Any]]:
        """One refresh: forecast, rules, gauges, alerts. Returns the alerts sent."""
        body = self.spec()
        rules = check_rules([Rule(r.node, r.probability, r.within_bins) for r in body.rules])
        moment = self.now().replace(second=0, microsecond=0)
        forecast = body.forecast
        if body.window_parameter:
            import msgspec

            forecast = msgspec.structs.replace(forecast, parameters={
                **forecast.parameters, body.window_parameter: format_utc(moment)})
        request = forecast.request()
        template = request.source.template_id or "inline"
        result = self.service.execute(request)
        states = evaluate(rules, result)
        self.gauges.publish(template, result, result.bin_seconds)
        if self._alerts is None or self._alerts.template != template:
            self._alerts = Alerts(template)
        changes = self._alerts.update(states, format_utc(moment))
        if changes and self.sender is not None:
            self.sender.send(webhook_payload(template, changes))
            self.alerts_sent += len(changes)
        self.cycles += 1
        self.last_cycle = format_utc(moment)
        self.last_states = [{"node": s.rule.node, "probability": s.rule.probability,
                             "withinBins": s.rule.within_bins, "value": s.value,
                             "firing": s.firing} for s in states]
        self.error = None
        return changes

    def run(self, stop: threading.Event, interval: Callable[[], float]) -> None:
        """Cycle until `stop`; a failed cycle is logged and the loop goes on."""
        while not stop.is_set():
            try:
                self.cycle()
            except FlowTimeError as exc:
                self.error = exc.detail
                log.warning("watch cycle failed: %s", exc.detail)
            stop.wait(interval())
