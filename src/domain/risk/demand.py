"""Demand forecast (MODELING §9): Holt–Winters with additive trend and season
(statsmodels' ExponentialSmoothing — a well-kept implementation, imported only here, as it
is slow to import) over ≥ 2 seasons of history, H bins ahead; the spread of the fitted
residuals gives the intervals and the per-sample demand paths (mean + σ·z, z from the
sample's own stream, never below 0)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowtime.domain.errors import Problem, invalid
from flowtime.domain.risk.priors import stream_uniforms

Z90 = 1.2815515655446004  # the standard normal's 90th percentile


@dataclass(frozen=True, slots=True)
class DemandForecast:
    mean: np.ndarray  # H bins
    sigma: float  # the fitted residuals' standard deviation
    season: int
    history_bins: int

    def band(self) -> tuple[np.ndarray, np.ndarray]:
        """p10 and p90 (normal residuals)."""
        return self.mean - Z90 * self.sigma, self.mean + Z90 * self.sigma

    def paths(self, seed: int, samples: list[int], name: str) -> np.ndarray:
        """One demand path per sample (samples × H): mean + σ·z, z per sample and bin."""
        from scipy import stats

        out = np.empty((len(samples), self.mean.size))
        for row, i in enumerate(samples):
            u = stream_uniforms(seed, [i], f"demand:{name}")[0]
            rng = np.random.default_rng(int(u * 2**53))
            out[row] = self.mean + self.sigma * stats.norm.ppf(
                np.clip(rng.random(self.mean.size), 1e-12, 1 - 1e-12))
        return np.maximum(out, 0.0)


def forecast_demand(history: np.ndarray, season: int, horizon: int,
                    loc: str = "demand") -> DemandForecast:
    values = np.asarray(history, dtype=np.float64)
    if season < 2:
        raise invalid([Problem(f"{loc}.season", "must be ≥ 2 bins")])
    if values.size < 2 * season:
        raise invalid([Problem(f"{loc}.history", f"{values.size} bins of history; at least "
                               f"{2 * season} are needed (two seasons of {season} bins)")])
    if not np.all(np.isfinite(values)):
        known = np.flatnonzero(np.isfinite(values))
        if known.size < 2 * season:
            raise invalid([Problem(f"{loc}.history", "too few known values")])
        missing = np.flatnonzero(~np.isfinite(values))
        values = values.copy()
        values[missing] = np.interp(missing, known, values[known])
    if horizon < 1:
        raise invalid([Problem(f"{loc}.horizon", "must be ≥ 1")])
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the residuals tell the truth
        fitted = ExponentialSmoothing(values, trend="add", seasonal="add",
                                      seasonal_periods=season,
                                      initialization_method="estimated"
                                      ).fit(method="least_squares")
    mean = np.asarray(fitted.forecast(horizon), dtype=np.float64)
    residuals = values - np.asarray(fitted.fittedvalues, dtype=np.float64)
    sigma = float(np.std(residuals, ddof=1)) if residuals.size > 1 else 0.0
    return DemandForecast(mean, sigma, season, values.size)
