"""Budgets of the newer surfaces, each refused past its limit with our own status and
message (issue 42's rule applied to forecasts, watches and Prometheus answers)."""

from __future__ import annotations

import http.server
import threading

import pytest
from litestar.testing import TestClient

from flowtime.adapters.http.app import create_app
from flowtime.container import Settings, build_container
from flowtime.domain.risk.forecast import MAX_QUANTILE_VALUES
from tests.integration.test_forecasts import queue_model


def _client(tmp_path, **env: str) -> TestClient:
    settings = Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0",
                                  **env})
    return TestClient(create_app(build_container(settings)))


def test_a_forecast_keeping_too_many_values_is_a_413_naming_the_product(tmp_path):
    bins = 2_000
    samples = MAX_QUANTILE_VALUES // bins + 1  # one sample over, for one series
    body = {"template": queue_model(bins=bins), "samples": samples, "series": ["q_queue"],
            "priors": [{"knob": "cap", "dist": {"kind": "uniform", "lo": 8, "hi": 12}}]}
    with _client(tmp_path) as client:
        answer = client.post("/v1/forecasts", json=body)
        assert answer.status_code == 413, answer.text
        problem = answer.json()["errors"][0]
        assert problem["loc"] == "samples"
        assert f"{samples} samples × {bins} bins × 1 series" in problem["msg"]
        assert client.get("/v1/forecasts").json()["items"] == []  # nothing was started


def test_a_server_holds_at_most_its_limit_of_watches(tmp_path):
    body = {"forecast": {"templateId": "it-system", "samples": 20,
                         "priors": [{"knob": "billingCapacity",
                                     "dist": {"kind": "uniform", "lo": 10, "hi": 20}}]},
            "rules": [{"node": "Billing", "probability": 0.5, "withinBins": 6}],
            "intervalSeconds": 3600}
    with _client(tmp_path, FLOWTIME_MAX_SESSIONS="2") as client:
        first = client.post("/v1/watches", json=body)
        second = client.post("/v1/watches", json={**body, "intervalSeconds": 1800})
        assert (first.status_code, second.status_code) == (201, 201)
        third = client.post("/v1/watches", json={**body, "intervalSeconds": 900})
        assert third.status_code == 429, third.text
        assert "at most 2 per server" in third.json()["errors"][0]["msg"]
        assert client.delete(first.headers["location"]).status_code == 204
        assert client.post("/v1/watches", json=body).status_code == 201  # room again


@pytest.fixture
def prometheus_answering(request):
    """A server that answers every query with `request.param` bytes of JSON."""
    size = request.param

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            head = b'{"status":"success","data":{"resultType":"matrix","result":[],"pad":"'
            body = head + b"x" * max(0, size - len(head) - 3) + b'"}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("prometheus_answering", [4096], indirect=True)
def test_a_prometheus_answer_over_the_limit_is_a_413_not_a_memory_spike(
        tmp_path, prometheus_answering, monkeypatch):
    from flowtime.adapters.metrics import prometheus

    monkeypatch.setattr(prometheus, "MAX_BODY", 1024)  # the real limit is 256 MiB
    body = {"source": {"kind": "prometheus", "url": prometheus_answering, "query": "up"},
            "grid": {"start": "2026-01-01T00:00:00Z", "bins": 12, "binSize": 5}}
    env = {"FLOWTIME_PROMETHEUS_URLS": prometheus_answering}
    with _client(tmp_path, **env) as client:
        answer = client.post("/v1/series/resample", json=body)
        assert answer.status_code == 413, answer.text
        problem = answer.json()["errors"][0]
        assert problem["loc"].endswith(".query") and "over 256 MiB" in problem["msg"]
        assert prometheus_answering not in answer.text
