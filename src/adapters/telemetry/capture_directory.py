"""Capture directories on the local filesystem, confined to a capture root."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, invalid
from flowtime.ports.telemetry import TelemetryFile

MAX_TELEMETRY_FILE_BYTES = 64 * 1024 * 1024


class CaptureDirectorySource:
    """Resolves capture directories and files strictly inside `root`.

    Relative capture directories are taken relative to the root; absolute ones must lie
    inside it. Paths are decoded once (`%2e%2e` is `..`), resolved with symlinks followed,
    and refused when the result leaves the root.
    """

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()

    def _inside(self, base: Path, raw: str, loc: str) -> Path:
        if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
            raise invalid([Problem(loc, "must be a non-empty path")])
        decoded = unquote(raw)
        if "\x00" in decoded:
            raise invalid([Problem(loc, "must not contain NUL")])
        candidate = Path(decoded)
        joined = candidate if candidate.is_absolute() else base / candidate
        resolved = joined.resolve()
        if not resolved.is_relative_to(self.root):
            raise invalid([Problem(loc, f"{raw!r} is outside the capture root")])
        return resolved

    def resolve(self, capture_directory: str) -> str:
        folder = self._inside(self.root, capture_directory, "telemetry.captureDirectory")
        if not folder.is_dir():
            raise FlowTimeError(ErrorKind.UNPROCESSABLE, "capture directory not found", [
                Problem("telemetry.captureDirectory", f"{capture_directory!r} does not exist")])
        return str(folder)

    def read(self, capture_directory: str, path: str) -> TelemetryFile:
        folder = Path(capture_directory).resolve()
        if not folder.is_relative_to(self.root):
            raise invalid([Problem("telemetry.captureDirectory", "is outside the capture root")])
        target = self._inside(folder, path, f"telemetry.files.{path}")  # refuses escapes
        base = folder if target.is_relative_to(folder) else self.root
        relative = str(target.relative_to(base))
        try:
            if target.stat().st_size > MAX_TELEMETRY_FILE_BYTES:
                raise invalid([Problem(f"telemetry.files.{path}", "file is too large")])
            return TelemetryFile(relative, target.read_bytes())
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            raise FlowTimeError(ErrorKind.UNPROCESSABLE, f"telemetry file '{path}' is missing", [
                Problem(f"telemetry.files.{path}", f"file '{path}' is missing or unreadable")
            ]) from None
