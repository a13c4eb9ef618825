"""Ports: the Protocols the domain needs from the outside world."""

from flowtime.ports.artifacts import ArtifactStore
from flowtime.ports.clock import Clock
from flowtime.ports.observer import RunContext, RunObserver
from flowtime.ports.plugins import StorePlugin, TemplateSourcePlugin
from flowtime.ports.randomness import RandomSource
from flowtime.ports.sweeps import Executor, SweepStore
from flowtime.ports.telemetry import TelemetryFile, TelemetrySource
from flowtime.ports.templates import TemplateSource

__all__ = [
    "ArtifactStore",
    "Clock",
    "Executor",
    "RandomSource",
    "RunContext",
    "RunObserver",
    "StorePlugin",
    "SweepStore",
    "TelemetryFile",
    "TelemetrySource",
    "TemplateSource",
    "TemplateSourcePlugin",
]
