"""Observed data in (issue 38, MODELING §8): resampling, PMF and profile fits, calibration
and the capture pull — every expected number worked out by hand or by an independent
recurrence in this file."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
from litestar.testing import TestClient

from flowtime.adapters.http.app import create_app
from flowtime.container import Settings, build_container
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.observed.fit import fit_pmf, fit_profile
from flowtime.domain.observed.resample import resample
from flowtime.domain.observed.samples import GridSpec, Samples, SeriesSpec

ARRIVALS = [20, 26, 31, 38, 44, 51, 47, 42, 36, 29, 24, 21, 19, 23, 33, 41, 46, 40, 35, 30,
            27, 22, 18, 16]
DESK = textwrap.dedent(f"""\
    schemaVersion: 1
    metadata: {{id: fit-desk, title: A desk to calibrate, version: 1.0.0}}
    window: {{start: "2026-11-02T00:00:00Z", timezone: UTC}}
    parameters:
      - {{name: capacity, type: number, default: 20, minimum: 0, maximum: 1000}}
    grid: {{bins: {len(ARRIVALS)}, binSize: 5, binUnit: minutes}}
    topology:
      nodes:
        - id: Desk
          kind: serviceWithBuffer
          semantics: {{arrivals: arrivals, capacity: cap, queueDepth: self}}
    nodes:
      - {{id: arrivals, kind: const, values: {ARRIVALS}}}
      - {{id: cap, kind: expr, expr: "${{capacity}}"}}
    """)


def desk(capacity: float) -> tuple[list[float], list[float]]:
    """served and queue of the desk, by its recurrence (MODELING §1.1), independently."""
    served, queue, q = [], [], 0.0
    for a in ARRIVALS:
        s = min(a + q, capacity)
        q = q + a - s
        served.append(s)
        queue.append(q)
    return served, queue


@pytest.fixture
def client_env(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "fit-desk.yaml").write_text(DESK)
    return {"FLOWTIME_DATA_DIR": str(tmp_path / "data"), "FLOWTIME_TEMPLATES_DIR": str(templates)}


# -- resampling -----------------------------------------------------------------------------

def test_a_counter_with_a_reset():
    # samples every 30 s: 0 (base), 10, 25, 3 (reset: +3), 8 → bins of 60 s
    got = resample(Samples.of([0, 30, 60, 90, 120], [0, 10, 25, 3, 8]), GridSpec(0, 3, 60),
                   SeriesSpec("counter"))
    assert got.values.tolist() == [10.0, 15.0 + 3.0, 5.0]
    assert got.warnings == []
    # the MODELING example: the bins add up to the total increase, reset included
    longer = resample(Samples.of(range(0, 240, 30), [0, 10, 25, 3, 8, 12, 20, 26]),
                      GridSpec(0, 4, 60), SeriesSpec("counter"))
    assert longer.values.tolist() == [10.0, 18.0, 9.0, 14.0]


def test_a_gauge_is_time_weighted():
    # 4 held for 20 s, then 10 for 40 s: (4·20 + 10·40) / 60 = 8
    got = resample(Samples.of([0, 20], [4, 10]), GridSpec(0, 1, 60))
    assert got.values.tolist() == [8.0]
    # a sample holds at most five minutes: 6 at 0 s covers bins 0–4 of 60 s, bin 5 is a gap
    held = resample(Samples.of([0], [6]), GridSpec(0, 6, 60))
    assert held.values[:5].tolist() == [6.0] * 5 and math.isnan(held.values[5])
    # last / max / sum over the samples inside each bin
    samples = Samples.of([5, 15, 70, 80], [3, 9, 4, 2])
    assert resample(samples, GridSpec(0, 2, 60), SeriesSpec(aggregation="last")
                    ).values.tolist() == [9.0, 2.0]
    assert resample(samples, GridSpec(0, 2, 60), SeriesSpec(aggregation="max")
                    ).values.tolist() == [9.0, 4.0]
    assert resample(samples, GridSpec(0, 2, 60), SeriesSpec(aggregation="sum")
                    ).values.tolist() == [12.0, 6.0]


@pytest.mark.parametrize(("fill", "expected"), [
    ("none", [1.0, None, None, 7.0]), ("zero", [1.0, 0.0, 0.0, 7.0]),
    ("previous", [1.0, 1.0, 1.0, 7.0]), ("linear", [1.0, 3.0, 5.0, 7.0])])
def test_gaps_are_filled_as_asked_with_one_warning(fill, expected):
    # a counter with samples in bins 0 and 3 only: bins 1 and 2 hold none
    got = resample(Samples.of([0, 30, 190, 200], [0, 1, 1, 8]), GridSpec(0, 4, 60),
                   SeriesSpec("counter", fill=fill), name="requests")
    assert [None if math.isnan(v) else v for v in got.values.tolist()] == expected
    assert len(got.warnings) == 1
    warning = got.warnings[0]
    assert warning.code == "data_gap" and warning.bins == (1, 2)
    assert "requests: bins 1–2" in warning.message


# -- fits ------------------------------------------------------------------------------------

def test_pmf_fit_of_one_to_a_hundred():
    fitted = fit_pmf(range(1, 101), 4)
    assert fitted.values == [13.0, 38.0, 63.0, 88.0]  # (1+…+25)/25 = 13, …
    assert fitted.probabilities == [0.25] * 4 and sum(fitted.probabilities) == 1.0
    assert fitted.mean == 50.5
    assert sum(v * p for v, p in zip(fitted.values, fitted.probabilities, strict=True)) == 50.5
    # the last group takes the remainder: 1..10 in 3 groups of 3, 3, 4
    uneven = fit_pmf(range(1, 11), 3)
    assert uneven.values == [2.0, 5.0, 8.5] and uneven.probabilities[:2] == [0.3, 0.3]
    assert math.isclose(uneven.probabilities[2], 0.4) and sum(uneven.probabilities) == 1.0
    assert fit_pmf([7, 7, 7], 8).values == [7.0]


def test_profile_fit_returns_a_known_weekly_shape():
    hourly = [0.5 + 0.04 * h for h in range(24)]  # a known shape, mean 0.96
    rng = np.random.default_rng(5)
    week = [shape * 100 for _ in range(7) for shape in hourly]
    noisy = np.array(week) * (1 + rng.normal(0, 0, len(week)))
    fitted = fit_profile(noisy, 24)
    expected = [h / (sum(hourly) / 24) for h in hourly]
    assert np.allclose(fitted.weights, expected, rtol=1e-12)
    assert math.isclose(sum(fitted.weights) / 24, 1.0, rel_tol=1e-12)
    with pytest.raises(FlowTimeError) as never:
        fit_profile([1.0, math.nan, 2.0, 3.0] * 2, 4)
    assert "slot 1 (06:00)" in never.value.problems[0].msg


# -- HTTP ------------------------------------------------------------------------------------

def test_resample_over_http_reads_timestamps_with_offsets(client):
    text = ("time,requests_total,other\n"
            "2026-11-02T01:00:00+01:00,0,1\n"  # = 00:00Z
            "2026-11-02T00:00:30Z,10,1\n"
            f"{1793577660},25,1\n"  # epoch seconds = 00:01:00Z
            "2026-11-02T00:01:30Z,3,1\n")
    body = {"source": {"kind": "csv", "text": text, "valueColumn": "requests_total"},
            "type": "counter", "grid": {"start": "2026-11-02T00:00:00Z", "bins": 2,
                                        "binSize": 1}}
    got = client.post("/v1/series/resample", json=body)
    assert got.status_code == 200, got.text
    assert got.json()["values"] == [10.0, 18.0]
    ambiguous = client.post("/v1/series/resample", json={**body, "source": {
        "kind": "csv", "text": text}})
    assert ambiguous.status_code == 400
    assert ambiguous.json()["errors"][0]["loc"] == "source.valueColumn"
    naive = client.post("/v1/series/resample", json={**body, "source": {
        "kind": "csv", "text": "time,v\n2026-11-02T00:00:00,1\n"}})
    assert naive.status_code == 400 and "line 2" in naive.json()["errors"][0]["msg"]
    unknown = client.post("/v1/series/resample", json={**body, "source": {"kind": "nope"}})
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["loc"] == "source.kind"


def test_fit_endpoints(client):
    pmf = client.post("/v1/pmfs/fit", json={"values": list(range(1, 101)), "maxPoints": 4})
    assert pmf.json() == {"pmf": {"values": [13.0, 38.0, 63.0, 88.0],
                                  "probabilities": [0.25] * 4}, "mean": 50.5}
    profile = client.post("/v1/profiles/fit", json={"values": [1, 3, 2, 2] * 2,
                                                    "slotsPerDay": 4})
    assert profile.json()["profile"] == {"kind": "inline", "weights": [0.5, 1.5, 1.0, 1.0]}
    short = client.post("/v1/profiles/fit", json={"values": [1, 2], "slotsPerDay": 4})
    assert short.status_code == 400 and "at least 4" in short.json()["errors"][0]["msg"]


# -- calibration -----------------------------------------------------------------------------

def test_calibration_recovers_a_known_capacity(client):
    served, queue = desk(37.5)
    body = {"templateId": "fit-desk", "knobs": [{"id": "capacity", "lo": 1, "hi": 100,
                                                  "start": 20}],
            "observed": [{"series": "desk_served", "values": served},
                         {"series": "desk_queue", "values": queue}]}
    got = client.post("/v1/fit", json=body)
    assert got.status_code == 200, got.text
    answer = got.json()
    assert abs(answer["values"]["capacity"] - 37.5) < 1e-4
    assert answer["loss"] < 1e-6 and answer["converged"] is True
    assert [s["series"] for s in answer["perSeries"]] == ["desk_served", "desk_queue"]
    assert len(answer["perSeries"][0]["residuals"]) == len(ARRIVALS)
    assert answer["trace"][0]["values"] == {"capacity": 20.0}
    assert answer["holdout"] is None


def test_calibration_with_noise_matches_the_least_squares_optimum(client):
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(11)
    served, _ = desk(37.5)
    noisy = (np.array(served) + rng.normal(0, 1.0, len(served))).tolist()
    # the optimum of Σ (served(c) − observed)² over the 20 fitted bins (4 held out), by the
    # recurrence above: a scan of [1, 100] in steps of 0.01, then refined around the best

    def sse(c: float) -> float:
        return sum((s - o) ** 2 for s, o in zip(desk(c)[0][:20], noisy[:20], strict=True))

    coarse = min(np.arange(1, 100, 0.01), key=sse)
    best = minimize_scalar(sse, bounds=(coarse - 0.01, coarse + 0.01), method="bounded",
                           options={"xatol": 1e-9}).x
    got = client.post("/v1/fit", json={
        "templateId": "fit-desk", "knobs": [{"id": "capacity", "lo": 1, "hi": 100}],
        "observed": [{"series": "desk_served", "values": noisy}], "holdout": 4}).json()
    assert abs(got["values"]["capacity"] - best) < 1e-3
    residual = [s - o for s, o in zip(desk(best)[0][:-4], noisy[:-4], strict=True)]
    assert math.isclose(got["loss"], math.sqrt(sum(r * r for r in residual) / 20),
                        rel_tol=1e-4)
    tail = [s - o for s, o in zip(desk(best)[0][-4:], noisy[-4:], strict=True)]
    assert math.isclose(got["holdout"]["loss"], math.sqrt(sum(r * r for r in tail) / 4),
                        rel_tol=1e-3)
    mae = client.post("/v1/fit", json={
        "templateId": "fit-desk", "knobs": [{"id": "capacity", "lo": 1, "hi": 100}],
        "observed": [{"series": "desk_served", "values": served}], "loss": "mae"}).json()
    assert abs(mae["values"]["capacity"] - 37.5) < 1e-3


def test_calibration_problems_are_located(client):
    served, _ = desk(37.5)
    base = {"templateId": "fit-desk", "knobs": [{"id": "capacity", "lo": 1, "hi": 100}],
            "observed": [{"series": "desk_served", "values": served}]}
    for change, loc in [
            ({"knobs": [{"id": "nope", "lo": 1, "hi": 2}]}, "knobs[0].id"),
            ({"knobs": [{"id": "capacity", "lo": 5, "hi": 2}]}, "knobs[0]"),
            ({"observed": [{"series": "desk_nope", "values": served}]}, "observed[0].series"),
            ({"observed": [{"series": "desk_served", "values": served[:3]}]},
             "observed[0].values"),
            ({"holdout": 24}, "holdout")]:
        got = client.post("/v1/fit", json={**base, **change})
        assert got.status_code == 400, (change, got.text)
        assert got.json()["errors"][0]["loc"] == loc, got.text


def test_save_as_writes_a_template_whose_run_reproduces_the_fit(client):
    served, _ = desk(37.5)
    got = client.post("/v1/fit", json={
        "templateId": "fit-desk", "knobs": [{"id": "capacity", "lo": 1, "hi": 100}],
        "observed": [{"series": "desk_served", "values": served}],
        "saveAs": "fit-desk-calibrated"})
    assert got.status_code == 200, got.text
    assert got.json()["templateId"] == "fit-desk-calibrated"
    again = client.post("/v1/fit", json={
        "templateId": "fit-desk", "knobs": [{"id": "capacity", "lo": 1, "hi": 100}],
        "observed": [{"series": "desk_served", "values": served}],
        "saveAs": "fit-desk-calibrated"})
    assert again.status_code == 409
    run = client.post("/v1/runs", json={"templateId": "fit-desk-calibrated"})
    assert run.status_code == 201, run.text
    run_id = run.json()["metadata"]["runId"]
    text = client.get(f"/v1/runs/{run_id}/series/desk_served@DESK_SERVED@DEFAULT").text
    values = [float(line.split(",")[1]) for line in text.splitlines()[1:]]
    assert np.allclose(values, served, atol=1e-4)
    provenance = client.get(f"/v1/runs/{run_id}/files/model/provenance.json").json()
    calibration = provenance["calibration"]
    assert calibration["fromTemplate"] == "fit-desk"
    assert abs(calibration["values"]["capacity"] - 37.5) < 1e-4
    assert calibration["loss"]["kind"] == "rmse"


# -- the shipped example: pull → fit → calibrated run, from the shell and from Python ---------

def test_the_shipped_example_in_three_commands(tmp_path, monkeypatch):
    import json
    import shutil

    from click.testing import CliRunner

    import flowtime
    from flowtime.adapters.cli.main import cli

    repo = Path(__file__).resolve().parents[2]
    templates = tmp_path / "templates"
    templates.mkdir()
    shutil.copy(repo / "templates" / "checkout-api.yaml", templates)
    monkeypatch.setenv("FLOWTIME_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLOWTIME_TEMPLATES_DIR", str(templates))
    monkeypatch.setenv("FLOWTIME_FSYNC", "0")
    example = repo / "examples" / "observed"
    runner = CliRunner()
    capture = tmp_path / "data" / "captures" / "day1"
    pulled = runner.invoke(cli, ["data", "pull", str(example / "pull.yaml"), "--template",
                                 "checkout-api", "--out", str(capture), "--json"])
    assert pulled.exit_code == 0, pulled.output
    answer = json.loads(pulled.stdout)
    assert [f["path"] for f in answer["files"]] == ["requests.csv", "completed.csv",
                                                    "backlog.csv"]
    # the scrape outage 03:00–03:45 leaves bins 12–14 (15-minute bins) without samples
    gaps = {w["nodeId"]: w["bins"] for w in answer["warnings"]}
    assert gaps["requests"] == [12, 13, 14] and gaps["completed"] == [12, 13, 14]
    fitted = runner.invoke(cli, ["fit", "params", str(example / "fit.yaml"), "--save-as",
                                 "checkout-api-calibrated", "--json"])
    assert fitted.exit_code == 0, fitted.output
    capacity = json.loads(fitted.stdout)["values"]["capacity"]
    # the generator completes at most 25 requests per 15 s: 1,500 per 15-minute bin
    assert abs(capacity - 1500) < 15
    monkeypatch.chdir(tmp_path)  # the README's command names the folder from here
    ran = runner.invoke(cli, ["run", "--template-id", "checkout-api-calibrated", "--mode",
                              "telemetry", "--capture-dir", "data/captures/day1", "--bind",
                              "requestsSource=requests.csv", "--json"])
    assert ran.exit_code == 0, ran.output
    # the library gives the same answer as the CLI
    same = flowtime.fit("checkout-api", {"capacity": (100, 5000)}, [
        {"series": "checkout_served", "source": {"kind": "capture", "directory": "day1",
                                                 "file": "completed.csv"}}],
        inputs=[{"series": "requests", "source": {"kind": "capture", "directory": "day1",
                                                  "file": "requests.csv"}, "fill": "linear"}])
    assert abs(same["values"]["capacity"] - 1500) < 15


def test_save_as_with_the_shipped_templates_writes_to_the_data_folder(tmp_path):
    settings = Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0"})
    served, _ = desk(37.5)
    body = {"template": DESK, "knobs": [{"id": "capacity", "lo": 1, "hi": 100}],
            "observed": [{"series": "desk_served", "values": served}]}
    with TestClient(create_app(build_container(settings))) as client:
        saved = client.post("/v1/fit", json={**body, "saveAs": "my-desk"})
        assert saved.status_code == 200, saved.text
        assert (tmp_path / "templates" / "my-desk.yaml").is_file()
        listed = [t["id"] for t in client.get("/v1/templates").json()]
        assert "my-desk" in listed and "it-system" in listed
        shipped = client.post("/v1/fit", json={**body, "saveAs": "it-system"})
        assert shipped.status_code == 409


def test_a_capture_pulled_over_http_feeds_a_telemetry_run(tmp_path):
    settings = Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0"})
    # a counter sampled every 5 minutes from 00:00 (+6 a sample): the first sample is only the
    # base, so bin 0 (00:00–00:05) holds no increase and every later bin holds 6
    rows = "".join(f"2025-01-01T00:{m:02d}:00Z,{6 * (m // 5) + 100}\n" for m in range(0, 60, 5))
    body = {"directory": "pulled/day", "templateId": "it-system",
            "series": [{"id": "orders", "type": "counter", "metric": "Arrivals",
                        "source": {"kind": "csv", "text": "timestamp,total\n" + rows}}]}
    with TestClient(create_app(build_container(settings))) as client:
        made = client.post("/v1/telemetry/captures", json=body)
        assert made.status_code == 201, made.text
        assert made.json()["files"][0] == {**made.json()["files"][0], "path": "orders.csv",
                                           "points": 12}
        again = client.post("/v1/telemetry/captures", json=body)
        assert again.status_code == 409
        escape = client.post("/v1/telemetry/captures", json={**body, "directory": "../out"})
        assert escape.status_code == 400 and escape.json()["errors"][0]["loc"] == "directory"
        run = client.post("/v1/runs", json={"templateId": "it-system", "mode": "telemetry",
                                            "telemetry": {"captureDirectory": "pulled/day",
                                                          "bindings": {"telemetryDemandSource":
                                                                       "orders.csv"}}})
        assert run.status_code == 201, run.text
        run_id = run.json()["metadata"]["runId"]
        text = client.get(f"/v1/runs/{run_id}/series/baseOrders@BASEORDERS@DEFAULT").text
        assert [float(line.split(",")[1]) for line in text.splitlines()[1:]] == [0.0] + [6.0] * 11


def test_a_calibrated_run_beside_what_it_was_calibrated_to(client, tmp_path):
    served, _ = desk(37.5)
    folder = tmp_path / "data" / "captures" / "desk-day"
    folder.mkdir(parents=True)
    (folder / "served.csv").write_text("t,value\n" + "".join(
        f"{t},{v}\n" for t, v in enumerate(served)))
    fitted = client.post("/v1/fit", json={
        "templateId": "fit-desk", "knobs": [{"id": "capacity", "lo": 1, "hi": 100}],
        "observed": [{"series": "desk_served", "source": {
            "kind": "capture", "directory": "desk-day", "file": "served.csv"}}],
        "saveAs": "fit-desk-observed"})
    assert fitted.status_code == 200, fitted.text
    run_id = client.post("/v1/runs", json={"templateId": "fit-desk-observed"}).json()[
        "metadata"]["runId"]
    answer = client.get(f"/v1/runs/{run_id}/observed")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["calibratedFrom"] == "fit-desk" and body["notRead"] == []
    (series,) = body["series"]
    assert series["series"] == "desk_served" and series["observed"] == served
    assert np.allclose(series["model"], served, atol=1e-4)
    assert np.allclose(series["residuals"],
                       np.array(series["model"]) - np.array(served), atol=1e-12)
    assert series["rmse"] < 1e-4
    plain = client.post("/v1/runs", json={"templateId": "fit-desk"}).json()["metadata"]["runId"]
    assert client.get(f"/v1/runs/{plain}/observed").status_code == 404
