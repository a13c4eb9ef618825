"""A whole run at a glance (`GET /v1/runs/{id}/overview`): every node's series reduced to at
most `buckets` points — the largest value of each run of consecutive bins — so a viewer can
paint a 500-node × 8,760-bin run (its heatmap and one small chart per node) from one answer
of a few MB instead of eighteen 500-bin windows of full resolution. Peaks survive the
reduction (a bucket shows its worst bin); a window at full resolution stays /state_window.
"""

from __future__ import annotations

import numpy as np

from flowtime.domain.modeling.grid import format_utc
from flowtime.domain.modeling.names import FLOW_METRICS
from flowtime.domain.views.state import (
    Record,
    RunView,
    SlaSeries,
    StateMetadata,
    StateWarning,
    _list,
    window_status,
)

DEFAULT_BUCKETS = 400
MAX_BUCKETS = 2_000
# the series a run page draws: the node charts' metrics and the heatmap's
SERIES = (*FLOW_METRICS, "utilization", "latencyMinutes")


class OverviewNode(Record):
    id: str
    kind: str
    series: dict[str, list[float | None]]  # metric -> bucket maxima
    aliases: dict[str, str] | None = None
    sla: list[SlaSeries] | None = None  # kinds and thresholds (values: bucket maxima)


class Overview(Record):
    metadata: StateMetadata
    bins: int
    bucket_bins: int  # bins per bucket (the last bucket may hold fewer)
    timestamps_utc: list[str]  # each bucket's first bin
    nodes: list[OverviewNode]
    warnings: list[StateWarning]  # the run's and the whole run's window findings


def bucket_max(values: np.ndarray, per: int) -> np.ndarray:
    """The largest finite value of each `per` consecutive bins (NaN where none is)."""
    starts = np.arange(0, len(values), per)
    finite = np.where(np.isfinite(values), values, -np.inf)
    peaks = np.maximum.reduceat(finite, starts)
    return np.where(np.isneginf(peaks), np.nan, peaks)


def overview(view: RunView, buckets: int = DEFAULT_BUCKETS) -> Overview:
    bins = view.grid.bins
    per = max(1, -(-bins // max(1, buckets)))
    nodes = []
    for node in view.nodes:
        derived = view.derived(node)
        arrays = {**node.metrics, **{k: v for k, v in derived.named() if v is not None}}
        series = {name: _list(bucket_max(np.asarray(arrays[name], dtype=np.float64), per))
                  for name in SERIES if name in arrays}
        if not series:
            continue
        nodes.append(OverviewNode(
            id=node.id, kind=node.kind, series=series, aliases=node.aliases or None,
            sla=[SlaSeries(kind=kind, threshold=threshold, status=window_status(status),
                           values=_list(bucket_max(values, per)))
                 for kind, threshold, values, status in view.sla(node)] or None))
    return Overview(
        metadata=view.metadata, bins=bins, bucket_bins=per,
        timestamps_utc=[format_utc(view.grid.bin_start(i)) for i in range(0, bins, per)],
        nodes=nodes, warnings=[*view.warnings, *view.warnings_between(0, bins - 1)])
