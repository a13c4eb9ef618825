"""State projections: derived metrics and colours."""

from __future__ import annotations

import numpy as np

from flowtime.domain.state import NodeView, colour, derived_series


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
