"""State projections: derived metrics and colours."""

from __future__ import annotations

import numpy as np

from flowtime.domain.state import NodeView, colour, colours, derived_series


def test_vectorised_colours_match_the_per_bin_rule():
    rng = np.random.default_rng(5)
    served = rng.uniform(0, 10, 200)
    capacity = rng.choice([0.0, 5.0, 8.0, 12.0], 200)
    queue = rng.uniform(0, 40, 200)
    for kind, sla in (("service", None), ("queue", 10.0), ("queue", None)):
        node = NodeView("n", kind, sla, {"served": served, "capacity": capacity, "queue": queue})
        derived = derived_series(node, 5)
        util, latency = derived["utilization"], derived["latencyMinutes"]
        expected = [colour(node, None if not np.isfinite(u) else float(u),
                           None if not np.isfinite(v) else float(v))
                    for u, v in zip(util, latency, strict=True)]
        assert colours(node, util, latency, 200) == expected


def test_utilization_is_missing_without_positive_capacity():
    node = NodeView("n", "service", None, {"served": np.array([6.0, 6.0]),
                                           "capacity": np.array([7.0, 0.0])})
    util = derived_series(node, 5)["utilization"]
    assert util[0] == 6 / 7 and np.isnan(util[1])
