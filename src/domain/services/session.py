"""A live what-if session: one compiled model kept between messages, re-evaluated each time
a client moves a knob. Transport-free: the WebSocket driver (adapters/http/sessions.py)
reads the messages and calls `open` and `set` with what they ask."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowtime.domain.compile.checks import run_checks
from flowtime.domain.errors import Problem, invalid
from flowtime.domain.modeling.validation import output_series
from flowtime.domain.runs import RunWarning
from flowtime.domain.services.analysis import Evaluation, Knob, Study, require_known
from flowtime.domain.services.analysis_service import AnalysisService, StudySource
from flowtime.domain.views.state import state_numbers


@dataclass(frozen=True, slots=True)
class SetResult:
    """The answer to one `set`: the asked-for series (numbers as /state writes them), the
    run checks' warnings under the settings so far, and how long it took."""

    series: dict[str, list[float | None]]
    warnings: list[RunWarning]
    elapsed_ms: float


@dataclass(slots=True)
class WhatIfSession:
    study: Study
    settings: dict[str, float] = field(default_factory=dict)
    last: Evaluation | None = None  # what the next `set` starts from (only its cone re-runs)

    @staticmethod
    def open(service: AnalysisService, source: StudySource) -> WhatIfSession:
        """A session over the model `source` names (a template id or YAML text, its
        parameters, seed and PMF mode); the adapter reads these from its first message."""
        return WhatIfSession(service.study(source))

    def knobs(self) -> list[Knob]:
        """What a client may move (the session's first answer lists them)."""
        return list(self.study.knobs.values())

    def default_series(self) -> list[str]:
        model = self.study.model
        return output_series(model.definition, model.plan.node_ids)

    def cheap(self, changes: Mapping[str, Any]) -> bool:
        """True when `set` would only re-run part of the compiled model: every knob named
        is known and none rebuilds the model (a parameter used beyond one node's value)."""
        knobs = self.study.knobs
        return all(k in knobs and not knobs[k].rebuild for k in changes)

    def set(self, changes: Mapping[str, Any], series: list[str] | None = None,
            max_values: int | None = None) -> SetResult:
        """Knob values (`changes`) → the `series` (default: the model's outputs) under
        every value set so far in this session, the run checks' warnings and how long it
        took. At most `max_values` values (series × bins) come back: asking for more is an
        error."""
        started = time.perf_counter()
        settings = {**self.settings, **require_known(self.study, dict(changes))}
        wanted = series or self.default_series()
        bins = self.study.model.grid.bins
        if max_values is not None and len(wanted) * bins > max_values:
            raise invalid([Problem("series", f"{len(wanted)} series × {bins} bins = "
                                   f"{len(wanted) * bins:,} values; a reply holds at most "
                                   f"{max_values:,} (FLOWTIME_SESSION_MAX_REPLY_VALUES): "
                                   "ask for fewer series")])
        evaluation = self.study.evaluate_after(settings, self.last)
        values = evaluation.values
        names = [self.study.series_name(s, values) for s in wanted]
        self.settings, self.last = settings, evaluation
        model = evaluation.model
        warnings = run_checks(model.definition, model.plan, values)
        return SetResult(
            series={requested: state_numbers(values[name])
                    for requested, name in zip(wanted, names, strict=True)},
            warnings=warnings,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3))
