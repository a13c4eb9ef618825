"""The vocabulary of names, spelled in one place: series ids in a bundle
(`node@NODE@class`), class series in a model (`node__class_c`), edge series
(`edge.<id>`), synthesized series names (`snake(NodeId)`), the totals' class and the epoch
a model without a window starts at. Every module that reads or writes such a name asks
here instead of splitting strings itself."""

from __future__ import annotations

import re

DEFAULT_CLASS = "DEFAULT"  # the class of a total's series in a bundle
EPOCH = "1970-01-01T00:00:00Z"  # where a reference-format model without a window starts
CLASS_INFIX = "__class_"


def series_id(node_id: str, class_id: str = DEFAULT_CLASS) -> str:
    """A bundle series id: `x@X@DEFAULT` for a total, `x@X@c` for class c's share."""
    return f"{node_id}@{node_id.upper()}@{class_id}"


def split_series_id(sid: str) -> tuple[str, str] | None:
    """(node id, class id) of a bundle series id, or None when `sid` is not one."""
    name, sep, rest = sid.partition("@")
    if not sep:
        return None
    _, sep, class_id = rest.partition("@")
    return (name, class_id) if sep else None


def is_series_id(text: str) -> bool:
    return split_series_id(text) is not None


def node_of(sid: str) -> str:
    """The node id a bundle series id belongs to (the text itself when it is not one)."""
    parts = split_series_id(sid)
    return parts[0] if parts else sid


def series_label(sid: str) -> str:
    """The name people read for a series id: `x@X@DEFAULT` → `x`, `x@X@cls` → `x@cls`."""
    parts = split_series_id(sid)
    if parts is None:
        return sid
    name, class_id = parts
    return name if class_id == DEFAULT_CLASS else f"{name}@{class_id}"


def class_series_name(series: str, class_id: str) -> str:
    """The share of class `class_id` in `series` (the reference engine's column name)."""
    return f"{series}{CLASS_INFIX}{class_id}"


def model_series_name(sid: str) -> str:
    """A bundle series id as the model names it: `x` for a total, `x__class_c` for a class."""
    parts = split_series_id(sid)
    if parts is None:
        return sid
    name, class_id = parts
    return name if class_id == DEFAULT_CLASS else class_series_name(name, class_id)


def edge_series_name(edge_id: str) -> str:
    """`edge.<id>`, characters outside [A-Za-z0-9_-] as `_` (MODELING §3)."""
    return "edge." + re.sub(r"[^A-Za-z0-9_-]", "_", edge_id)


def snake(name: str) -> str:
    """`QueueA` → `queue_a`, `DLQ` → `dlq`, `HTTPService` → `http_service` (MODELING §0)."""
    out: list[str] = []
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0:
            prev, nxt = name[i - 1], name[i + 1] if i + 1 < len(name) else ""
            if prev.islower() or (prev.isupper() and nxt.islower()):
                out.append("_")
        out.append(ch)
    return re.sub(r"[^A-Za-z0-9_]", "_", "".join(out).lower())


# A scenario overlay's target (views/scenarios.py): no control character, no space at either
# end. Spelled with explicit classes (no `\s`, no `.`) so it means the same to Python and to
# a JSON Schema (ECMA) validator; the wire states it as the schema's pattern and
# `overlay_problems` checks it with fullmatch. Here, with the other names, so the wire reads it
# without importing the scenario code (numpy).
_EDGE = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
TARGET_PATTERN = rf"^{_EDGE}(?:[^\x00-\x1f\x7f-\x9f\u2028\u2029]*{_EDGE})?$"


# The six flow metrics of a topology node (MODELING §1, the reference's /state names), in
# the order the semantics fields (model.SEMANTIC_FIELDS) list them.
FLOW_METRICS = ("arrivals", "served", "errors", "queue", "capacity", "externalDemand")

# The metric vocabulary that is read back by name (MODELING §4, the reference's /state
# names): the timing inputs of a service time, the per-class timing metrics, an edge's
# loads. Other modules look these up through the constants, never by a spelled string.
PROCESSING_TIME_MS_SUM = "processingTimeMsSum"
SERVED_COUNT = "servedCount"
QUEUE_TIME_MS = "queueTimeMs"
SERVICE_TIME_MS = "serviceTimeMs"
CYCLE_TIME_MS = "cycleTimeMs"
FLOW_EFFICIENCY = "flowEfficiency"
EXHAUSTED_FAILURES = "exhaustedFailures"
RETRY_RATE = "retryRate"
DISPLAY_NAME = "displayName"  # a class's display name in a template
