"""Sensitivity, goal-seek and optimize (MODELING §6) on models whose answers are known."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from flowtime.domain.errors import FlowTimeError
from flowtime.domain.modeling.templates import parse_template
from flowtime.domain.services.analysis import Constraint, Study, goal_seek, optimize, sensitivity

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def study(nodes: str, parameters: str = "", **kwargs) -> Study:
    text = textwrap.dedent("""\
        metadata: {id: analysis}
        window: {start: "2025-01-01T00:00:00Z"}
        grid: {bins: 4, binSize: 1, binUnit: hours}
        """) + textwrap.dedent(parameters) + textwrap.dedent(nodes)
    return Study(parse_template(text), **kwargs)


LINEAR = study("""\
    nodes:
      - {id: a_node, kind: expr, expr: "${a}"}
      - {id: y, kind: expr, expr: "2 * ${a}"}
      - {id: x, kind: const, values: [3, 3, 3, 3]}
      - {id: zero, kind: const, values: [0, 0, 0, 0]}
      - {id: twice_x, kind: expr, expr: "x * 2"}
    """, """\
    parameters:
      - {name: a, type: number, default: 10, minimum: 0, maximum: 100}
    """)


def test_sensitivity_identity_unrelated_zero_base_and_unknown():
    points = sensitivity(LINEAR, ["x", "zero", "a"], "x")
    by_knob = {p.knob: p for p in points}
    assert by_knob["x"].gradient == pytest.approx(1.0)  # metric = the knob's node
    assert by_knob["a"].gradient == 0.0  # unrelated
    assert by_knob["zero"].gradient == 0.0 and by_knob["zero"].base_value == 0
    assert points[0].knob == "x"  # sorted by |gradient|
    assert sensitivity(LINEAR, ["x"], "twice_x")[0].gradient == pytest.approx(2.0)
    with pytest.raises(FlowTimeError) as info:
        sensitivity(LINEAR, ["x", "nope"], "x")
    assert info.value.kind == "invalid"
    assert str(info.value.problems[0]).startswith("knobs[1]: unknown knob 'nope' (known: ")


def test_goal_seek_bisects_to_the_known_value():
    # y = 2a on [0, 100]: mid 50 → 100, mid 25 → 50, mid 12.5 → 25 = target
    result = goal_seek(LINEAR, "a", "y", 25, 0, 100)
    assert (result.value, result.achieved, result.converged, result.iterations) == (
        12.5, 25, True, 3)
    assert [(s.value, s.lo, s.hi) for s in result.trace] == [
        (50, 0, 100), (25, 0, 50), (12.5, 0, 25)]


def test_goal_seek_unbracketed_and_max_iterations():
    high = goal_seek(LINEAR, "a", "y", 300, 0, 100)  # y reaches 200 at most
    assert (high.value, high.achieved, high.converged, high.trace) == (100, 200, False, [])
    capped = goal_seek(LINEAR, "a", "y", 30, 0, 100, max_iterations=5)
    assert capped.converged is False and capped.iterations == 5 and len(capped.trace) == 5
    # 50, 25, 12.5, 18.75, 15.625: the closest try is 15.625 (y = 31.25)
    assert capped.value == 15.625 and capped.achieved == 31.25


BOWL = """\
    nodes:
      - {id: bowl, kind: expr, expr: "(${a} - 50) * (${a} - 50) + (${b} - 100) * (${b} - 100)"}
      - {id: line, kind: expr, expr: "${a}"}
    """
BOWL_PARAMETERS = """\
    parameters:
      - {name: a, type: number, default: 0, minimum: 0, maximum: 100}
      - {name: b, type: number, default: 100, minimum: 0, maximum: 200}
    """


def test_optimize_bowls_and_a_linear_maximum():
    s = study(BOWL, BOWL_PARAMETERS)
    one = optimize(s, ["a"], {"a": (0, 80)}, "bowl")
    assert one.values["a"] == pytest.approx(50, abs=0.05) and one.converged
    two = optimize(s, ["a", "b"], {"a": (0, 100), "b": (0, 200)}, "bowl")
    assert two.values["a"] == pytest.approx(50, abs=0.05)
    assert two.values["b"] == pytest.approx(100, abs=0.05)
    top = optimize(s, ["a"], {"a": (0, 100)}, "line", objective="maximize")
    assert top.values["a"] == pytest.approx(100, abs=0.01)
    at_once = optimize(s, ["a"], {"a": (40, 60)}, "bowl")
    assert at_once.trace[0].values == {"a": 50} and at_once.trace[0].achieved == 0
    assert at_once.converged and at_once.values["a"] == pytest.approx(50, abs=0.05)


def test_optimize_with_a_constraint_stays_feasible():
    s = study(BOWL, BOWL_PARAMETERS)
    # minimise the bowl in a, but keep line (= a) at most 30: the answer is the edge, 30
    found = optimize(s, ["a"], {"a": (0, 100)}, "bowl",
                     constraints=[Constraint("line", max=30)])
    assert found.values["a"] == pytest.approx(30, abs=0.05)


def test_a_shipped_template_question_with_a_known_answer():
    # assembly-line with the oven firing every hour: Weld's queue grows by 40 − B an hour,
    # Q = (40 − B)(t + 1), so its mean over 12 hours is 6.5 (40 − B); a mean of 13 needs B = 38
    s = Study(parse_template((TEMPLATES / "assembly-line.yaml").read_text()), {"weldEvery": 1})
    assert s.knobs["weldBatch"].nodes == ("weld_batch",)  # set without rebuilding
    result = goal_seek(s, "weldBatch", "weld_queue", 13, 0, 80, tolerance=1e-6)
    assert result.converged and result.value == pytest.approx(38, abs=1e-6)


def test_knobs_by_reference_id_wip_limit_and_class_rate():
    s = Study(parse_template((TEMPLATES / "transit-classes.yaml").read_text()), seed=1)
    assert {"Bus.wipLimit", "riders.airport", "riders", "shuttleSeats"} <= set(s.knobs)
    base = s.evaluate({})
    more_airport = s.evaluate({"riders.airport": 6})  # rates 6:6:1 instead of 6:3:1
    assert more_airport["to_shuttle"][7] == pytest.approx(base["entering"][7] * 6 / 13)
    tight = s.evaluate({"Bus.wipLimit": 5})
    assert max(tight["bus_queue"]) == 5 and max(base["bus_queue"]) == 12


def test_samples_average_and_report_a_standard_error():
    s = Study(parse_template((TEMPLATES / "it-system.yaml").read_text()), samples=8)
    measured = s.measure({}, "orders")
    assert len(measured.samples) == 8 and measured.stderr is not None
    assert measured.value == pytest.approx(sum(measured.samples) / 8)


@pytest.mark.parametrize("settings", [{}, {"riders.airport": 6, "Bus.wipLimit": 5},
                                      {"shuttleSeats": 7}])
def test_samples_are_evaluated_as_one_batch_equal_to_one_run_per_seed(settings):
    """Analysis runs a measure's samples as one Monte Carlo batch (batch.py); every sample
    is exactly what evaluating that seed alone gives, with knobs that override nodes,
    change class shares and rebuild the model."""
    samples = 30
    batched = Study(parse_template((TEMPLATES / "transit-classes.yaml").read_text()), seed=5,
                    samples=samples)
    alone = Study(parse_template((TEMPLATES / "transit-classes.yaml").read_text()), seed=5)
    for metric in ("bus_queue", "to_shuttle", "entering"):
        measured = batched.measure(settings, metric, "p95")
        expected = []
        for i in range(samples):
            values = alone.evaluate(settings, seed=5 + i)
            expected.append(float(np.percentile(values[metric], 95)))
        assert list(measured.samples) == expected, metric
        assert len(set(expected)) > 1, metric  # the draws really differ between seeds
    assert batched.evaluations == 3 * samples


def test_samples_beyond_one_batch_are_evaluated_in_several(monkeypatch):
    """A batch is bounded in memory (batch.BATCH_VALUES): more samples run as several
    batches, with the same answers as one."""
    from flowtime.domain.evaluate import batch

    text = (TEMPLATES / "transit-classes.yaml").read_text()
    whole = Study(parse_template(text), seed=3, samples=20).measure({}, "bus_queue", "max")
    model = Study(parse_template(text)).model
    per_sample = model.grid.bins * (len(model.plan.node_ids) + len(model.plan.class_ids()))
    monkeypatch.setattr(batch, "BATCH_VALUES", 6 * per_sample)  # 6 samples a batch
    calls = []
    original = batch.evaluate_batch

    def counting(model, seeds, *args, **kwargs):
        calls.append(len(seeds))
        return original(model, seeds, *args, **kwargs)

    monkeypatch.setattr(batch, "evaluate_batch", counting)
    parts = Study(parse_template(text), seed=3, samples=20).measure({}, "bus_queue", "max")
    assert calls == [6, 6, 6, 2]
    assert parts.samples == whole.samples
