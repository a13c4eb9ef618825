"""Building OpenTelemetry providers: Prometheus for /metrics, OTLP when configured.

OTLP switches on through the standard variables (OTEL_EXPORTER_OTLP_ENDPOINT, or
OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER set to `otlp`) and needs the `otlp` extra
(`pip install 'flowtime[otlp]'`: opentelemetry-exporter-otlp-proto-http); it is off by default.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CollectorRegistry

from flowtime.adapters.observability.prometheus import conventional_registry
from flowtime.version import __version__

log = logging.getLogger("flowtime.observability")


@dataclass
class Observability:
    meter_provider: MeterProvider
    tracer_provider: TracerProvider
    registry: CollectorRegistry


def build_observability(
    extra_readers: list[MetricReader] | None = None, *, service_name: str = "flowtime",
    otlp_metrics: bool = False, otlp_traces: bool = False,
) -> Observability:
    """Providers for one process. The OTLP exporters read their endpoint, headers and
    protocol from the standard OTEL_EXPORTER_OTLP_* variables themselves."""
    resource = Resource.create({"service.name": service_name, "service.version": __version__})
    exporter_registry = CollectorRegistry()
    readers: list[MetricReader] = [PrometheusMetricReader(registry=exporter_registry),
                                   *(extra_readers or [])]
    tracer_provider = TracerProvider(resource=resource)
    try:
        if otlp_metrics:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        if otlp_traces:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    except ImportError:
        log.warning("OTLP export requested but the exporter is not installed (pip install "
                    "'flowtime[otlp]'); continuing without it")
    meter_provider = MeterProvider(metric_readers=readers, resource=resource)
    return Observability(meter_provider, tracer_provider, conventional_registry(exporter_registry))
