"""Ports: the Protocols the domain needs from the outside world."""

from flowtime.ports.artifacts import ArtifactStore
from flowtime.ports.clock import Clock
from flowtime.ports.observer import RunContext, RunObserver
from flowtime.ports.telemetry import TelemetryFile, TelemetrySource
from flowtime.ports.templates import TemplateSource

__all__ = [
    "ArtifactStore",
    "Clock",
    "RunContext",
    "RunObserver",
    "TelemetryFile",
    "TelemetrySource",
    "TemplateSource",
]
