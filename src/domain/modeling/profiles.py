"""Time-of-day profiles (MODELING §7): weights that shape a PMF node's series over the day.

A builtin profile is 24 hourly weights; each is repeated into 12 five-minute slots (288
values) and the 288 are scaled to average 1. For a grid of n bins, bin i takes the linear
interpolation of that vector at position i / n × 287 (with n = 288, exactly slot i), and
the n weights are scaled to average 1 again. Indexing is by bin index, as in the reference
(bin size and window start are not consulted); `align: clock` instead reads the vector at
each bin's start time of day. Sums are plain left-to-right loops, as the reference's, so
the numbers match it bit for bit. An inline profile gives exactly `bins` weights, scaled to
average 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np

SLOTS = 288  # five-minute slots in a day

BUILTIN: dict[str, tuple[float, ...]] = {
    "weekday-office": (0.18, 0.16, 0.15, 0.15, 0.2, 0.3, 0.45, 0.7, 0.95, 1.15, 1.25, 1.3, 1.25,
                       1.15, 1.05, 1.0, 0.95, 0.85, 0.65, 0.5, 0.38, 0.3, 0.25, 0.2),
    "three-shift": (0.9, 0.9, 0.9, 0.92, 0.95, 0.98, 1.0, 1.03, 1.06, 1.1, 1.12, 1.15, 1.12,
                    1.08, 1.05, 1.02, 1.0, 0.98, 0.96, 0.94, 0.92, 0.9, 0.9, 0.9),
    "hub-rush-hour": (0.2, 0.18, 0.17, 0.17, 0.2, 0.35, 0.7, 1.2, 1.4, 1.25, 1.0, 0.85, 0.8,
                      0.85, 0.95, 1.1, 1.35, 1.5, 1.35, 1.0, 0.65, 0.4, 0.3, 0.22),
}


def plain_sum(values: Sequence[float]) -> float:
    total = 0.0
    for value in values:
        total += value
    return total


def to_average_one(weights: Sequence[float]) -> list[float]:
    """Scale so the weights average 1 (all zero: left as they are)."""
    mean = plain_sum(weights) / len(weights)
    return [w / mean for w in weights] if mean > 0 else list(weights)


def day_vector(name: str) -> list[float]:
    """A builtin profile's 288 five-minute weights, averaging 1."""
    hourly = BUILTIN[name]
    return to_average_one([w for w in hourly for _ in range(SLOTS // 24)])


def _interpolate(vector: list[float], position: float) -> float:
    low = math.floor(position)
    high = min(low + 1, len(vector) - 1)
    fraction = position - low
    return vector[low] + (vector[high] - vector[low]) * fraction


def builtin_weights(name: str, bins: int) -> np.ndarray:
    vector = day_vector(name)
    # With 288 bins, bin i is slot i exactly; otherwise interpolate at i / n × 287.
    raw = vector if bins == SLOTS else [_interpolate(vector, i / bins * (SLOTS - 1))
                                        for i in range(bins)]
    return np.asarray(to_average_one(raw), dtype=np.float64)


def clock_weights(name: str, starts: Sequence[datetime]) -> np.ndarray:
    """`align: clock`: each bin reads the day vector at its start time (cyclic), then the
    weights are scaled to average 1."""
    vector = day_vector(name)
    raw = []
    for start in starts:
        position = (start.hour * 60 + start.minute + start.second / 60) / 5
        low = math.floor(position) % SLOTS
        fraction = position - math.floor(position)
        raw.append(vector[low] + (vector[(low + 1) % SLOTS] - vector[low]) * fraction)
    return np.asarray(to_average_one(raw), dtype=np.float64)


def inline_weights(weights: Sequence[float]) -> np.ndarray:
    return np.asarray(to_average_one(list(weights)), dtype=np.float64)


def expected_value(values: Sequence[float], probabilities: Sequence[float]) -> float:
    """E = Σ v·p, summed left to right (the reference's expected-value PMF)."""
    total = 0.0
    for value, probability in zip(values, probabilities, strict=True):
        total += value * probability
    return total
