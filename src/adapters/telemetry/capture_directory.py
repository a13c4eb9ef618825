"""Capture directories on the local filesystem, confined to a capture root."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import unquote

from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, invalid
from flowtime.ports.telemetry import TelemetryFile

MAX_TELEMETRY_FILE_BYTES = 64 * 1024 * 1024
MAX_PATH_CHARS = 1024


class CaptureDirectorySource:
    """Resolves capture directories and files strictly inside `root`.

    Relative capture directories are taken relative to the root; absolute ones must lie
    inside it. Paths are decoded once (`%2e%2e` is `..`), resolved with symlinks followed,
    and refused when the result leaves the root. Files are opened without blocking and
    must be regular files (checked on the open descriptor, so a FIFO or a device swapped in
    cannot stall or flood a worker); at most `max_bytes` are read.
    """

    def __init__(self, root: str | os.PathLike[str], max_bytes: int = MAX_TELEMETRY_FILE_BYTES):
        self.root = Path(root).resolve()
        self.max_bytes = max_bytes

    def _inside(self, base: Path, raw: str, loc: str) -> Path:
        if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
            raise invalid([Problem(loc, "must be a non-empty path")])
        decoded = unquote(raw)
        if "\x00" in decoded:
            raise invalid([Problem(loc, "must not contain NUL")])
        if len(decoded) > MAX_PATH_CHARS:
            raise invalid([Problem(loc, f"is longer than {MAX_PATH_CHARS} characters")])
        candidate = Path(decoded)
        joined = candidate if candidate.is_absolute() else base / candidate
        try:
            resolved = joined.resolve()
        except OSError as exc:  # a name too long for the filesystem, a symlink loop
            raise invalid([Problem(loc, f"is not a usable path ({exc.strerror})")]) from None
        if not resolved.is_relative_to(self.root):
            raise invalid([Problem(loc, f"{raw!r} is outside the capture root")])
        return resolved

    def resolve(self, capture_directory: str) -> str:
        folder = self._inside(self.root, capture_directory, "telemetry.captureDirectory")
        try:
            is_dir = folder.is_dir()
        except OSError:
            is_dir = False
        if not is_dir:
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
            return TelemetryFile(relative, self._read_regular(target, f"telemetry.files.{path}"))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            raise FlowTimeError(ErrorKind.UNPROCESSABLE, f"telemetry file '{path}' is missing", [
                Problem(f"telemetry.files.{path}", f"file '{path}' is missing or unreadable")
            ]) from None

    def _read_regular(self, target: Path, loc: str) -> bytes:
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise invalid([Problem(loc, "is not a regular file (a FIFO, device or socket "
                                       "cannot be telemetry)")])
            chunks, size = [], 0
            while chunk := os.read(fd, min(1 << 20, self.max_bytes + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > self.max_bytes:
                    raise invalid([Problem(loc, f"file is larger than {self.max_bytes} bytes "
                                           "(FLOWTIME_MAX_CAPTURE_FILE_BYTES)")])
            return b"".join(chunks)
        finally:
            os.close(fd)
