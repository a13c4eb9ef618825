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


class AccessJsonFormatter(JsonLinesFormatter):
    """uvicorn's access lines as JSON: the request's parts as fields, not one string."""

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args
            record.flowtime = {"client": client, "method": method, "path": path,  # type: ignore[attr-defined]
                               "httpVersion": version, "status": status}
        return super().format(record)


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's own logs (start-up, errors, access) in the app's JSON lines, on stderr:
    one log format for everything the server prints."""
    here = f"{__name__}."
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": here + "JsonLinesFormatter"},
                       "access": {"()": here + "AccessJsonFormatter"}},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "json",
                        "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "access",
                       "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["access"], "level": level.upper(),
                               "propagate": False},
        },
    }
