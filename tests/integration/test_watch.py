"""Watching a forecast (issue 39): rules fire once and resolve once, alerts reach a real
webhook receiver in Alertmanager's format, a receiver that is down is retried without
holding up the loop, and the gauges appear on the server's /metrics."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec
from test_forecasts import queue_model  # the same one-queue model

from flowtime.adapters import forecast_wire as fw
from flowtime.adapters.watch import WatchGauges, WatchLoop, WebhookSender
from flowtime.container import Settings, build_container


class Receiver:
    """A webhook receiver: keeps every JSON body POSTed to it."""

    def __init__(self, port: int = 0):
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spec(lo: float, hi: float, url: str | None) -> fw.WatchBody:
    body = {"forecast": {"template": queue_model(4, sla=0.001), "pmfMode": "expected",
                         "samples": 400, "priors": [{"knob": "cap", "dist": {
                             "kind": "uniform", "lo": lo, "hi": hi}}]},
            "rules": [{"node": "Q", "probability": 0.5, "withinBins": 2}],
            "intervalSeconds": 1}
    if url:
        body["webhook"] = {"url": url, "maxAttempts": 3}
    return msgspec.convert(body, fw.WatchBody)


def _wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_rule_fires_once_and_resolves_once(tmp_path):
    container = build_container(Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path),
                                                   "FLOWTIME_FSYNC": "0"}))
    receiver = Receiver()
    specs = [_spec(2, 8, receiver.url)] * 2 + [_spec(12, 20, receiver.url)] * 2
    current = iter(specs)
    sender = WebhookSender(receiver.url, attempts=3, backoff=0.01)
    loop = WatchLoop(container.forecasts(), lambda: next(current),
                     lambda: datetime(2026, 12, 3, 10, 0, 30, tzinfo=UTC), WatchGauges(),
                     sender)
    try:
        # capacity 2…8 against 10 arriving: a queue in every sample — P = 1 ≥ 0.5, firing
        assert [a["status"] for a in loop.cycle()] == ["firing"]
        assert loop.cycle() == []  # still firing: nothing new to say
        # capacity 12…20: never a queue — P = 0, resolved (once)
        assert [a["status"] for a in loop.cycle()] == ["resolved"]
        assert loop.cycle() == []
        _wait_for(lambda: len(receiver.bodies) == 2)
        first, second = receiver.bodies
        assert first["version"] == "4" and first["status"] == "firing"
        alert = first["alerts"][0]
        assert alert["labels"]["node"] == "Q" and alert["labels"]["alertname"] == \
            "FlowtimeSlaBreachRisk"
        assert alert["startsAt"] == "2026-12-03T10:00:00Z"
        assert second["status"] == "resolved"
        assert second["alerts"][0]["fingerprint"] == alert["fingerprint"]
        assert loop.last_states[0]["value"] == 0.0
    finally:
        sender.close()
        receiver.close()


def test_a_receiver_that_is_down_is_retried_without_blocking(tmp_path):
    container = build_container(Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path),
                                                   "FLOWTIME_FSYNC": "0"}))
    port = _free_port()
    url = f"http://127.0.0.1:{port}/alerts"
    sender = WebhookSender(url, timeout=1, attempts=40, backoff=0.05)
    specs = iter([_spec(2, 8, url), _spec(12, 20, url)])
    loop = WatchLoop(container.forecasts(), lambda: next(specs), lambda: datetime.now(UTC),
                     WatchGauges(), sender)
    started = time.monotonic()
    loop.cycle()
    loop.cycle()
    assert time.monotonic() - started < 10  # the loop did not wait for the receiver
    assert sender.sent == 0
    time.sleep(0.3)  # a few attempts fail…
    receiver = Receiver(port)  # …then the receiver comes up and both alerts arrive, in order
    try:
        _wait_for(lambda: len(receiver.bodies) == 2)
        assert [b["status"] for b in receiver.bodies] == ["firing", "resolved"]
    finally:
        sender.close()
        receiver.close()


def test_a_server_watch_publishes_gauges(client):
    body = {"forecast": {"templateId": "it-system", "samples": 200,
                         "priors": [{"knob": "billingCapacity",
                                     "dist": {"kind": "uniform", "lo": 10, "hi": 20}}]},
            "rules": [{"node": "Billing", "probability": 0.5, "withinBins": 6}],
            "intervalSeconds": 60}
    created = client.post("/v1/watches", json=body)
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    _wait_for(lambda: client.get(location).json()["cycles"] >= 1)
    state = client.get(location).json()
    assert state["rules"][0]["firing"] is True  # capacity 10…20 against 30–60 orders a bin
    metrics = client.get("/metrics").text
    assert 'flowtime_forecast_breach_probability{node="Billing",template="it-system"} 1.0' \
        in metrics
    assert 'flowtime_forecast_first_breach_seconds{node="Billing",quantile="p50",' \
           'template="it-system"}' in metrics
    assert client.delete(location).status_code == 204
    assert client.get(location).status_code == 404
    bad = client.post("/v1/watches", json={**body, "rules": [
        {"node": "Billing", "probability": 2, "withinBins": 6}]})
    assert bad.status_code == 400
