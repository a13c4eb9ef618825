"""RunObserver on OpenTelemetry: metrics, spans and structured log events.

Meter `flowtime.run_orchestration`:
- `run_created_total` (counter): runs written (dry runs and reused runs do not count);
- `run_failed_total` (counter): failures after a request was accepted, with a `reason`
  (the error kind: invalid, not_found, conflict, unprocessable, …, or internal);
- `simulation_evaluation_duration_ms` (histogram, ms): model evaluation time.
All carry `templateId` and `mode`. Spans: `flowtime.run` with children `validate`,
`evaluate`, `write`. Log events: RunOrchestrationStart … Completed / Failed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Status, StatusCode, TracerProvider

from flowtime.ports.observer import RunContext
from flowtime.version import __version__

METER_NAME = "flowtime.run_orchestration"
PHASE_EVENTS = {"validate": "RunOrchestrationValidation", "evaluate": "RunOrchestrationEvaluation",
                "write": "RunOrchestrationArtifacts",
                "evaluate_batch": "RunOrchestrationBatchEvaluation"}  # many seeds at once
LOGGER_NAME = "flowtime.run_orchestration"
# 0.1 ms .. 10 s, roughly ×2.5 per step.
DURATION_BUCKETS_MS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
                       10000)


class OpenTelemetryRunObserver:
    def __init__(self, meter_provider: MeterProvider, tracer_provider: TracerProvider,
                 logger: logging.Logger | None = None):
        meter = meter_provider.get_meter(METER_NAME, __version__)
        self._created = meter.create_counter(
            "run_created_total", unit="1", description="Runs written to the artifact store")
        self._failed = meter.create_counter(
            "run_failed_total", unit="1", description="Runs that failed after being accepted")
        self._evaluation = meter.create_histogram(
            "simulation_evaluation_duration_ms", unit="ms",
            description="Time spent evaluating the model",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS_MS))
        self._tracer = tracer_provider.get_tracer(METER_NAME, __version__)
        self._log = logger or logging.getLogger(LOGGER_NAME)

    @staticmethod
    def _attributes(ctx: RunContext) -> dict[str, str]:
        return {"templateId": ctx.template_id, "mode": ctx.mode}

    def _event(self, name: str, ctx: RunContext, level: int = logging.INFO, **fields: Any) -> None:
        span_context = trace.get_current_span().get_span_context()
        data: dict[str, Any] = {"event": name, "templateId": ctx.template_id, "mode": ctx.mode}
        if ctx.run_id:
            data["runId"] = ctx.run_id
        if span_context.is_valid:
            data["traceId"] = format(span_context.trace_id, "032x")
        data.update(fields)
        self._log.log(level, name, extra={"flowtime": data})

    @contextmanager
    def run(self, ctx: RunContext) -> Iterator[None]:
        with self._tracer.start_as_current_span(
            "flowtime.run", attributes=self._attributes(ctx), record_exception=True
        ) as span:
            try:
                yield
            finally:
                if ctx.run_id:
                    span.set_attribute("runId", ctx.run_id)

    @contextmanager
    def phase(self, name: str, ctx: RunContext) -> Iterator[None]:
        with self._tracer.start_as_current_span(name, attributes=self._attributes(ctx)) as span:
            yield
            if ctx.run_id:
                span.set_attribute("runId", ctx.run_id)
            duration = ctx.durations_ms.get(name, 0.0)
            if name == "evaluate":
                self._evaluation.record(duration, self._attributes(ctx))
            self._event(PHASE_EVENTS[name], ctx, durationMs=round(duration, 3))

    def started(self, ctx: RunContext) -> None:
        self._event("RunOrchestrationStart", ctx)

    def completed(self, ctx: RunContext, *, created: bool, dry_run: bool) -> None:
        if created:
            self._created.add(1, self._attributes(ctx))
        self._event("RunOrchestrationCompleted", ctx, durationMs=round(ctx.elapsed_ms, 3),
                    created=created, dryRun=dry_run,
                    phasesMs={k: round(v, 3) for k, v in ctx.durations_ms.items()})

    def failed(self, ctx: RunContext, reason: str, error: BaseException) -> None:
        self._failed.add(1, {**self._attributes(ctx), "reason": reason})
        span = trace.get_current_span()
        span.set_status(Status(StatusCode.ERROR, str(error)[:200]))
        self._event("RunOrchestrationFailed", ctx, level=logging.WARNING if reason != "internal"
                    else logging.ERROR, durationMs=round(ctx.elapsed_ms, 3), reason=reason,
                    error=str(error)[:500])
