"""What-if sessions re-run only what a knob change reaches (issue 36): the evaluation after
a change equals a full evaluation value for value, on every shipped template and knob kind,
and the steps re-run are exactly the knob's downstream cone."""

from __future__ import annotations

import random

import numpy as np
import pytest

from benchmarks.models import session_template
from flowtime.adapters.templates.directory import shipped_templates_dir
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.modeling.templates import parse_template
from flowtime.domain.services.analysis import Study

TEMPLATES = sorted(shipped_templates_dir().glob("*.yaml"))


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_an_incremental_evaluation_equals_a_full_one(path):
    study = Study(parse_template(path.read_text()))
    knobs = list(study.knobs.values())
    rng = random.Random(path.stem)
    previous, settings, checked = None, {}, 0
    for _ in range(12):
        knob = rng.choice(knobs)
        base = knob.base if knob.base is not None else 1.0
        value = max(0.0, base * rng.uniform(0.5, 1.5))
        if knob.type == "integer":
            value = float(round(value))
        if knob.maximum is not None:
            value = min(value, knob.maximum)
        if knob.minimum is not None:
            value = max(value, knob.minimum)
        trial = {**settings, knob.id: value}
        try:
            full = study.evaluate(trial)
        except FlowTimeError:  # e.g. `bins` no longer matching a profile: not a setting
            continue
        settings = trial
        previous = study.evaluate_after(settings, previous)
        _same(previous.values, full)
        checked += 1
    assert checked >= 6


def test_moving_one_capacity_re_runs_only_what_reads_it():
    study = Study(parse_template(session_template(nodes=51, feedback=5, bins=48)))
    first = study.evaluate_after({"k0": 28.0}, None)
    assert first.rerun is None  # the first evaluation is a full one
    moved = study.evaluate_after({"k0": 22.0}, first)
    # k0 feeds v0 (and the loop with q0); derived series d<i> read queue i mod 5; the
    # backlog sums every queue
    expected = {"k0", "v0", "q0", "backlog"} | {f"d{i}" for i in range(0, 30, 5)}
    assert set(moved.rerun) == expected
    again = study.evaluate_after({"k0": 22.0}, moved)
    assert again.rerun == ()  # nothing changed: nothing runs
    _same(again.values, study.evaluate({"k0": 22.0}))
