"""CSV with timestamps: a time column (RFC 3339 with an offset or `Z`, or epoch seconds)
and one or more value columns; `valueColumn` picks one (needed when there are several).
`{kind: csv, text}` carries the file; `{kind: csv, path}` names one under the capture root
(read through the capture source, which confines it there). Empty or non-numeric cells are
missing samples."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

from flowtime.adapters.metrics.text import known_fields, read_capture_file, text_field
from flowtime.domain.errors import Problem, invalid
from flowtime.domain.observed.samples import GridSpec, Samples
from flowtime.ports.metrics import MetricSettings

TIME_COLUMNS = ("timestamp", "time", "t", "ts", "date")
MAX_TEXT_BYTES = 64 * 1024 * 1024


def parse_time(text: str) -> float:
    """Epoch seconds from epoch seconds or RFC 3339 with an offset; NaN when neither."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return math.nan
    if moment.tzinfo is None:
        return math.nan  # a time without an offset is ambiguous: refused
    return moment.timestamp()


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def samples_from_csv(text: str, loc: str, time_column: str | None = None,
                     value_column: str | None = None) -> Samples:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise invalid([Problem(loc, "the CSV is empty (a header row is needed)")])
    header = [h.strip() for h in header]
    if time_column is None:
        time_column = next((h for h in header if h.lower() in TIME_COLUMNS), header[0])
    if time_column not in header:
        raise invalid([Problem(f"{loc}.timeColumn", f"no column '{time_column}' (columns: "
                               f"{', '.join(header)})")])
    values = [h for h in header if h != time_column]
    if value_column is None:
        if len(values) != 1:
            raise invalid([Problem(f"{loc}.valueColumn", "name the value column (columns: "
                                   f"{', '.join(values) or 'none'})")])
        value_column = values[0]
    if value_column not in values:
        raise invalid([Problem(f"{loc}.valueColumn", f"no column '{value_column}' (columns: "
                               f"{', '.join(values)})")])
    ti, vi = header.index(time_column), header.index(value_column)
    times: list[float] = []
    data: list[float] = []
    bad: list[int] = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) <= max(ti, vi):
            bad.append(line)
            continue
        moment = parse_time(row[ti])
        if math.isnan(moment):
            bad.append(line)
            continue
        times.append(moment)
        data.append(_number(row[vi]))
    if bad:
        lines = ", ".join(map(str, bad[:5])) + (f" and {len(bad) - 5} more" if len(bad) > 5
                                                else "")
        raise invalid([Problem(f"{loc}", f"line {lines}: the time must be epoch seconds or "
                               "RFC 3339 with an offset (2026-11-02T10:00:00Z)")])
    return Samples.of(np.array(times), np.array(data))


class CsvMetricSource:
    kind = "csv"

    def __init__(self, settings: MetricSettings):
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: MetricSettings) -> CsvMetricSource:
        return cls(settings)

    def samples(self, source: Mapping[str, Any], grid: GridSpec, loc: str) -> Samples:
        known_fields(source, {"text", "path", "timeColumn", "valueColumn"}, loc)
        text = source.get("text")
        path = text_field(source, "path", loc, required=False)
        if (text is None) == (path is None):
            raise invalid([Problem(loc, "give text (the CSV) or path (under the capture "
                                   "root), not both")])
        if path is not None:
            if self.settings.capture is None:
                raise invalid([Problem(f"{loc}.path", "no capture root is configured")])
            folder, _, name = path.replace("\\", "/").rpartition("/")
            data = read_capture_file(self.settings.capture, folder or ".", name, loc, "path")
            text = data.decode("utf-8-sig", errors="replace")
        if not isinstance(text, str):
            raise invalid([Problem(f"{loc}.text", "must be the CSV text")])
        if len(text) > MAX_TEXT_BYTES:
            raise invalid([Problem(f"{loc}.text", "larger than 64 MiB")])
        found = samples_from_csv(text, loc, text_field(source, "timeColumn", loc, False),
                                 text_field(source, "valueColumn", loc, False))
        if found.times.size > self.settings.max_samples:
            raise invalid([Problem(loc, f"{found.times.size} samples; at most "
                                   f"{self.settings.max_samples}")])
        return found
