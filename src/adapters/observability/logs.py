"""Log formatting: JSON lines for servers, short human lines for a terminal."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line; structured fields from `extra={"flowtime": {...}}`."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, "flowtime", {}) or {})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, "flowtime", {}) or {})
        name = fields.pop("event", record.getMessage())
        details = " ".join(f"{k}={v}" for k, v in fields.items() if k != "traceId")
        return f"{record.levelname.lower():7} {name} {details}".rstrip()


def configure_logging(json_lines: bool, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLinesFormatter() if json_lines else HumanFormatter())
    root = logging.getLogger("flowtime")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
