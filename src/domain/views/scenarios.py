"""Scenarios (MODELING §10): overlays that change a run's inputs over a bin range, the
difference a scenario made against its baseline, and SLA attainment.

An overlay `{target, op: set | scale | add, value, fromBin, toBin}` (toBin exclusive)
names a topology node's metric (`Tier1.capacity`, `Gate.arrivals`, `Line.wipLimit`) or a
series id. Overlays apply to the evaluated series of their targets, in the order given,
and the model is evaluated again with those series fixed, so everything downstream (a
queue's recurrence, overflow, derived metrics) follows. A target computed inside a
feedback loop is fixed as a whole for the second evaluation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import numpy as np

from flowtime.domain.compile.derived import has_flow
from flowtime.domain.errors import Problem, invalid
from flowtime.domain.modeling.names import TARGET_PATTERN, snake

OPS = ("set", "scale", "add")
MAX_OVERLAYS = 100
_TARGET = re.compile(TARGET_PATTERN)
# metric names a target may use, beyond a component's own metric map
EXTRA_METRICS = {"wipLimit": "{s}_wip_limit"}


class Overlay(msgspec.Struct, frozen=True, rename="camel"):
    target: str
    op: str
    value: float
    from_bin: int
    to_bin: int

    def as_dict(self) -> dict[str, Any]:
        """The wire and provenance form (camelCase keys)."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]

    @classmethod
    def from_record(cls, item: Mapping[str, Any]) -> Overlay:
        """An overlay as a run record keeps it (its `as_dict`)."""
        return msgspec.convert(item, cls)

    def describe(self) -> str:
        sign = {"set": "=", "scale": "*", "add": "+"}[self.op]
        return f"{self.target}{sign}{self.value:g}@{self.from_bin}:{self.to_bin}"


def overlay_problems(o: Overlay, here: str) -> list[Problem]:
    """What is wrong with one overlay, located under `here` (`overlays[2]`)."""
    problems = []
    if not o.target:
        problems.append(Problem(f"{here}.target", "is required (Node.metric or a series id)"))
    elif _TARGET.fullmatch(o.target) is None:
        problems.append(Problem(f"{here}.target", "must not contain control characters or "
                                "start or end with a space"))
    if o.op not in OPS:
        problems.append(Problem(f"{here}.op", f"must be one of {', '.join(OPS)}"))
    if not math.isfinite(o.value):
        problems.append(Problem(f"{here}.value", "must be a finite number"))
    for name, bound in (("fromBin", o.from_bin), ("toBin", o.to_bin)):
        if bound < 0:
            problems.append(Problem(f"{here}.{name}", "must be an integer ≥ 0"))
    return problems


def check_overlays(overlays: Sequence[Overlay], loc: str = "overlays") -> tuple[Overlay, ...]:
    """Overlays as the domain accepts them, every problem located (`overlays[2].op`): at
    most MAX_OVERLAYS, a target without control characters, a known op, a finite value,
    bins ≥ 0. The drivers turn their request data into Overlay records first."""
    if len(overlays) > MAX_OVERLAYS:
        raise invalid([Problem(loc, f"{len(overlays)} overlays; at most {MAX_OVERLAYS}")])
    problems = [p for i, o in enumerate(overlays) for p in overlay_problems(o, f"{loc}[{i}]")]
    if problems:
        raise invalid(problems, "invalid overlays")
    return tuple(overlays)


SHORT = re.compile(r"^\s*(?P<target>[A-Za-z_][\w.]*)\s*(?P<op>[=*+-])\s*(?P<value>[-+]?"
                   r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*@\s*(?P<start>\d+)\s*:\s*"
                   r"(?P<end>\d+)\s*$")


def parse_short(text: str, loc: str = "--overlay") -> Overlay:
    """The short form: `TARGET OP VALUE @FROM:TO` with OP `=` (set), `*` (scale), `+` or
    `-` (add), e.g. `Tier1.capacity*0@40:44` or `Gate.arrivals+50@10:20`."""
    match = SHORT.match(text)
    if match is None:
        raise invalid([Problem(loc, f"'{text}': use TARGET=V@FROM:TO (set), TARGET*V@FROM:TO "
                               "(scale) or TARGET+V@FROM:TO (add), e.g. Tier1.capacity*0@40:44")])
    op = {"=": "set", "*": "scale", "+": "add", "-": "add"}[match["op"]]
    value = float(match["value"]) * (-1.0 if match["op"] == "-" else 1.0)
    return check_overlays([Overlay(match["target"], op, value, int(match["start"]),
                                   int(match["end"]))], loc)[0]


def parameter_knobs(tree: Mapping[str, Any], text: str) -> dict[str, list[str]]:
    """Template parameters that stand alone as node expressions (`expr: "${cap}"` and
    nowhere else): an overlay may target the parameter by name (a knob, MODELING §6) and
    changes those nodes."""
    found: dict[str, list[str]] = {}
    nodes = [n for n in tree.get("nodes") or [] if isinstance(n, Mapping)]
    for parameter in tree.get("parameters") or []:
        name = parameter.get("name") if isinstance(parameter, Mapping) else None
        if not isinstance(name, str):
            continue
        token = "${" + name + "}"
        alone = [str(n.get("id")) for n in nodes if n.get("expr") == token]
        if alone and text.count(token) == len(alone):
            found[name] = alone
    return found


def resolve(overlays: Sequence[Overlay], components: Sequence[Any], series_ids: Sequence[str],
            bins: int, knobs: Mapping[str, Sequence[str]] | None = None
            ) -> list[tuple[Overlay, str]]:
    """Each overlay with the series it changes (a parameter knob: every node it stands
    alone in); unknown targets and ranges past the grid are located problems."""
    known = set(series_ids)
    knobs = knobs or {}
    by_id = {c.id: c for c in components}
    problems: list[Problem] = []
    resolved: list[tuple[Overlay, str]] = []
    for i, overlay in enumerate(overlays):
        here = f"overlays[{i}]"
        series = _series_of(overlay.target, by_id, known)
        if series is None and overlay.target in knobs:
            targets = [n for n in knobs[overlay.target] if n in known]
            series = targets[0] if targets else None
            for extra in targets[1:]:
                if overlay.from_bin < min(bins, overlay.to_bin):
                    resolved.append((overlay, extra))
        if series is None:
            node, _, metric = overlay.target.partition(".")
            if node in by_id:
                metrics = sorted({*by_id[node].metrics, *EXTRA_METRICS})
                problems.append(Problem(f"{here}.target", f"'{node}' has no metric '{metric}' "
                                        f"(it has: {', '.join(metrics)})"))
            else:
                problems.append(Problem(f"{here}.target", f"unknown target '{overlay.target}' "
                                        "(a topology node's metric like Tier1.capacity, a "
                                        "series id, or a parameter that is a node's whole "
                                        "expression)"))
        if overlay.to_bin <= overlay.from_bin:
            problems.append(Problem(f"{here}.toBin", f"must be greater than fromBin "
                                    f"({overlay.from_bin})"))
        elif overlay.from_bin >= bins:
            problems.append(Problem(f"{here}.fromBin", f"{overlay.from_bin} is past the grid "
                                    f"({bins} bins)"))
        if series is not None and overlay.from_bin < min(bins, overlay.to_bin):
            resolved.append((overlay, series))
    if problems:
        raise invalid(problems, "invalid overlays")
    return resolved


def _series_of(target: str, components: Mapping[str, Any], known: set[str]) -> str | None:
    node, dot, metric = target.partition(".")
    if dot and node in components:
        component = components[node]
        if metric in component.metrics:
            return str(component.metrics[metric])
        if metric in EXTRA_METRICS:
            name = EXTRA_METRICS[metric].format(s=snake(node))
            return name if name in known else None
        return None
    return target if target in known else None


def apply(values: np.ndarray, overlays: Sequence[Overlay]) -> np.ndarray:
    """A copy of `values` with the overlays applied in order over [fromBin, toBin)."""
    out = np.array(values, dtype=np.float64, copy=True)
    for overlay in overlays:
        part = slice(overlay.from_bin, min(overlay.to_bin, len(out)))
        if overlay.op == "set":
            out[part] = overlay.value
        elif overlay.op == "scale":
            out[part] = out[part] * overlay.value
        else:
            out[part] = out[part] + overlay.value
    return out


def overrides_for(resolved: Sequence[tuple[Overlay, str]], base: Mapping[str, np.ndarray]
                  ) -> dict[str, np.ndarray]:
    """Series id → its values with every overlay on it applied (from the base evaluation)."""
    grouped: dict[str, list[Overlay]] = {}
    for overlay, series in resolved:
        grouped.setdefault(series, []).append(overlay)
    return {series: apply(base[series], items) for series, items in grouped.items()}


# -- diff and SLA attainment ------------------------------------------------------------

DIFF_METRICS = ("queue", "latencyMinutes", "served", "overflow", "utilization")
TOLERANCE = 1e-6


class MetricDelta(msgspec.Struct, frozen=True):
    delta_mean: float | None
    delta_max: float | None
    delta_sum: float | None


class NodeDiff(msgspec.Struct, frozen=True):
    id: str
    metrics: dict[str, MetricDelta]
    first_flip_bin: int | None
    recovery_bin: int | None
    extra_backlog: float | None


def metric_delta(scenario: np.ndarray, base: np.ndarray) -> MetricDelta:
    """Δ of the means, of the maxima and Σ Δ per bin (NaN bins left out)."""
    difference = scenario - base
    finite = np.isfinite(difference)

    def number(value: float) -> float | None:
        return float(value) if math.isfinite(value) else None

    s, b = scenario[np.isfinite(scenario)], base[np.isfinite(base)]
    return MetricDelta(
        number(s.mean() - b.mean()) if s.size and b.size else None,
        number(s.max() - b.max()) if s.size and b.size else None,
        number(difference[finite].sum()) if finite.any() else None)


def recovery_bin(scenario_queue: np.ndarray, base_queue: np.ndarray, after: int) -> int | None:
    """The first bin ≥ `after` from which |Q_s − Q_b| ≤ 1e-6 holds to the end."""
    close = np.abs(np.nan_to_num(scenario_queue) - np.nan_to_num(base_queue)) <= TOLERANCE
    if not close[-1]:
        return None
    last_open = np.flatnonzero(~close)
    first = int(last_open[-1]) + 1 if last_open.size else 0
    return max(first, after) if max(first, after) < len(close) else None


def first_difference(a: Sequence[Any], b: Sequence[Any]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None


# The reference's completion SLA: a bin meets it when served ÷ arrivals ≥ 0.95.
COMPLETION_THRESHOLD = 0.95


class Completion(msgspec.Struct, frozen=True):
    """The reference's per-service aggregate (`services[]` of its /metrics): per bin the
    completion ratio min(1, max(0, served ÷ arrivals)) — 1 without arrivals, 0 when not
    finite, null when either series has no value — and the share of valued bins whose
    ratio reaches COMPLETION_THRESHOLD."""

    id: str
    bins_met: int
    bins_total: int  # bins with both values
    ratios: list[float | None]

    @property
    def sla_pct(self) -> float:
        return self.bins_met / self.bins_total if self.bins_total else 0.0


def completion(node_id: str, arrivals: np.ndarray, served: np.ndarray) -> Completion:
    valued = ~(np.isnan(arrivals) | np.isnan(served))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(arrivals <= 0, 1.0, served / np.where(arrivals == 0, 1.0, arrivals))
    ratio = np.clip(np.where(np.isfinite(ratio), ratio, 0.0), 0.0, 1.0)
    met = valued & (ratio >= COMPLETION_THRESHOLD)
    shown = np.round(ratio, 6)  # as /state_window writes its numbers
    ratios = [float(r) if v else None for r, v in zip(shown.tolist(), valued.tolist(),
                                                      strict=True)]
    return Completion(node_id, int(met.sum()), int(valued.sum()), ratios)


class Attainment(msgspec.Struct, frozen=True):
    id: str
    sla_minutes: float
    bins_met: int
    bins_with_flow: int
    status: list[str | None]

    @property
    def attainment(self) -> float | None:
        return self.bins_met / self.bins_with_flow if self.bins_with_flow else None


def attainment(node_id: str, sla_minutes: float, served: np.ndarray | None,
               queue: np.ndarray | None, latency: np.ndarray | None) -> Attainment:
    """Bins with flow (served > 0 or Q > 0) and, of those, the ones whose latency is within
    the SLA; a per-bin status (met, missed, or null without flow)."""
    bins = len(next(a for a in (served, queue, latency) if a is not None))
    flow = has_flow(served, queue, bins)
    lat = latency if latency is not None else np.full(bins, np.nan)
    met = flow & np.isfinite(lat) & (lat <= sla_minutes)
    status: list[str | None] = [("met" if m else "missed") if f else None
                                for f, m in zip(flow.tolist(), met.tolist(), strict=True)]
    return Attainment(node_id, sla_minutes, int(met.sum()), int(flow.sum()), status)
