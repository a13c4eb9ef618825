"""Prometheus exposition that passes `promtool check metrics`.

The OpenTelemetry Prometheus exporter appends the unit to every name and keeps attribute
names as they are. Three of its habits clash with Prometheus conventions (and with the
reference system's metric names), so the families are rewritten on the way out:
- a name that already ends in its unit's abbreviation keeps just that (the instrument
  `simulation_evaluation_duration_ms` is exposed under that name, not `…_ms_milliseconds`);
- other millisecond histograms (the ASGI instrumentation's request duration) are exposed
  in the base unit, seconds, with bucket bounds and sums scaled;
- label names are snake_case (`templateId` → `template_id`); the OpenTelemetry attributes
  themselves keep the names SPEC §9 gives them.
`promtool` still notes that `…_ms` contains an abbreviated unit: that name is the contract.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

_ABBREVIATIONS = {"milliseconds": "ms", "seconds": "s", "bytes": "b"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake_label(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


class ConventionalCollector:
    """Yields the families of `source` renamed and rescaled as described above."""

    def __init__(self, source: CollectorRegistry):
        self._source = source

    def collect(self) -> Iterator[Metric]:
        for family in self._source.collect():
            yield _conform(family)


def _conform(family: Metric) -> Metric:
    name, unit, scale = family.name, family.unit, 1.0
    abbreviation = _ABBREVIATIONS.get(unit)
    if unit and abbreviation and name.endswith(f"_{abbreviation}_{unit}"):
        name, unit = name[: -len(unit) - 1], ""
    elif unit == "milliseconds" and family.type == "histogram" and name.endswith("_milliseconds"):
        name, unit, scale = name[: -len("milliseconds")] + "seconds", "seconds", 1e-3
    out = Metric(name, family.documentation, family.type, unit)
    for sample in family.samples:
        labels = {snake_label(k): v for k, v in sample.labels.items()}
        value = sample.value
        if scale != 1.0:
            if "le" in labels and labels["le"] != "+Inf":
                labels["le"] = floatToGoString(float(labels["le"]) * scale)
            if sample.name.endswith("_sum"):
                value *= scale
        suffix = sample.name[len(family.name):]
        out.samples.append(Sample(name + suffix, labels, value, sample.timestamp,
                                  sample.exemplar))
    return out


def conventional_registry(source: CollectorRegistry) -> CollectorRegistry:
    """A registry whose exposition is `source`'s, conformed."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConventionalCollector(source))
    return registry
