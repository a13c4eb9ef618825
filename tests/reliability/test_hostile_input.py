"""Hostile input corpus (data in tests/reliability/hostile): every item gets the right 4xx
with a clear message, in bounded time and memory, and nothing is written."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pytest
from litestar.testing import TestClient

from flowtime.adapters.http.app import create_app
from flowtime.container import Settings, build_container
from flowtime.domain.errors import ErrorKind, FlowTimeError
from flowtime.domain.modeling.templates import parse_template
from tests.building import model_of

CORPUS = Path(__file__).parent / "hostile"
IDS = json.loads((CORPUS / "ids.json").read_text())


@pytest.fixture
def app_env(tmp_path):
    data = tmp_path / "data"
    container = build_container(Settings.from_env({
        "FLOWTIME_DATA_DIR": str(data), "FLOWTIME_CAPTURE_ROOT": str(tmp_path / "captures"),
        "FLOWTIME_FSYNC": "0"}))
    with TestClient(create_app(container)) as client:
        run_id = client.post("/v1/runs", json={"templateId": "it-system"}).json()["metadata"][
            "runId"]
        yield client, data, run_id


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("run_id", IDS["run_ids"] + ["x" * 10_000])
def test_hostile_run_ids_are_refused_and_write_nothing(app_env, run_id):
    client, data, _ = app_env
    before = files_under(data)
    for response in (client.get(f"/v1/runs/{run_id}"), client.get(f"/v1/runs/{run_id}/index"),
                     client.delete(f"/v1/runs/{run_id}")):
        assert response.status_code in (400, 404, 405), (run_id, response.status_code)
    created = client.post("/v1/runs", json={"templateId": "it-system",
                                            "options": {"runId": run_id}})
    assert created.status_code == 400, (run_id, created.text)
    assert files_under(data) == before


@pytest.mark.parametrize("series_id", IDS["series_ids"])
def test_hostile_series_ids_are_refused(app_env, series_id):
    client, _, run_id = app_env
    assert client.get(f"/v1/runs/{run_id}/series/{series_id}").status_code in (400, 404)


@pytest.mark.parametrize("path", IDS["file_paths"])
def test_hostile_bundle_paths_never_escape(app_env, path):
    client, _, run_id = app_env
    response = client.get(f"/v1/runs/{run_id}/files/{path}")
    assert response.status_code in (400, 404), (path, response.status_code)
    assert b"root:" not in response.content


@pytest.mark.parametrize("body", [
    b'{"templateId": "it-system", "parameters": {"errorRate": NaN}}',
    b'{"templateId": "it-system", "parameters": {"errorRate": Infinity}}',
    b'{"templateId": "it-system", "parameters": {"errorRate": 1e999}}',
    b'{"templateId": "it-system", "parameters": {"demandProfile": [' + b"1," * 20000 + b"1]}}",
    b'{"templateId": "it-system", "parameters": {"bins": 100000000}}',
    b'{"templateId": "' + b"x" * 10_000 + b'"}',
    b'{"templateId": "it-system", "options": {"seed": 99999999999999999999999}}',
    b'[' * 5000 + b']' * 5000,
    b'{"templateId": "it-system", "parameters": ' + b'{"a":' * 2000 + b"1" + b"}" * 2001,
])
def test_hostile_bodies_are_4xx_quickly_and_write_nothing(app_env, body):
    client, data, _ = app_env
    before = files_under(data)
    started = time.monotonic()
    response = client.post("/v1/runs", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (400, 404, 413), response.text[:300]
    assert response.json()["detail"]
    assert time.monotonic() - started < 5
    assert files_under(data) == before


def test_a_million_element_array_is_413(app_env):
    client, data, _ = app_env
    before = files_under(data)
    body = json.dumps({"templateId": "it-system",
                       "parameters": {"demandProfile": [1] * 1_000_000}})
    response = client.post("/v1/runs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert files_under(data) == before


@pytest.mark.parametrize("name", ["billion-laughs.yaml", "duplicate-keys.yaml",
                                  "python-object.yaml"])
def test_hostile_templates_are_refused_with_a_location(name):
    tracemalloc.start()
    with pytest.raises(FlowTimeError) as info:
        parse_template((CORPUS / name).read_bytes())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert info.value.kind is ErrorKind.INVALID
    assert "line" in str(info.value.problems[0])
    assert peak < 20_000_000
    assert not Path("/tmp/flowtime-pwned").exists()


def test_huge_bins_and_deep_nesting_are_refused():
    with pytest.raises(FlowTimeError) as info:

        model_of((CORPUS / "huge-bins.yaml").read_bytes())
    assert "grid.bins: must be between 1 and 10000" in [str(p) for p in info.value.problems]
    deep = "a: " + "[" * 20000 + "]" * 20000 + "\n"
    with pytest.raises(FlowTimeError, match="malformed YAML"):
        parse_template(deep)


def test_huge_literals_evaluate_in_bounded_memory():
    from flowtime.domain.evaluate.engine import evaluate_model

    tracemalloc.start()
    model = model_of((CORPUS / "huge-literals.yaml").read_bytes())
    values = {k: v.tolist() for k, v in evaluate_model(model, seed=1).items()}
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert values["x"] == [0, 0, 1, 0]  # the period is beyond the grid: only the phase fires
    assert values["y"] == [0, 0, 0, 0]  # the phase is beyond the grid: never fires
    assert values["z"] == [0, 0, 0, 0]
    assert values["q"] == [3, 4, 3, 3]  # always the initial value, plus the single pulse
    assert peak < 20_000_000


def test_a_window_past_year_9999_is_refused_with_its_location():

    with pytest.raises(FlowTimeError) as info:
        model_of((CORPUS / "window-9999.yaml").read_bytes())
    assert info.value.problems[0].loc == "window.start"
