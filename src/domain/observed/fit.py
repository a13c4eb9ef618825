"""Profiles and PMFs fitted from per-bin values (MODELING §8). Gaps (NaN) are skipped.

- PMF: sort, cut into K groups of equal count (the last takes the remainder), one support
  point per group at its mean, probability = group size / n (the last absorbs rounding, so
  they sum to exactly 1); equal points merge. The mean is preserved.
- Profile: the weight of a day slot is its mean / the mean of all slot means, so the
  weights average 1; `weekly` fits 7 × slots. A slot never observed is an error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowtime.domain.errors import Problem, invalid

DEFAULT_POINTS = 8
MAX_POINTS = 1000
MAX_SLOTS = 7 * 1440


@dataclass(frozen=True, slots=True)
class FittedPmf:
    values: list[float]
    probabilities: list[float]
    mean: float  # of the data, which the PMF's expected value equals


LARGEST = 1e300  # beyond it, sums and means of a few values overflow float64


def _finite(values: object, loc: str) -> np.ndarray:
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[np.isfinite(data)]
    if data.size == 0:
        raise invalid([Problem(loc, "no numeric values to fit")])
    _not_huge(data, loc)
    return data


def _not_huge(data: np.ndarray, loc: str) -> None:
    if np.any(np.abs(data[np.isfinite(data)]) > LARGEST):
        raise invalid([Problem(loc, f"values beyond ±{LARGEST:g} cannot be averaged")])


def fit_pmf(values: object, max_points: int = DEFAULT_POINTS, loc: str = "values") -> FittedPmf:
    if not 1 <= max_points <= MAX_POINTS:
        raise invalid([Problem("maxPoints", f"must be 1…{MAX_POINTS}, got {max_points}")])
    data = np.sort(_finite(values, loc))
    n = data.size
    k = min(max_points, n)
    size = n // k
    points: list[float] = []
    counts: list[int] = []
    for i in range(k):
        group = data[i * size:(i + 1) * size] if i < k - 1 else data[(k - 1) * size:]
        point = float(np.mean(group))
        if points and point == points[-1]:
            counts[-1] += group.size
        else:
            points.append(point)
            counts.append(group.size)
    probabilities = [c / n for c in counts[:-1]]
    probabilities.append(1.0 - sum(probabilities))
    return FittedPmf(points, probabilities, float(np.mean(data)))


@dataclass(frozen=True, slots=True)
class FittedProfile:
    weights: list[float]
    slots: int
    observed_days: float


def slot_label(slot: int, slots_per_day: int) -> str:
    """`slot 13 (13:00)`, or `slot 301 (day 1, 01:05)` in a weekly profile."""
    day, within = divmod(slot, slots_per_day)
    minutes = within * 1440 // slots_per_day
    clock = f"{minutes // 60:02d}:{minutes % 60:02d}"
    return f"slot {slot} ({clock})" if day == 0 else f"slot {slot} (day {day}, {clock})"


def fit_profile(values: object, slots_per_day: int, weekly: bool = False,
                loc: str = "values") -> FittedProfile:
    if not 1 <= slots_per_day <= 1440:
        raise invalid([Problem("slotsPerDay", f"must be 1…1440, got {slots_per_day}")])
    data = np.asarray(values, dtype=np.float64).ravel()
    period = slots_per_day * (7 if weekly else 1)
    if data.size < period:
        what = "a week" if weekly else "a day"
        raise invalid([Problem(loc, f"{data.size} values; at least {period} ({what} of "
                               f"{slots_per_day} slots per day) are needed")])
    _not_huge(data, loc)
    slot = np.arange(data.size) % period
    seen = np.isfinite(data)
    counts = np.bincount(slot[seen], minlength=period)
    totals = np.bincount(slot[seen], weights=data[seen], minlength=period)
    never = np.flatnonzero(counts == 0)
    if never.size:
        names = ", ".join(slot_label(int(s), slots_per_day) for s in never[:5])
        more = f" and {never.size - 5} more" if never.size > 5 else ""
        raise invalid([Problem(loc, f"never observed: {names}{more}")])
    means = totals / counts
    overall = float(np.mean(means))
    if not overall > 0:
        raise invalid([Problem(loc, "the values average 0 or less: no shape to fit")])
    return FittedProfile((means / overall).tolist(), period, data.size / slots_per_day)
