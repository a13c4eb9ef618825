"""Metrics, spans and log events through the real OpenTelemetry SDK (SPEC §9)."""

from __future__ import annotations

import logging

import pytest
from litestar.testing import TestClient
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flowtime.adapters.http.app import create_app
from flowtime.adapters.observability.setup import build_observability
from flowtime.container import build_container
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.runs import RunRequest

EVENTS = ["RunOrchestrationStart", "RunOrchestrationValidation", "RunOrchestrationEvaluation",
          "RunOrchestrationArtifacts", "RunOrchestrationCompleted"]


@pytest.fixture
def telemetry():
    reader = InMemoryMetricReader()
    spans = InMemorySpanExporter()
    setup = build_observability(extra_readers=[reader])
    setup.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    return setup, reader, spans


@pytest.fixture
def observed(settings, telemetry):
    setup, reader, spans = telemetry
    container = build_container(settings, observability=setup)
    return container, reader, spans


def points(reader: InMemoryMetricReader, name: str) -> list:
    data = reader.get_metrics_data()
    found = []
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    found.extend(metric.data.data_points)
    return found


def total(reader, name: str) -> float:
    return sum(p.value for p in points(reader, name))


def test_one_run_counts_created_and_records_evaluation_time(observed):
    container, reader, _ = observed
    container.orchestration().create_run(RunRequest("it-system"))
    created = points(reader, "run_created_total")
    assert [p.value for p in created] == [1]
    assert dict(created[0].attributes) == {"templateId": "it-system", "mode": "simulation"}
    histogram = points(reader, "simulation_evaluation_duration_ms")
    assert histogram[0].count == 1 and histogram[0].sum > 0
    assert histogram[0].explicit_bounds[0] == 0.1 and histogram[0].explicit_bounds[-1] == 10000


def test_validation_failure_counts_failed_not_created(observed):
    container, reader, _ = observed
    with pytest.raises(FlowTimeError):
        container.orchestration().create_run(RunRequest("it-system", parameters={"bins": 1}))
    failed = points(reader, "run_failed_total")
    assert [p.value for p in failed] == [1]
    assert failed[0].attributes["reason"] == "invalid"
    assert total(reader, "run_created_total") == 0


def test_dry_run_and_reuse_change_no_counter(observed):
    container, reader, _ = observed
    service = container.orchestration()
    service.create_run(RunRequest("it-system", dry_run=True))
    assert total(reader, "run_created_total") == 0 and total(reader, "run_failed_total") == 0
    service.create_run(RunRequest("it-system", deterministic_run_id=True))
    service.create_run(RunRequest("it-system", deterministic_run_id=True))
    assert total(reader, "run_created_total") == 1


def test_span_tree_of_one_run(observed):
    container, _, spans = observed
    result = container.orchestration().create_run(RunRequest("supply-chain"))
    finished = {s.name: s for s in spans.get_finished_spans()}
    run = finished["flowtime.run"]
    assert run.attributes["runId"] == result.record.run_id
    assert run.attributes["templateId"] == "supply-chain"
    for child in ("validate", "evaluate", "write"):
        assert finished[child].parent.span_id == run.context.span_id
        assert finished[child].context.trace_id == run.context.trace_id


def test_http_request_span_is_the_parent_of_the_run_span(observed):
    container, _, spans = observed
    with TestClient(create_app(container)) as client:
        assert client.post("/v1/runs", json={"templateId": "it-system"}).status_code == 201
    finished = spans.get_finished_spans()
    run = next(s for s in finished if s.name == "flowtime.run")
    by_id = {s.context.span_id: s for s in finished}
    parent = by_id[run.parent.span_id]
    assert "POST" in parent.name and parent.kind.name == "SERVER"


def test_log_events_in_order_with_ids(observed, caplog):
    container, _, _spans = observed
    caplog.set_level(logging.INFO, logger="flowtime.run_orchestration")
    result = container.orchestration().create_run(RunRequest("it-system", run_id="logged"))
    events = [r.flowtime for r in caplog.records if hasattr(r, "flowtime")]
    assert [e["event"] for e in events] == EVENTS
    for event in events:
        assert event["templateId"] == "it-system" and event["mode"] == "simulation"
        assert len(event["traceId"]) == 32
    assert all(e["runId"] == result.record.run_id for e in events[1:])
    assert all("durationMs" in e for e in events[1:])


def test_failed_run_logs_the_failed_event(observed, caplog):
    container, _, _ = observed
    caplog.set_level(logging.INFO, logger="flowtime.run_orchestration")
    with pytest.raises(FlowTimeError):
        container.orchestration().create_run(RunRequest("nope"))
    events = [r.flowtime for r in caplog.records if hasattr(r, "flowtime")]
    assert [e["event"] for e in events] == ["RunOrchestrationStart", "RunOrchestrationFailed"]
    assert events[-1]["reason"] == "not_found" and events[-1]["templateId"] == "nope"


def test_metrics_endpoint_serves_prometheus_text(observed):
    container, _, _ = observed
    with TestClient(create_app(container)) as client:
        client.post("/v1/runs", json={"templateId": "it-system"})
        text = client.get("/metrics").text
    assert 'run_created_total{mode="simulation"' in text
    assert 'template_id="it-system"' in text and "templateId" not in text
    assert "# TYPE simulation_evaluation_duration_ms histogram" in text
    assert "simulation_evaluation_duration_ms_bucket{" in text
    assert "simulation_evaluation_duration_ms_count{" in text
    assert "_ms_milliseconds" not in text and "_milliseconds" not in text
    assert "http_server_duration_seconds_bucket{" in text


def test_http_metrics_are_labelled_by_route_template_not_by_run_id(observed):
    container, _, _ = observed
    with TestClient(create_app(container)) as client:
        ids = [client.post("/v1/runs", json={"templateId": "it-system"}).json()["metadata"]["runId"]
               for _ in range(2)]
        for run_id in ids:
            client.get(f"/v1/runs/{run_id}")
            client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 1})
        text = client.get("/metrics").text
    http = [line for line in text.splitlines() if line.startswith("http_server_duration")]
    assert any('http_target="/v1/runs/{run_id}"' in line for line in http)
    assert any('http_target="/v1/runs/{run_id}/state"' in line for line in http)
    assert not any(run_id in line for line in http for run_id in ids)


def test_json_log_lines_carry_the_structured_fields(capsys):
    from flowtime.adapters.observability.logs import configure_logging

    configure_logging(json_lines=True)
    logging.getLogger("flowtime.run_orchestration").info(
        "RunOrchestrationStart", extra={"flowtime": {"event": "RunOrchestrationStart",
                                                     "templateId": "t", "mode": "simulation"}})
    import json

    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "RunOrchestrationStart" and line["templateId"] == "t"
    logging.getLogger("flowtime").handlers.clear()
    logging.getLogger("flowtime").propagate = True


def test_the_server_prints_only_json_lines_uvicorn_included(tmp_path):
    """One log format: uvicorn's start-up, access and shutdown lines are JSON like the app's."""
    import json
    import os
    import subprocess
    import sys
    import time

    import httpx

    from benchmarks.server import free_port

    port = free_port()
    env = {**os.environ, "FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0"}
    env.pop("FLOWTIME_STORE", None)
    server = subprocess.Popen([sys.executable, "-m", "flowtime.adapters.cli.main", "serve",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        httpx.post(f"http://127.0.0.1:{port}/v1/runs", json={"templateId": "it-system"})
        httpx.get(f"http://127.0.0.1:{port}/v1/runs/nope")
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]  # each one JSON
    loggers = {line["logger"] for line in lines}
    assert {"uvicorn.error", "uvicorn.access", "flowtime.run_orchestration"} <= loggers
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert {"method": "GET", "path": "/v1/runs/nope", "status": 404}.items() <= access[-1].items()
    assert all({"ts", "level", "message"} <= line.keys() for line in lines)
