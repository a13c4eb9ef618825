"""A capture directory's bin-indexed `t,value` file as an observed series
(`{kind: capture, directory, file}`): already on the grid, so it is taken bin for bin
(missing or non-numeric rows are gaps)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from flowtime.adapters.metrics.text import known_fields, read_capture_file, text_field
from flowtime.domain.errors import Problem, invalid
from flowtime.domain.observed.samples import GridSpec, Samples
from flowtime.ports.metrics import MetricSettings


class CaptureMetricSource:
    kind = "capture"

    def __init__(self, settings: MetricSettings):
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: MetricSettings) -> CaptureMetricSource:
        return cls(settings)

    def samples(self, source: Mapping[str, Any], grid: GridSpec, loc: str) -> Samples:
        known_fields(source, {"directory", "file"}, loc)
        directory = str(text_field(source, "directory", loc))
        name = str(text_field(source, "file", loc))
        if self.settings.capture is None:
            raise invalid([Problem(f"{loc}.directory", "no capture root is configured")])
        text = read_capture_file(self.settings.capture, directory, name, loc).decode(
            "utf-8", "replace")
        values = np.full(grid.bins, np.nan)
        rows = csv.reader(io.StringIO(text))
        next(rows, None)  # t,value
        for row in rows:
            if len(row) < 2:
                continue
            try:
                t, value = int(row[0]), float(row[1])
            except ValueError:
                continue
            if 0 <= t < grid.bins and math.isfinite(value):
                values[t] = value
        return Samples.binned(values)
