"""Forecast and risk (issue 39, MODELING §9): priors, Holt–Winters demand, breach and
first-breach probabilities, and forecasts as jobs — expected values computed by hand (or
by numpy on the same samples) in this file."""

from __future__ import annotations

import math
import textwrap
import time

import numpy as np
import pytest

from flowtime.domain.errors import FlowTimeError
from flowtime.domain.modeling.templates import parse_template
from flowtime.domain.risk.demand import forecast_demand
from flowtime.domain.risk.forecast import run_forecast
from flowtime.domain.risk.priors import draw, prior_from
from flowtime.domain.services.analysis import Study


def queue_model(bins: int = 4, sla: float = 0.001) -> str:
    """queue[t] = max(0, queue[t−1] + a − c) with a = 10 and c = ${cap}; an SLA so small
    that any waiting work breaches it, so P(breach at t) = P(queue[t] > 0)."""
    return textwrap.dedent(f"""\
        metadata: {{id: q, title: one queue}}
        window: {{start: "2026-01-01T00:00:00Z"}}
        parameters: [{{name: cap, type: number, default: 10, minimum: 0, maximum: 100}}]
        grid: {{bins: {bins}, binSize: 60, binUnit: minutes}}
        nodes:
          - {{id: a, kind: const, values: {[10] * bins}}}
          - {{id: c, kind: expr, expr: "${{cap}}"}}
        topology:
          nodes:
            - {{id: Q, kind: serviceWithBuffer, semantics: {{arrivals: a, capacity: c}},
               slaMinutes: {sla}}}
        """)


def test_breach_probability_of_a_uniform_capacity():
    samples, seed = 4000, 7
    study = Study(parse_template(queue_model()), pmf_mode="expected")
    result = run_forecast(study, [("cap", {"kind": "uniform", "lo": 8, "hi": 12})], samples,
                          seed)
    # P(queue[1] > 0) = P(c < 10) = 0.5; the estimate's standard error is
    # sqrt(0.25 / 4000) = 0.0079, and 4 of those (0.032) bound it with 99.99 % confidence
    assert abs(result.sla["Q"].breach_probability[1] - 0.5) < 4 * math.sqrt(0.25 / samples)
    # the quantiles are numpy's (linear) on the same samples: the queue by the recurrence
    caps = draw(prior_from("cap", {"kind": "uniform", "lo": 8, "hi": 12}, "p"), seed,
                range(samples))
    queue = np.zeros((samples, 4))
    q = np.zeros(samples)
    for t in range(4):
        q = np.maximum(0.0, q + 10 - caps)
        queue[:, t] = q
    got = result.quantiles["q_queue"]
    for key, level in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
        assert np.allclose(got[key], np.quantile(queue, level, axis=0), rtol=0, atol=1e-9)


def test_priors_have_their_own_streams_and_truncation_holds():
    first = prior_from("cap", {"kind": "normal", "mean": 10, "sd": 5}, "p")
    alone = draw(first, 3, range(500), 8, 12)
    assert alone.min() >= 8 and alone.max() <= 12  # truncated at the knob's bounds
    study = Study(parse_template(queue_model()), pmf_mode="expected")
    one = run_forecast(study, [("cap", {"kind": "normal", "mean": 10, "sd": 2})], 300, 5)
    two = run_forecast(study, [("cap", {"kind": "normal", "mean": 10, "sd": 2}),
                               ("a", {"kind": "uniform", "lo": 9, "hi": 11})], 300, 5)
    assert one.priors["cap"] == two.priors["cap"]  # the second prior changed nothing of cap's
    # the knob's own bounds (parameter 0…100) truncate a wide normal
    wide = run_forecast(study, [("cap", {"kind": "normal", "mean": 1, "sd": 50})], 2000, 1)
    assert wide.priors["cap"]["p10"] >= 0
    with pytest.raises(FlowTimeError) as bad:
        run_forecast(study, [("cap", {"kind": "gamma"})], 10)
    assert bad.value.problems[0].loc == "priors[0].dist.kind"


def test_holt_winters_recovers_an_exact_season_and_trend():
    # 4 days of 24 hourly bins: level 100, trend 0.5 per bin, a sine season of amplitude 10
    season = 24
    shape = 10 * np.sin(2 * np.pi * np.arange(season) / season)
    t = np.arange(4 * season)
    history = 100 + 0.5 * t + shape[t % season]
    ahead = np.arange(4 * season, 5 * season)
    got = forecast_demand(history, season, season)
    assert np.max(np.abs(got.mean - (100 + 0.5 * ahead + shape[ahead % season]))) < 1e-6
    with pytest.raises(FlowTimeError) as short:
        forecast_demand(history[:40], season, 10)
    assert "at least 48" in short.value.problems[0].msg


def test_first_breach_counts_the_samples_that_never_breach():
    # capacity 5 (70 %): the queue grows 5 per bin, breaching from bin 0; capacity 20 (30 %):
    # never a queue — p50 is bin 0, p90 lands among the never-breaching samples: null
    study = Study(parse_template(queue_model(6)), pmf_mode="expected")
    prior = {"kind": "pmf", "values": [5, 20], "probabilities": [0.7, 0.3]}
    result = run_forecast(study, [("cap", prior)], 1000, 2)
    never = int(np.sum(draw(prior_from("cap", prior, "p"), 2, range(1000)) == 20))
    risk = result.sla["Q"]
    assert risk.never_count == never and 250 < never < 350
    assert risk.first_breach["p50"] == 0 and risk.first_breach["p90"] is None
    assert math.isclose(risk.any_breach, 1 - never / 1000)


def _wait(client, location: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got = client.get(location).json()
        if got["status"] not in ("queued", "running"):
            return got
        assert time.monotonic() < deadline, got
        time.sleep(0.02)


def test_a_forecast_job_over_http(client):
    body = {"template": queue_model(), "pmfMode": "expected", "samples": 500, "seed": 4,
            "priors": [{"knob": "cap", "dist": {"kind": "uniform", "lo": 8, "hi": 12}}]}
    started = client.post("/v1/forecasts", json=body)
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    done = _wait(client, location)
    assert done["status"] == "succeeded" and done["progress"] == {"done": 500, "total": 500}
    result = done["result"]
    assert set(result["quantiles"]["q_queue"]) == {"p10", "p50", "p90"}
    assert result["sla"]["Q"]["firstBreach"]["neverCount"] >= 0
    again = client.post("/v1/forecasts", json=body)
    assert again.status_code == 200 and again.json()["id"] == done["id"]
    listed = client.get("/v1/forecasts").json()["items"]
    assert [i["id"] for i in listed] == [done["id"]]
    bad = client.post("/v1/forecasts", json={**body, "priors": [
        {"knob": "nope", "dist": {"kind": "uniform", "lo": 1, "hi": 2}}]})
    assert bad.status_code == 400 and bad.json()["errors"][0]["loc"] == "priors[0].knob"
    short = client.post("/v1/forecasts", json={**body, "demand": {
        "node": "a", "history": [10.0] * 30, "season": 24}})
    assert short.status_code == 202  # the history is checked when the job runs
    failed = _wait(client, short.headers["location"])
    assert failed["status"] == "failed"
    assert "at least 48" in failed["error"]["problems"][0]["msg"]
    assert client.get("/v1/forecasts/forecast_0000000000000000").status_code == 404


def test_a_forecast_job_is_cancelled_and_resumed(client):
    body = {"template": queue_model(2000), "pmfMode": "expected", "samples": 20_000,
            "priors": [{"knob": "cap", "dist": {"kind": "uniform", "lo": 8, "hi": 12}}],
            "series": ["q_queue"]}
    started = client.post("/v1/forecasts", json=body)
    assert started.status_code == 202
    location = started.headers["location"]
    deadline = time.monotonic() + 30
    while client.get(location).json()["status"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert client.delete(location).status_code == 202
    stopped = _wait(client, location)
    assert stopped["status"] == "cancelled"
    assert client.delete(location).status_code == 409  # nothing left to cancel
    resumed = client.post("/v1/forecasts", json={**body})
    assert resumed.status_code == 202 and resumed.json()["id"] == stopped["id"]
    assert client.delete(location).status_code == 202
    assert _wait(client, location)["status"] == "cancelled"


def test_the_library_and_the_cli(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    import flowtime
    from flowtime.adapters.cli.main import cli

    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FLOWTIME_FSYNC", "0")
    model = tmp_path / "q.yaml"
    model.write_text(queue_model())
    got = flowtime.forecast(str(model), {"cap": {"kind": "uniform", "lo": 8, "hi": 12}},
                            samples=400, seed=9, pmf_mode="expected")
    assert got["status"] == "succeeded"
    assert isinstance(got["quantiles"]["q_queue"]["p50"], np.ndarray)
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"template: {json.dumps(queue_model())}\npmfMode: expected\nsamples: 400\n"
                    "seed: 9\npriors: [{knob: cap, dist: {kind: uniform, lo: 8, hi: 12}}]\n")
    ran = CliRunner().invoke(cli, ["forecast", str(spec), "--json"])
    assert ran.exit_code == 0, ran.output
    answer = json.loads(ran.stdout)
    # the same request as the library's: the same record, the same numbers
    assert answer["id"] == got["id"]
    assert answer["result"]["sla"]["Q"]["anyBreach"] == got["sla"]["Q"]["anyBreach"]


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_a_forecast_spread_over_an_executor_equals_the_one_run_here(tmp_path, executor):
    """Chunks of samples evaluated in pool processes or on Dask workers (each building the
    model from the request) merge into exactly the forecast computed in one process."""
    from flowtime.adapters.forecast_wire import ForecastBody
    from flowtime.container import Settings, build_container
    from flowtime.domain.risk.service import result_dict

    settings = Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0",
                                  "FLOWTIME_EXECUTOR": executor,
                                  "FLOWTIME_SWEEP_WORKERS": "2"})
    container = build_container(settings)
    service = container.forecasts()
    request = __import__("msgspec").convert(
        {"templateId": "it-system", "samples": 1200, "seed": 3,
         "priors": [{"knob": "billingCapacity", "dist": {"kind": "normal", "mean": 42,
                                                         "sd": 5}}]}, ForecastBody).request()
    seen = []
    used = []
    real = service.distribute

    def counting(*args):  # the executor really ran the chunks (a pass-through spy)
        used.append(container.executor().name)
        return real(*args)

    service.distribute = counting
    service.min_chunks = 2  # spread even these five chunks (the server waits for more)
    here = service.execute(request)
    spread = service.execute(request, on_progress=lambda d, t: seen.append(d), distributed=True)
    assert used == [executor]
    assert result_dict(spread) == result_dict(here)
    assert seen[-1] == 1200 and len(seen) >= 4  # the chunks came back one by one


def test_a_template_marks_the_node_a_demand_forecast_feeds(tmp_path):
    """`source: forecast` on a const node: the demand forecast feeds it (no `demand.node`);
    an exact season and trend come back as the node's p50."""
    import msgspec

    from flowtime.adapters.forecast_wire import ForecastBody
    from flowtime.container import Settings, build_container

    season = 24
    shape = 5 * np.sin(2 * np.pi * np.arange(season) / season)
    t = np.arange(3 * season)
    history = (50 + 0.1 * t + shape[t % season]).tolist()
    template = textwrap.dedent(f"""\
        metadata: {{id: fed, title: fed by a forecast}}
        window: {{start: "2026-01-04T00:00:00Z"}}
        grid: {{bins: {season}, binSize: 60, binUnit: minutes}}
        nodes:
          - {{id: demand, kind: const, values: {[0] * season}, source: forecast}}
          - {{id: cap, kind: const, values: {[60] * season}}}
        topology:
          nodes:
            - {{id: Desk, kind: serviceWithBuffer, semantics: {{arrivals: demand, capacity: cap}},
               slaMinutes: 30}}
        """)
    service = build_container(Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path),
                                                 "FLOWTIME_FSYNC": "0"})).forecasts()
    request = msgspec.convert({"template": template, "samples": 50, "series": ["demand"],
                               "demand": {"history": history, "season": season}},
                              ForecastBody).request()
    result = service.execute(request)
    ahead = np.arange(3 * season, 4 * season)
    expected = 50 + 0.1 * ahead + shape[ahead % season]
    assert result.demand is not None and result.demand["node"] == "demand"
    assert np.max(np.abs(np.array(result.demand["mean"]) - expected)) < 1e-6
    assert np.allclose(result.quantiles["demand"]["p50"], expected, atol=1e-4)
