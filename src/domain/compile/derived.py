"""Derived metrics (MODELING §4): one definition per metric.

Each metric is written once, as a ratio of other series with the rule "a denominator ≤ 0
has no ratio". The same definition has two renderings that perform the same floating-point
operations in the same order:

- `*_expr`: an expression for the compiled plan, so the bundle series (and any model
  expression reading them) get 0 where the denominator is ≤ 0 — the engine divides by
  `MAX(den, 0)`, and its division by exactly zero is 0;
- the numpy functions: NaN where the denominator is ≤ 0, which /state, /state_window,
  byClass, sessions and analysis show as null.

Where the denominator is positive both give num / den bit for bit; a NaN denominator stays
NaN in both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from flowtime.domain.expressions.ast import BinOp, Call, Expr, Num

MS_PER_MINUTE = 60_000.0


# -- expressions (bundle: ≤ 0 denominators give 0) ----------------------------------------

def ratio_expr(num: Expr, den: Expr) -> Expr:
    return BinOp("/", num, Call("MAX", (den, Num(0.0))))


def utilization_expr(served: Expr, capacity: Expr) -> Expr:
    return ratio_expr(served, capacity)


def queue_time_ms_expr(queue: Expr, served: Expr, bin_ms: float) -> Expr:
    return BinOp("*", ratio_expr(queue, served), Num(bin_ms))


def latency_minutes_expr(queue_time_ms: Expr) -> Expr:
    return BinOp("/", queue_time_ms, Num(MS_PER_MINUTE))


def service_time_ms_expr(processing_ms: Expr, count: Expr) -> Expr:
    return ratio_expr(processing_ms, count)


def cycle_time_ms_expr(parts: Sequence[Expr]) -> Expr:
    return parts[0] if len(parts) == 1 else BinOp("+", parts[0], parts[1])


def flow_efficiency_expr(service_time_ms: Expr, cycle_time_ms: Expr) -> Expr:
    return ratio_expr(service_time_ms, cycle_time_ms)


def kingman_expr(utilization: Expr, service_time_ms: Expr, ca: float, cs: float) -> Expr:
    """ρ/(1−ρ) × (Ca² + Cs²)/2 × serviceTimeMs where 0 < ρ < 1, else 0."""
    one_minus = BinOp("-", Num(1.0), utilization)
    wait = BinOp("*", BinOp("*", BinOp("/", utilization, one_minus), Num(variability(ca, cs))),
                 service_time_ms)
    return Call("IF", (utilization, Call("IF", (one_minus, wait, Num(0.0))), Num(0.0)))


# -- arrays (views: ≤ 0 denominators give NaN, shown as null) ------------------------------

def ratio(num: np.ndarray | None, den: np.ndarray | None) -> np.ndarray | None:
    if num is None or den is None:
        return None
    out = np.full(np.shape(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def utilization(served: np.ndarray | None, capacity: np.ndarray | None) -> np.ndarray | None:
    return ratio(served, capacity)


def queue_time_ms(queue: np.ndarray | None, served: np.ndarray | None,
                  bin_ms: float) -> np.ndarray | None:
    r = ratio(queue, served)
    return None if r is None else r * bin_ms


def latency_minutes(queue_time: np.ndarray | None) -> np.ndarray | None:
    return None if queue_time is None else queue_time / MS_PER_MINUTE


def service_time_ms(processing_ms: np.ndarray | None,
                    count: np.ndarray | None) -> np.ndarray | None:
    return ratio(processing_ms, count)


def cycle_time_ms(queue_time: np.ndarray | None,
                  service_time: np.ndarray | None) -> np.ndarray | None:
    parts = [p for p in (queue_time, service_time) if p is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]


def flow_efficiency(service_time: np.ndarray | None,
                    cycle_time: np.ndarray | None) -> np.ndarray | None:
    return ratio(service_time, cycle_time)


def throughput_ratio(served: np.ndarray | None, arrivals: np.ndarray | None) -> np.ndarray | None:
    return ratio(served, arrivals)


def retry_tax(attempts: np.ndarray | None, served: np.ndarray | None) -> np.ndarray | None:
    """clamp((attempts − served) / attempts, 0, 1) (MODELING §1.5)."""
    if attempts is None or served is None:
        return None
    taxed = ratio(attempts - served, attempts)
    return None if taxed is None else np.clip(taxed, 0.0, 1.0)


def has_flow(served: np.ndarray | None, queue: np.ndarray | None, bins: int) -> np.ndarray:
    """Bins where work moves or waits: served > 0 or Q > 0 (NaN as 0; a missing series has
    none). MODELING §10 counts SLA attainment over these; /state reports no events outside."""
    flow = np.zeros(bins, dtype=bool)
    for series in (served, queue):
        if series is not None:
            flow |= np.nan_to_num(series) > 0
    return flow


def variability(ca: float, cs: float) -> float:
    """(Ca² + Cs²) / 2."""
    return (ca * ca + cs * cs) / 2.0


def coefficient_of_variation(values: Sequence[float], probabilities: Sequence[float]) -> float:
    """σ/μ of a PMF (probabilities normalised); 0 when μ is 0 or the PMF is degenerate."""
    total = math.fsum(probabilities)
    if not total > 0:
        return 0.0
    mean = math.fsum(v * p for v, p in zip(values, probabilities, strict=True)) / total
    if mean == 0 or not math.isfinite(mean):
        return 0.0
    variance = math.fsum(p * (v - mean) ** 2 for v, p in zip(values, probabilities, strict=True)
                         ) / total
    return math.sqrt(variance) / abs(mean)
