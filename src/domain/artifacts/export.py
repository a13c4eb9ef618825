"""A run's series as one wide table (`flowtime runs export`, `GET /v1/runs/{id}/export`,
`Run.series()` in the Python API), and a sweep's points as one table (`sweep_table`).

Columns: `time` (each bin's start, UTC), `bin`, then one column per series in index order.
With classes, every bin has one row per class after the totals' row, and a `class` column
(`DEFAULT` for totals); a series without a share for a class is empty (NaN) there.
Values are the bundle's own doubles, so every format round-trips bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from flowtime.domain.artifacts.codec import SeriesIndexJson, SweepJson
from flowtime.domain.artifacts.hashing import canonical_json
from flowtime.domain.modeling.grid import TimeGrid
from flowtime.domain.modeling.names import DEFAULT_CLASS, series_label


@dataclass(frozen=True, slots=True)
class WideTable:
    times: list[datetime]
    bins: np.ndarray  # int64
    classes: list[str] | None  # one per row, or None without a class column
    columns: dict[str, np.ndarray]  # node id -> float64 (rows)

    @property
    def rows(self) -> int:
        return int(self.bins.shape[0])


def wide_table(index: SeriesIndexJson, grid: TimeGrid,
               values: dict[str, np.ndarray], with_classes: bool = False) -> WideTable:
    """`values`: series id (`x@X@c`) -> values, for every entry of the index."""
    bins = grid.bins
    starts = [grid.bin_start(i) for i in range(bins)]
    totals = [e for e in index.series if e.class_ == DEFAULT_CLASS]
    if not with_classes:
        return WideTable(starts, np.arange(bins, dtype=np.int64), None,
                         {e.node_id: values[e.id] for e in totals})
    class_ids = list(dict.fromkeys(e.class_ for e in index.series
                                   if e.class_ != DEFAULT_CLASS))
    labels = [DEFAULT_CLASS, *class_ids]
    by_key = {(e.node_id, e.class_): values[e.id] for e in index.series}
    columns = {}
    for entry in totals:
        stacked = np.full((bins, len(labels)), np.nan)
        for k, label in enumerate(labels):
            found = by_key.get((entry.node_id, label))
            if found is not None:
                stacked[:, k] = found
        columns[entry.node_id] = stacked.reshape(-1)
    return WideTable([s for s in starts for _ in labels],
                     np.repeat(np.arange(bins, dtype=np.int64), len(labels)),
                     labels * bins, columns)


@dataclass(frozen=True, slots=True)
class RecordTable:
    """Rows of mixed types as columns (a sweep summary): name -> values (None = empty)."""

    columns: dict[str, list[Any]]

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()), []))


AGGREGATES = ("mean", "max", "sum", "last")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula: one starting with =, +, -, @,
    a tab or a carriage return gets a leading apostrophe (every CSV export; numbers are
    never text cells, so -1.5 stays -1.5)."""
    return "'" + text if text[:1] in FORMULA_STARTS else text


def sweep_table(summary: SweepJson) -> RecordTable:
    """One row per sweep point: `index`, `runId`, `status`, `seed`, one `param.<name>` column
    per parameter (scalars typed; arrays as JSON text), and `<series>.<aggregate>` columns
    (mean, max, sum, last) for every series the points reported, named as people read them
    (`queue.mean`; a class series `queue@<class>.mean`)."""
    runs = summary.runs
    names = list(dict.fromkeys(name for run in runs for name in run.parameters))
    series = list(dict.fromkeys(s for run in runs for s in (run.aggregates or {})))
    columns: dict[str, list[Any]] = {
        "index": [run.index for run in runs], "runId": [run.run_id for run in runs],
        "status": [run.status for run in runs], "seed": [run.seed for run in runs]}
    for name in names:
        values = [run.parameters.get(name) for run in runs]
        if any(isinstance(v, list | dict) for v in values):
            values = [None if v is None else canonical_json(v) for v in values]
        columns[f"param.{name}"] = values
    for name in series:
        for aggregate in AGGREGATES:
            columns[f"{series_label(name)}.{aggregate}"] = [
                (run.aggregates or {}).get(name, {}).get(aggregate) for run in runs]
    return RecordTable(columns)
