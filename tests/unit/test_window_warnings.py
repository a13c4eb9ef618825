"""Window warnings (MODELING §5) on windows built to trigger each, and one that triggers none."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from flowtime.domain.modeling.grid import TimeGrid
from flowtime.domain.views.state import NodeView, RunView, window_warnings


def view(metrics: dict[str, list[float]], kind: str = "queue", sla: float | None = 30):
    node = NodeView("N", kind, sla, {k: np.array(v, dtype=float) for k, v in metrics.items()})
    grid = TimeGrid(len(next(iter(metrics.values()))), 15, "minutes",
                    datetime(2025, 1, 1, tzinfo=UTC))
    return RunView(None, grid, [node], [])  # type: ignore[arg-type]


def codes(run_view: RunView, start: int = 0, end: int | None = None) -> list[str]:
    last = run_view.grid.bins - 1 if end is None else end
    return [w.code for w in window_warnings(run_view, start, last)]


def test_a_queue_growing_three_bins_in_a_row():
    # Q 1 → 2 (growth Q[last] − Q[first] = 1) with capacity 10: this lone node's bottleneck
    cap = [10, 10, 10, 10]
    assert codes(view({"queue": [1, 2, 3, 2], "served": [5, 5, 5, 5], "capacity": cap})) == [
        "backlog_growth_streak", "bottleneck"]
    assert codes(view({"queue": [1, 2, 1, 2], "served": [5, 5, 5, 5], "capacity": cap})) == [
        "bottleneck"]
    assert codes(view({"queue": [1, 2, 1, 1], "served": [5, 5, 5, 5], "capacity": cap}),
                 1, 3) == []
    # without a capacity (and served not below arrivals) the node serves no work it could
    # be held up on: the streak is reported, never a bottleneck
    assert codes(view({"queue": [1, 2, 3, 2], "served": [5, 5, 5, 5]})) == [
        "backlog_growth_streak"]


def test_overload_age_risk_and_non_stationary_arrivals():
    found = codes(view({"arrivals": [10, 10, 30, 30], "capacity": [15, 15, 15, 15],
                        "served": [10, 10, 15, 15], "queue": [0, 0, 60, 60]}))
    # Σ 80 > Σ 60; latency 60/15 × 15 = 60 min > 30 min in two bins; halves 10 vs 30
    assert found == ["backlog_overload_ratio", "backlog_age_risk", "non_stationary",
                     "bottleneck"]


def test_a_calm_window_and_short_windows_raise_nothing():
    calm = view({"arrivals": [10, 11, 10, 11], "capacity": [15, 15, 15, 15],
                 "served": [10, 11, 10, 11], "queue": [0, 0, 0, 0]})
    assert codes(calm) == []
    busy = view({"queue": [1, 2, 3, 4], "served": [1, 1, 1, 1]})
    assert codes(busy, 0, 1) == []  # fewer than 3 bins


def test_window_warnings_are_kept_per_window_and_equal_fresh_ones():
    metrics = {"queue": [0, 1, 2, 3, 4, 4, 4, 4], "arrivals": [5, 5, 5, 5, 1, 1, 1, 1],
               "capacity": [4] * 8, "served": [4] * 8}
    cached = view(metrics)
    for start, end in [(0, 7), (0, 3), (4, 7), (0, 7), (2, 6), (0, 3)]:
        got = cached.warnings_between(start, end)
        assert got == window_warnings(view(metrics), start, end), (start, end)
        assert cached.warnings_between(start, end) is got  # the same window: kept
    assert [w.code for w in cached.warnings_between(0, 3)] != \
        [w.code for w in cached.warnings_between(4, 7)]
    long = view({"queue": list(range(40)), "served": [1] * 40})
    for end in range(2, 40):  # 38 × 2 distinct windows: at most 64 kept
        long.warnings_between(0, end)
        long.warnings_between(1, end)
    assert len(long._window_warnings) == 64
