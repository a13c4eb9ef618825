"""State projections: derived metrics and colours."""

from __future__ import annotations

import numpy as np

from flowtime.domain.views.state import NodeView, colour, derived_series


def test_queue_colour_is_gray_when_the_sla_is_missing_zero_or_negative():
    node_of = lambda sla: NodeView("q", "queue", sla, {})  # noqa: E731
    assert colour(node_of(10.0), None, 5.0) == "green"
    assert colour(node_of(10.0), None, 15.0) == "yellow"
    assert colour(node_of(10.0), None, 15.1) == "red"
    for sla in (None, 0.0, -5.0):
        assert colour(node_of(sla), None, 5.0) == "gray"


def test_utilization_is_missing_without_positive_capacity():
    node = NodeView("n", "service", None, {"served": np.array([6.0, 6.0]),
                                           "capacity": np.array([7.0, 0.0])})
    util = derived_series(node, 5).utilization
    assert util[0] == 6 / 7 and np.isnan(util[1])


def test_a_window_of_the_pre_encoded_series_is_the_json_of_those_bins():
    """raw_series slices one JSON text per series; it must equal encoding the window's own
    values (rounded, null where not finite) for any window."""
    import json
    from datetime import UTC, datetime

    from flowtime.domain.modeling.grid import TimeGrid
    from flowtime.domain.views.state import RunView

    rng = np.random.default_rng(5)
    values = rng.uniform(-50, 50, 23)
    values[[3, 9]] = [np.nan, np.inf]
    values[[4, 5]] = [1e-12, 123456.1234567]
    node = NodeView("N", "service", None, {"served": values, "capacity": np.full(23, 40.0)})
    grid = TimeGrid(23, 5, "minutes", datetime(2025, 1, 1, tzinfo=UTC))
    view = RunView(None, grid, [node], [])  # type: ignore[arg-type]
    for start, end in [(0, 22), (0, 0), (22, 22), (3, 9), (4, 5), (10, 21), (0, 22)]:
        got = json.loads(bytes(view.raw_series(start, end)[0]["served"]))
        want = [None if not np.isfinite(v) else (0.0 if abs(v) < 1e-9 else round(float(v), 6))
                for v in values[start:end + 1]]
        assert got == want, (start, end)
