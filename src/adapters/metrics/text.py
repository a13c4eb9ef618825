"""Reading a source description's fields, with located problems."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowtime.domain.errors import Problem, invalid


def text_field(source: Mapping[str, Any], name: str, loc: str, required: bool = True,
               default: str | None = None) -> str | None:
    value = source.get(name, default)
    if value is None:
        if required:
            raise invalid([Problem(f"{loc}.{name}", "is required")])
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid([Problem(f"{loc}.{name}", "must be a non-empty string")])
    return value


def known_fields(source: Mapping[str, Any], allowed: set[str], loc: str) -> None:
    unknown = sorted(set(source) - allowed - {"kind"})
    if unknown:
        raise invalid([Problem(f"{loc}.{k}", f"unknown field (known: "
                               f"{', '.join(sorted(allowed))})") for k in unknown])


def read_capture_file(capture: Any, directory: str, name: str, loc: str,
                      file_field: str = "file") -> bytes:
    """A file of a capture directory under the capture root (the capture source confines
    it there), with problems located at this source's fields."""
    from flowtime.domain.errors import FlowTimeError

    try:
        return bytes(capture.read(capture.resolve(directory), name).data)
    except FlowTimeError as exc:
        exc.problems = [Problem(f"{loc}.directory" if p.loc.startswith("telemetry.capture")
                                else f"{loc}.{file_field}", p.msg) for p in exc.problems]
        raise
