"""OTLP export against a real receiver: a small OTLP/HTTP endpoint in this test process
decodes the protobuf payloads (opentelemetry-proto) that a `flowtime run` process sends
through the `otlp` extra's exporter; nothing of the exporter is mocked."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list = []
        self.metrics: list = []
        self.resources: list = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        assert self.headers.get("content-type") == "application/x-protobuf"
        if self.path == "/v1/traces":
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            with self.server.lock:
                for resource_spans in request.resource_spans:
                    self.server.resources.append(resource_spans.resource)
                    for scope in resource_spans.scope_spans:
                        self.server.spans.extend(scope.spans)
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        elif self.path == "/v1/metrics":
            request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
            with self.server.lock:
                for resource_metrics in request.resource_metrics:
                    for scope in resource_metrics.scope_metrics:
                        self.server.metrics.extend(scope.metrics)
            reply = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_cli_run_exports_its_span_tree_and_metrics_over_otlp(receiver, tmp_path):
    env = {**os.environ, "FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0",
           "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "flowtime-test"}
    env.pop("FLOWTIME_STORE", None)
    done = subprocess.run([sys.executable, "-m", "flowtime.adapters.cli.main", "run",
                           "--template-id", "supply-chain", "--run-id", "otlp-1"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # the process flushed both signals at exit
    by_name = {span.name: span for span in receiver.spans}
    run = by_name["flowtime.run"]
    attributes = {a.key: a.value.string_value for a in run.attributes}
    assert attributes["runId"] == "otlp-1" and attributes["templateId"] == "supply-chain"
    for child in ("validate", "evaluate", "write"):
        assert by_name[child].parent_span_id == run.span_id
        assert by_name[child].trace_id == run.trace_id
    service = {a.key: a.value.string_value for a in receiver.resources[0].attributes}
    assert service["service.name"] == "flowtime-test"
    names = {metric.name for metric in receiver.metrics}
    assert {"run_created_total", "simulation_evaluation_duration_ms"} <= names, names
    created = next(m for m in receiver.metrics if m.name == "run_created_total")
    assert sum(p.as_int for p in created.sum.data_points) == 1
