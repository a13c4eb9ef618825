"""Reliability, round two (issue 20): inputs that used to stall or crash the server now get
a clear 4xx, in bounded time, and the server keeps answering."""

from __future__ import annotations

import os
import threading
import time

import pytest
from litestar.testing import TestClient

from flowtime.adapters.http.app import create_app
from flowtime.adapters.telemetry.capture_directory import CaptureDirectorySource
from flowtime.container import Settings, build_container
from flowtime.domain.errors import FlowTimeError
from tests.building import model_of


@pytest.fixture
def env(tmp_path):
    captures = tmp_path / "captures"
    captures.mkdir()
    settings = Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path / "data"),
                                  "FLOWTIME_CAPTURE_ROOT": str(captures), "FLOWTIME_FSYNC": "0",
                                  "FLOWTIME_MAX_CAPTURE_FILE_BYTES": "100000"})
    with TestClient(create_app(build_container(settings))) as client:
        yield client, captures


def _telemetry(directory: str, file: str) -> dict:
    return {"templateId": "it-system", "mode": "telemetry",
            "telemetry": {"captureDirectory": directory,
                          "bindings": {"telemetryDemandSource": file}}}


def _posted_within(client, body: dict, seconds: float):
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(r=client.post("/v1/runs", json=body)),
                              daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        # Unblock a reader stuck on the FIFO so the test process can end, then fail.
        pytest.fail(f"the request did not answer within {seconds} s")
    return result["r"]


def test_a_fifo_bound_as_a_telemetry_file_is_refused_without_blocking(env):
    client, captures = env
    folder = captures / "fifo"
    folder.mkdir()
    os.mkfifo(folder / "demand.csv")
    response = _posted_within(client, _telemetry("fifo", "demand.csv"), 10)
    assert response.status_code == 400
    assert "not a regular file" in response.json()["errors"][0]["msg"]
    assert client.get("/v1/templates").status_code == 200  # the server still answers


def test_a_fifo_named_like_the_capture_manifest_does_not_stall_a_run(env):
    client, captures = env
    folder = captures / "manifest-fifo"
    folder.mkdir()
    os.mkfifo(folder / "telemetry-manifest.json")
    (folder / "demand.csv").write_text("t,value\n" + "".join(f"{t},5\n" for t in range(12)))
    response = _posted_within(client, _telemetry("manifest-fifo", "demand.csv"), 10)
    assert response.status_code == 201, response.text


def test_a_character_device_is_refused_not_read_forever(tmp_path):
    source = CaptureDirectorySource(tmp_path)
    os.symlink("/dev/zero", tmp_path / "zero.csv")  # resolves outside the root: refused
    with pytest.raises(FlowTimeError):
        source.read(str(tmp_path), "zero.csv")
    device = tmp_path / "null.csv"
    os.mknod(device, 0o600 | 0o020000, os.makedev(1, 3))  # a character device like /dev/null
    start = time.monotonic()
    with pytest.raises(FlowTimeError) as info:
        source.read(str(tmp_path), "null.csv")
    assert "not a regular file" in info.value.problems[0].msg
    assert time.monotonic() - start < 2


def test_reading_stops_at_the_configured_size(tmp_path):
    (tmp_path / "big.csv").write_bytes(b"t,value\n" + b"0,1\n" * 1000)
    with pytest.raises(FlowTimeError) as info:
        CaptureDirectorySource(tmp_path, max_bytes=1000).read(str(tmp_path), "big.csv")
    assert "larger than 1000 bytes" in info.value.problems[0].msg


@pytest.mark.parametrize("route", ["/v1/runs", "/v1/sweeps"])
def test_invalid_utf8_in_a_json_body_is_400(env, route):
    client, _ = env
    response = client.post(route, content=b'{"templateId": "it-\xff"}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 400
    body = response.json()
    # our own stable fields, whichever layer (JSON decoder or our check) saw the bad byte
    assert body["code"] == "invalid_encoding"
    assert body["type"].endswith("/400")
    assert "UTF-8" in body["detail"]
    assert body["errors"][0]["loc"] == "body"
    assert "byte 19" in body["detail"]  # b'{"templateId": "it-' is 19 bytes, then 0xff


@pytest.mark.parametrize("directory", ["a" * 5000, "a/" * 3000])
def test_an_over_long_capture_directory_is_400(env, directory):
    client, _ = env
    response = client.post("/v1/runs", json=_telemetry(directory, "demand.csv"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == "telemetry.captureDirectory"


@pytest.mark.parametrize("expr", [
    "MIN(1, " * 190 + "1" + ")" * 190,        # nested calls
    "SHIFT(x,1)" + "+1" * 4990,                # a long flat chain (under 10,000 chars)
    "(" * 500 + "1" + ")" * 500,               # parentheses
])
def test_deep_or_long_expressions_are_validation_errors(env, expr):
    client, _ = env
    template = ("metadata: {id: deep}\nwindow: {start: \"2025-01-01T00:00:00Z\"}\n"
                "grid: {bins: 2, binSize: 1, binUnit: hours}\nnodes:\n"
                "  - {id: x, kind: const, values: [1, 2]}\n"
                f"  - {{id: y, kind: expr, expr: \"{expr}\"}}\n")
    response = client.post("/v1/runs", json={"template": template})
    assert response.status_code == 400, response.text[:300]
    assert "nested too deeply" in response.json()["errors"][0]["msg"]


def test_a_lag_beyond_the_grid_is_the_initial_value_without_huge_memory():
    import tracemalloc

    from flowtime.domain.evaluate.engine import evaluate_model

    text = ("metadata: {id: lag}\nwindow: {start: \"2025-01-01T00:00:00Z\"}\n"
            "grid: {bins: 10, binSize: 1, binUnit: hours}\nnodes:\n"
            "  - {id: q, kind: expr, expr: \"SHIFT(q, 100000000) + 1\", initial: 7}\n"
            "  - {id: v, kind: const, values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}\n"
            "  - {id: w, kind: expr, expr: \"SHIFT(v, 100000000)\"}\n")
    tracemalloc.start()
    values = evaluate_model(model_of(text), seed=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert values["q"].tolist() == [8.0] * 10  # always the initial value, plus one
    assert values["w"].tolist() == [0.0] * 10
    assert peak < 50_000_000


def test_a_window_ending_after_year_9999_is_a_validation_error():

    text = ("metadata: {id: late}\nwindow: {start: \"9999-12-31T00:00:00Z\"}\n"
            "grid: {bins: 48, binSize: 1, binUnit: hours}\nnodes:\n"
            "  - {id: x, kind: expr, expr: \"1\"}\n")
    with pytest.raises(FlowTimeError) as info:
        model_of(text)
    assert str(info.value.problems[0]) == ("window.start: 9999-12-31T00:00:00Z plus 48 bins of 1 "
                                           "hours ends after year 9999")


def test_a_non_ascii_api_key_is_refused_at_start_with_a_clear_message():
    from flowtime.container import Settings

    with pytest.raises(FlowTimeError) as info:
        Settings.from_env({"FLOWTIME_API_KEY": "clé-secrète"})
    assert "printable ASCII" in info.value.detail
    assert Settings.from_env({"FLOWTIME_API_KEY": "abc-123_XYZ"}).api_key == "abc-123_XYZ"


def test_readyz_turns_unhealthy_while_every_worker_thread_is_busy(env):
    from flowtime.adapters.http import routes

    client, _ = env
    assert client.get("/readyz").status_code == 200
    borrowers = [object() for _ in range(routes.WORK_THREADS)]

    async def occupy() -> None:  # hold every token of the app's pool, as stuck requests would
        for borrower in borrowers:
            await routes._work_pool().acquire_on_behalf_of(borrower)

    async def release() -> None:
        for borrower in borrowers:
            routes._work_pool().release_on_behalf_of(borrower)

    with client.portal() as portal:  # the app's own event loop
        portal.call(occupy)
        busy = client.get("/readyz")
        assert busy.status_code == 503
        assert "worker threads are busy" in busy.json()["errors"][0]["msg"]
        assert client.get("/healthz").status_code == 200  # alive, just not ready
        portal.call(release)
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("route, body, loc", [
    # found by the fuzzer: a list over its limit in a body that also lacks required fields
    # made the framework answer a bare 500 (it could not pin the error on a parameter)
    ("/v1/fit", {"observed": [{"series": "x", "values": {}}] * 51}, "observed"),
    ("/v1/optimize", {"constraints": [{"metric": "m"}] * 51}, "constraints"),
])
def test_a_body_error_the_framework_cannot_place_is_still_a_located_400(env, route, body, loc):
    client, _ = env
    response = client.post(route, json=body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["errors"][0]["loc"] == loc
    assert "50" in problem["errors"][0]["msg"] and problem["detail"].startswith(loc + ":")


def test_a_message_carrying_a_lone_surrogate_is_still_encoded():
    """A lone surrogate echoed into a problem (JSON's \\udXXX escapes decode to one) becomes
    U+FFFD rather than failing the response's encoding."""
    import msgspec

    from flowtime.adapters.http.problems import printable, problem_response
    from flowtime.adapters.wire import ProblemItem

    assert printable("ok \u00e9") == "ok \u00e9"
    assert printable("bad \udcae id") == "bad \ufffd id"
    response = problem_response(400, "knob '\udcae' unknown", [ProblemItem("knobs.\udcae", "x")])
    encoded = msgspec.json.encode(response.content)
    assert "\ufffd".encode() in encoded
