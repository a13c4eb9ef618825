"""Knob priors (MODELING §9): `normal(mean, sd)` (truncated at the knob's bounds),
`lognormal(mu, sigma)`, `uniform(lo, hi)`, `triangular(lo, mode, hi)`,
`pmf(values, probabilities)`.

Sample i of a prior is its inverse CDF at one uniform drawn from a stream of its own,
seeded by (seed, i, knob id): adding or removing a prior never changes another's draws, and
a truncated normal can never leave its bounds (the inverse CDF of the truncated law). scipy
gives the inverse CDFs (well kept, exact at the tails)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from flowtime.domain.errors import Problem, invalid

KINDS = ("normal", "lognormal", "uniform", "triangular", "pmf")


@dataclass(frozen=True, slots=True)
class Prior:
    knob: str
    kind: str
    params: dict[str, Any]


def _number(params: Mapping[str, Any], name: str, loc: str, problems: list[Problem],
            positive: bool = False) -> float:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or (positive and value <= 0):
        problems.append(Problem(f"{loc}.{name}", "must be a number > 0" if positive
                                else "must be a finite number"))
        return 0.0
    return float(value)


def prior_from(knob: str, dist: Mapping[str, Any], loc: str) -> Prior:
    """A checked prior; every problem located (`priors[0].dist.sd`)."""
    if not isinstance(dist, Mapping):
        raise invalid([Problem(loc, "must be an object {kind, …}")])
    kind = dist.get("kind")
    problems: list[Problem] = []
    params: dict[str, Any] = {}
    if kind == "normal":
        params = {"mean": _number(dist, "mean", loc, problems),
                  "sd": _number(dist, "sd", loc, problems, positive=True)}
    elif kind == "lognormal":
        params = {"mu": _number(dist, "mu", loc, problems),
                  "sigma": _number(dist, "sigma", loc, problems, positive=True)}
    elif kind == "uniform":
        params = {"lo": _number(dist, "lo", loc, problems), "hi": _number(dist, "hi", loc,
                                                                          problems)}
        if not problems and params["lo"] >= params["hi"]:
            problems.append(Problem(loc, "lo must be below hi"))
    elif kind == "triangular":
        params = {n: _number(dist, n, loc, problems) for n in ("lo", "mode", "hi")}
        if not problems and (not params["lo"] <= params["mode"] <= params["hi"]
                             or params["lo"] >= params["hi"]):
            problems.append(Problem(loc, "need lo ≤ mode ≤ hi and lo < hi"))
    elif kind == "pmf":
        values, probabilities = dist.get("values"), dist.get("probabilities")
        if not (isinstance(values, list) and isinstance(probabilities, list) and values
                and len(values) == len(probabilities)):
            problems.append(Problem(loc, "values and probabilities: two lists of equal length"))
        else:
            p = np.asarray(probabilities, dtype=np.float64)
            if not np.all(np.isfinite(p)) or np.any(p < 0) or abs(p.sum() - 1) > 1e-9:
                problems.append(Problem(f"{loc}.probabilities", "must be ≥ 0 and sum to 1"))
            params = {"values": [float(v) for v in values], "probabilities": p.tolist()}
    else:
        problems.append(Problem(f"{loc}.kind", f"must be one of {', '.join(KINDS)}"))
    if problems:
        raise invalid(problems, "invalid prior")
    return Prior(knob, str(kind), params)


def stream_uniforms(seed: int, samples: Sequence[int], name: str) -> np.ndarray:
    """One uniform in (0, 1) per sample, each from its own stream (seed, sample, name)."""
    key = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")
    out = np.empty(len(samples))
    for j, i in enumerate(samples):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, i, key])))
        out[j] = rng.random()
    return np.clip(out, 1e-12, 1 - 1e-12)


def draw(prior: Prior, seed: int, samples: Sequence[int], lo: float | None = None,
         hi: float | None = None) -> np.ndarray:
    """The prior's value for each sample; a normal is truncated at [lo, hi]."""
    from scipy import stats

    u = stream_uniforms(seed, samples, prior.knob)
    p = prior.params
    if prior.kind == "normal":
        a = -np.inf if lo is None else (lo - p["mean"]) / p["sd"]
        b = np.inf if hi is None else (hi - p["mean"]) / p["sd"]
        if not a < b:
            raise invalid([Problem(f"priors.{prior.knob}", "the knob's bounds leave no room")])
        values = stats.truncnorm.ppf(u, a, b, loc=p["mean"], scale=p["sd"])
        return np.clip(values, -np.inf if lo is None else lo, np.inf if hi is None else hi)
    if prior.kind == "lognormal":
        return np.exp(p["mu"] + p["sigma"] * stats.norm.ppf(u))
    if prior.kind == "uniform":
        return p["lo"] + u * (p["hi"] - p["lo"])
    if prior.kind == "triangular":
        width = p["hi"] - p["lo"]
        return stats.triang.ppf(u, (p["mode"] - p["lo"]) / width, loc=p["lo"], scale=width)
    cumulative = np.cumsum(p["probabilities"])
    cumulative[-1] = 1.0
    index = np.searchsorted(cumulative, u, side="right")
    return np.asarray(p["values"])[np.minimum(index, len(p["values"]) - 1)]
