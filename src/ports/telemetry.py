"""Captured telemetry: CSV series inside a capture directory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TelemetryFile:
    path: str  # relative to the capture directory
    data: bytes


class TelemetrySource(Protocol):
    """Reads files of a capture directory that lies under the configured capture root.

    `resolve` checks a capture directory and returns its canonical name; any escape from
    the root (`..`, absolute paths elsewhere, symlinks out) raises an invalid error.
    `read` raises an unprocessable error for a missing or unreadable file.
    """

    def resolve(self, capture_directory: str) -> str: ...

    def read(self, capture_directory: str, path: str) -> TelemetryFile: ...
