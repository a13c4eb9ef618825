"""Time-of-day profiles and the expected-value PMF mode (MODELING §7), with the numbers
computed here from the hourly weights, not from the code under test."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from flowtime.domain.errors import FlowTimeError
from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.runs import RunRequest
from tests.building import model_of

OFFICE = [0.18, 0.16, 0.15, 0.15, 0.2, 0.3, 0.45, 0.7, 0.95, 1.15, 1.25, 1.3, 1.25, 1.15, 1.05,
          1.0, 0.95, 0.85, 0.65, 0.5, 0.38, 0.3, 0.25, 0.2]


def pmf_model(bins: int, profile: str, pmf: str = "{values: [30], probabilities: [1]}",
              bin_size: int = 5) -> str:
    return textwrap.dedent(f"""\
        metadata: {{id: profiled}}
        window: {{start: "2025-01-01T00:00:00Z"}}
        grid: {{bins: {bins}, binSize: {bin_size}, binUnit: minutes}}
        nodes:
          - {{id: demand, kind: pmf, pmf: {pmf}, profile: {profile}}}
        """)


def values(text: str, mode: str = "sample") -> list[float]:
    model = model_of(text)
    return evaluate_model(model, seed=3, pmf_mode=mode)["demand"].tolist()


def test_inline_profile_scales_the_pmf_value():
    assert values(pmf_model(3, "{kind: inline, weights: [0.5, 1.5, 1.0]}")) == [15, 45, 30]


def test_builtin_profile_at_288_bins_is_the_hourly_weight_over_the_daily_mean():
    got = values(pmf_model(288, "{kind: builtin, name: weekday-office}",
                           "{values: [1], probabilities: [1]}"))
    expected = [OFFICE[slot // 12] * 24 / sum(OFFICE) for slot in range(288)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_builtin_profile_at_12_bins_interpolates_and_averages_exactly_one():
    got = values(pmf_model(12, "{kind: builtin, name: weekday-office}",
                           "{values: [1], probabilities: [1]}", bin_size=120))
    day = [w * 24 / sum(OFFICE) for w in OFFICE for _ in range(12)]
    raw = []
    for i in range(12):
        position = i / 12 * 287
        low = int(position)
        raw.append(day[low] + (day[min(low + 1, 287)] - day[low]) * (position - low))
    expected = [r / (sum(raw) / 12) for r in raw]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert sum(got) / 12 == pytest.approx(1, abs=1e-12)


def test_clock_alignment_reads_the_time_of_day():
    # Bins of one hour starting at midnight: bin h sits at slot 12h, i.e. hour h's weight.
    got = values(pmf_model(24, "{kind: builtin, name: weekday-office, align: clock}",
                           "{values: [1], probabilities: [1]}", bin_size=60))
    expected = [w / (sum(OFFICE) / 24) for w in OFFICE]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize(("profile", "loc", "message"), [
    ("{kind: builtin, name: lunchtime}", "nodes[0].profile.name", "unknown builtin profile"),
    ("{kind: inline, weights: [1, 2]}", "nodes[0].profile.weights", "has 2 weights"),
    ("{kind: inline, weights: [1, -2, 1]}", "nodes[0].profile.weights[1]", "finite and ≥ 0"),
])
def test_bad_profiles_are_validation_errors_with_the_field(profile, loc, message):
    with pytest.raises(FlowTimeError) as info:
        model_of(pmf_model(3, profile))
    [problem] = info.value.problems
    assert problem.loc == loc and message in problem.msg


def test_expected_mode_is_the_pmf_mean_in_every_bin():
    pmf = "{values: [10, 20, 30], probabilities: [0.2, 0.3, 0.5]}"
    text = pmf_model(4, "{kind: inline, weights: [1, 1, 1, 1]}", pmf)
    assert values(text, "expected") == [23, 23, 23, 23]  # 2 + 6 + 15
    sampled = values(text)
    assert sampled == values(text) and set(sampled) <= {10, 20, 30}  # reproducible samples


def test_the_two_modes_give_different_scenario_hashes(memory_service):
    sample = memory_service.create_run(RunRequest("it-system", deterministic_run_id=True))
    expected = memory_service.create_run(RunRequest("it-system", deterministic_run_id=True,
                                                    pmf_mode="expected"))
    assert sample.record.scenario_hash != expected.record.scenario_hash
    again = memory_service.create_run(RunRequest("it-system", deterministic_run_id=True))
    assert again.record.run_id == sample.record.run_id and not again.created
    provenance = memory_service.store.read(expected.record.run_id, "model/provenance.json")
    assert b'"pmfMode": "expected"' in provenance
    assert b"pmfMode" not in memory_service.store.read(sample.record.run_id,
                                                       "model/provenance.json")
