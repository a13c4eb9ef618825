"""The shipped templates written for MODELING §7 (issue 26): each uses a different part of
the reference's template format; the expected numbers are worked out by hand (or, for the
time-of-day profile, from the MODELING §7 rule written out again here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtime.domain.compile.classes import check_invariant
from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.modeling.templates import parse_template
from tests.building import model_of

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
HUB_RUSH_HOUR = [0.2, 0.18, 0.17, 0.17, 0.2, 0.35, 0.7, 1.2, 1.4, 1.25, 1.0, 0.85, 0.8, 0.85,
                 0.95, 1.1, 1.35, 1.5, 1.35, 1.0, 0.65, 0.4, 0.3, 0.22]


def run(name: str, parameters: dict | None = None, pmf_mode: str = "sample"):
    model = model_of((TEMPLATES / f"{name}.yaml").read_text(), parameters or {})
    values = evaluate_model(model, seed=1, pmf_mode=pmf_mode)
    check_invariant(model.plan.class_series, values)
    return model, {k: v.tolist() for k, v in values.items()}


def profile(hourly: list[float], bins: int) -> list[float]:
    """MODELING §7: 24 hourly weights × 12 slots, scaled to average 1; bin i takes the
    linear interpolation at i / bins × 287 (slot i at 288 bins); the bins' weights scaled
    to average 1 again."""
    slots = [w for w in hourly for _ in range(12)]
    mean = sum(slots) / len(slots)
    slots = [w / mean for w in slots]
    if bins == 288:  # "n = 288: slot i"
        return slots
    out = []
    for i in range(bins):
        x = i / bins * 287
        lo = int(x)
        hi = min(lo + 1, 287)
        out.append(slots[lo] + (slots[hi] - slots[lo]) * (x - lo))
    mean = sum(out) / bins
    return [w / mean for w in out]


def test_warehouse_waves_release_on_wave_hours_and_pickers_share_the_wave():
    _, v = run("warehouse-waves")
    # cancelled = floor(5 %) = 5, 6, 7, 9, 8, 7; pool = 95, 209, then wave hour 2 releases
    # min(209 + 150 - 7, 400) = 352 → 0; 171, 323, wave hour 5: 323 + 140 - 7 = 456 → 400
    # released, 56 left; 170, 265
    assert v["wave_pool"] == [95, 209, 0, 171, 323, 56, 170, 265]
    assert v["released"] == [0, 0, 352, 0, 0, 400, 0, 0]
    # 4 pickers × 60 = 240 an hour: 352 → 240 + 112, 400 → 240 + 160
    assert v["picking_effective_capacity"] == [240] * 8
    assert v["picking_served"] == [0, 0, 240, 112, 0, 240, 160, 0]
    assert v["picking_queue"] == [0, 0, 112, 0, 0, 160, 0, 0]
    # service time = Σ ms / count = 90 s; queue time = 112 / 240 h = 1,680,000 ms
    assert v["picking_service_time_ms"][2] == 90000
    assert v["picking_queue_time_ms"][2] == pytest.approx(1_680_000)
    assert v["packed"] == v["picking_served"]  # packing (300/h) keeps up


def test_payment_retries_echo_failures_and_park_the_exhausted():
    _, v = run("payment-retries")
    # requests: E = 100 × inline weights [2, 1, …, 1, 0] (they average 1)
    assert v["requests"] == [200, 100, 100, 100, 100, 100, 100, 100, 100, 0]
    # t0: 200 attempts, 40 fail, echo 0.5 × 40 = 20; t1: 100 + 20 = 120, 24 fail,
    # echo 0.5 × 24 + 0.3 × 40 = 24; t2: 124 attempts, 24.8 fail, echo 12.4 + 7.2 = 19.6
    assert v["attempts"][:3] == pytest.approx([200, 120, 124])
    assert v["payment_retries"][:3] == pytest.approx([20, 24, 19.6])
    # 20 % of failures are exhausted: 8, 4.8; the DLQ drains 2 a minute: 6, 8.8
    assert v["dead_letters_queue"][:2] == pytest.approx([6, 8.8])
    assert v["ledger_in"][:3] == pytest.approx([0, 160, 96])  # settled, one minute later


def test_shared_database_admits_each_service_in_proportion():
    _, v = run("shared-database")
    # demand 60 + 60 = 120 > 100: 50 / 50; 80 + 40: 66.67 / 33.33; 60 + 20 ≤ 100: as asked
    assert v["checkout_capped_db"][:3] == pytest.approx([50, 200 / 3, 60])
    assert v["search_capped_db"][:3] == pytest.approx([50, 100 / 3, 20])
    # checkout: 3 workers × 20 = 60 a minute; 66.67 admitted → 6.67 wait, then 60 + 6.67
    # against 60 → 6.67 again, then 40 + 6.67 ≤ 60 → 0
    assert v["checkout_queue"][:4] == pytest.approx([0, 20 / 3, 20 / 3, 0])
    assert v["db_calls"] == pytest.approx([100, 100, 80, 60, 100, 100])


def test_transit_classes_route_airport_riders_and_shape_walkups_by_rush_hour():
    model, v = run("transit-classes", pmf_mode="expected")
    weights = profile(HUB_RUSH_HOUR, 24)
    assert v["walkups"] == pytest.approx([10 * w for w in weights], abs=1e-12)  # E = 10
    riders = [10, 5, 5, 5, 10, 40, 120, 200, 180, 120, 80, 70, 70, 70, 80, 110, 180, 210, 150,
              90, 60, 40, 25, 15]
    entering = [r + 10 * w for r, w in zip(riders, weights, strict=True)]
    # entering takes the riders' mix 6:3:1; airport riders (30 %) all go to the shuttle,
    # the other 70 % split 3:1 between metro and bus
    assert v["to_shuttle"] == pytest.approx([0.3 * e for e in entering])
    assert v["to_metro"] == pytest.approx([0.7 * 0.75 * e for e in entering])
    assert v["to_shuttle__class_airport"] == pytest.approx(v["to_shuttle"])
    assert v["to_metro__class_commuter"] == pytest.approx([0.6 * 0.75 * e for e in entering])
    # the shuttle leaves on odd hours with 60 seats: bin 0 waits, bin 1 takes everyone
    assert v["shuttle_queue"][:2] == pytest.approx([0.3 * entering[0], 0])
    assert v["shuttle_served"][1] == pytest.approx(0.3 * (entering[0] + entering[1]))
    # departures merge all three lines, so they carry every class
    departed = v["departed"]
    classes = [v[f"departed__class_{c}"] for c in ("commuter", "airport", "visitor")]
    assert [sum(c[t] for c in classes) for t in range(24)] == pytest.approx(departed)
    assert min(classes[0][2:]) > 0 and max(classes[1]) > 0
    assert model.plan.classes == ("commuter", "airport", "visitor")


def test_profile_rule_at_288_bins_is_the_hourly_weight_scaled():
    weights = profile(HUB_RUSH_HOUR, 288)
    total = sum(HUB_RUSH_HOUR)
    assert weights[12 * 7 + 5] == pytest.approx(1.2 * 24 / total)


MODELING_7_FIELDS = {
    "narrative", "captureKey", "arrayOf", "required", "start", "classes", "traffic", "profile",
    "group", "metadata", "dependencies", "telemetry", "inflow", "outflow", "loss",
    "dispatchSchedule", "inputs", "routes", "nodeRole", "ui", "attempts", "failures",
    "retryEcho", "retryKernel", "parallelism", "processingTimeMsSum", "servedCount",
    "external_demand", "aliases", "slaMin", "maxAttempts", "exhaustedFailures",
    "retryBudgetRemaining", "type", "measure", "multiplier", "lag", "filename"}


def _keys(tree: object) -> set[str]:
    if isinstance(tree, dict):
        return set(tree) | {k for v in tree.values() for k in _keys(v)}
    if isinstance(tree, list):
        return {k for v in tree for k in _keys(v)}
    return set()


def test_the_shipped_templates_use_every_field_of_modeling_7():
    used: set[str] = set()
    for path in TEMPLATES.glob("*.yaml"):
        used |= _keys(parse_template(path.read_text()).tree)
    assert MODELING_7_FIELDS - used == set()
