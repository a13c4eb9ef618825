"""The vectorised queue-growth streak (window warning backlog_growth_streak) agrees with
counting the streak bin by bin, for every window of many random series."""

from __future__ import annotations

import itertools

import numpy as np

from flowtime.domain.views.state import longest_rise, rise_runs


def _count(values: np.ndarray) -> int:
    best = run = 1
    for previous, current in itertools.pairwise(values):
        run = run + 1 if current > previous else 1
        best = max(best, run)
    return best


def test_hand_worked_series() -> None:
    queue = np.array([5.0, 6, 7, 7, 8, 9, 10, 2])
    runs = rise_runs(queue)
    assert runs.tolist() == [0, 1, 2, 0, 1, 2, 3, 0]
    assert longest_rise(runs, 0, 7) == 4  # 7, 8, 9, 10
    assert longest_rise(runs, 5, 7) == 2  # 9, 10: the run may not reach back before bin 5
    assert longest_rise(runs, 0, 2) == 3


def test_agrees_with_counting_on_every_window() -> None:
    rng = np.random.default_rng(7)
    for size in range(1, 16):
        for _ in range(40):
            values = rng.integers(0, 4, size).astype(float)
            runs = rise_runs(values)
            for start in range(size):
                for end in range(start, size):
                    assert longest_rise(runs, start, end) == _count(values[start:end + 1])
