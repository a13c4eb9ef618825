"""Issue 42 (safe under abuse, round three), each finding as a regression test against a real
uvicorn process: budgets refuse what would take gigabytes, exports stream, analysis stops
at its deadline or when its client leaves, cross-site writes are refused, sessions
authenticate before they take a slot, and the three 500s are located 400s."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from benchmarks.server import rss_bytes, server_process

MB = 1024 * 1024
pytestmark = pytest.mark.slow  # real servers, big models


def _env(tmp_path, **extra: str) -> dict[str, str]:
    return {"FLOWTIME_DATA_DIR": str(tmp_path / "data"), "FLOWTIME_FSYNC": "0",
            "FLOWTIME_LOG_LEVEL": "ERROR", **extra}


def _expressions(nodes: int, bins: int, expr: str = "{i} + 1") -> str:
    lines = [f"grid: {{bins: {bins}, binSize: 1, binUnit: hours}}", "nodes:"]
    lines += [f"  - {{id: n{i}, kind: expr, expr: \"{expr.format(i=i)}\"}}"
              for i in range(nodes)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("round-three")
    env = _env(tmp, FLOWTIME_MAX_CONCURRENT_SWEEPS="1", FLOWTIME_MAX_QUEUED_SWEEPS="1")
    with server_process(env) as (base, process), httpx.Client(base_url=base,
                                                               timeout=60) as client:
        yield client, process


def test_an_oversize_model_is_refused_in_milliseconds_without_memory(server):
    client, process = server
    body = {"template": _expressions(8000, 10_000)}  # ~330 KB: 80 million cells
    before = rss_bytes(process.pid)
    started = time.monotonic()
    refused = client.post("/v1/runs", json=body)
    elapsed = time.monotonic() - started
    assert refused.status_code == 413, refused.text
    problem = refused.json()
    assert problem["code"] == "too_large"
    assert "80,000,000 cells" in problem["detail"] and "10,000,000" in problem["detail"]
    assert elapsed < 2.0
    assert rss_bytes(process.pid) - before < 50 * MB
    # the same budget for analysis and sessions' models, and for the CLI's --file
    assert client.post("/v1/validate", json={**body, "tier": "compile"}).status_code == 413
    assert client.post("/v1/goal-seek", json={
        **body, "knob": "x", "metric": "n1", "target": 1, "lo": 0, "hi": 1}).status_code == 413


def test_the_cli_refuses_an_oversize_file_with_exit_2(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(_expressions(3000, 10_000))
    done = subprocess.run([sys.executable, "-m", "flowtime.adapters.cli.main", "run",
                           "--file", str(path)], capture_output=True, text=True, timeout=60,
                          env={**_env(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert "30,000,000 cells" in done.stderr and "Traceback" not in done.stderr


def test_a_large_export_streams_in_bounded_memory(server):
    client, process = server
    # 300 series × 8,760 bins = 2.6 million cells of ~17 digits: ~45 MB of CSV
    created = client.post("/v1/runs", json={
        "template": _expressions(300, 8760, "{i} / 7 + 0.1234567")})
    assert created.status_code == 201, created.text
    run_id = created.json()["metadata"]["runId"]
    baseline = rss_bytes(process.pid)
    peak = baseline
    size = 0
    with client.stream("GET", f"/v1/runs/{run_id}/export", params={"format": "csv"}) as answer:
        assert answer.status_code == 200
        for chunk in answer.iter_bytes():
            size += len(chunk)
            peak = max(peak, rss_bytes(process.pid))
    assert size > 30 * MB
    # the series (2.6 M floats, 21 MB) and a chunk of text, never the whole file as text
    assert peak - baseline < 120 * MB, (peak - baseline) / MB


GOAL = textwrap.dedent("""\
    metadata: {id: slow, title: Slow}
    window: {start: "2025-01-01T00:00:00Z"}
    parameters: [{name: cap, type: number, default: 5, minimum: 0, maximum: 100}]
    grid: {bins: 2000, binSize: 1, binUnit: hours}
    nodes:
      - {id: demand, kind: pmf, pmf: {values: [1, 9], probabilities: [0.5, 0.5]}}
      - {id: cap, kind: const, values: [${cap}]}
    topology:
      nodes:
        - {id: Q, kind: serviceWithBuffer, semantics: {arrivals: demand, capacity: cap}}
    """).replace("values: [${cap}]", "values: [" + ", ".join(["${cap}"] * 2000) + "]")
HOURS = {"template": GOAL, "knob": "cap", "metric": "q_queue", "target": 10, "lo": 0,
         "hi": 100, "samples": 1000, "maxIterations": 1000, "tolerance": 1e-300}


def test_an_analysis_that_would_take_hours_times_out_and_frees_its_slot(tmp_path):
    env = _env(tmp_path, FLOWTIME_ANALYSIS_TIMEOUT_SECONDS="2",
               FLOWTIME_MAX_ANALYSIS_WORK=str(10**15), FLOWTIME_MAX_CONCURRENT_ANALYSES="1")
    with server_process(env) as (base, _), httpx.Client(base_url=base, timeout=60) as client:
        started = time.monotonic()
        answer = client.post("/v1/goal-seek", json=HOURS)
        elapsed = time.monotonic() - started
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "timeout" and "2 s" in answer.json()["detail"]
        assert elapsed < 2 + 1.5
        # the slot is free again: a small question is answered at once
        small = client.post("/v1/goal-seek", json={**HOURS, "samples": 1, "maxIterations": 3})
        assert small.status_code == 200, small.text


def test_an_analysis_whose_client_went_away_stops(tmp_path):
    env = _env(tmp_path, FLOWTIME_ANALYSIS_TIMEOUT_SECONDS="600",
               FLOWTIME_MAX_ANALYSIS_WORK=str(10**15), FLOWTIME_MAX_CONCURRENT_ANALYSES="1")
    with server_process(env) as (base, _), httpx.Client(base_url=base, timeout=60) as client:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(base + "/v1/goal-seek", json=HOURS, timeout=1.0)
        # while it ran, the one slot was taken (429); once the disconnect is seen the
        # evaluation loop stops within one evaluation and the slot frees
        deadline = time.monotonic() + 20
        while True:
            answer = client.post("/v1/goal-seek", json={**HOURS, "samples": 1,
                                                          "maxIterations": 3})
            if answer.status_code == 200:
                break
            assert answer.status_code == 429 and answer.headers["retry-after"]
            assert time.monotonic() < deadline, "the abandoned analysis kept its slot"
            time.sleep(0.2)


def test_too_many_constraints_or_analyses_are_refused(server):
    client, _ = server
    many = [{"metric": "n1", "max": 1}] * 51
    answer = client.post("/v1/optimize", json={
        "templateId": "it-system", "knobs": ["billingCapacity"],
        "ranges": {"billingCapacity": {"lo": 10, "hi": 60}}, "metric": "billingBacklog",
        "constraints": many})
    assert answer.status_code == 400 and answer.json()["errors"][0]["loc"].startswith(
        "constraints")


def _write_routes() -> list[tuple[str, str]]:
    """Every write route of the app (so a new route is covered by this test)."""
    from flowtime.adapters.http.app import create_app
    from flowtime.container import Settings, build_container

    app = create_app(build_container(Settings.from_env({"FLOWTIME_DATA_DIR": "/nonexistent"})))
    found = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", ()) or ()):
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                path = (route.path.replace("{run_id:str}", "run_x")
                        .replace("{sweep_id:str}", "sweep_x"))
                found.append((method, path))
    return found


WRITES = _write_routes()


def test_the_write_routes_are_all_found():
    assert {("POST", "/v1/runs"), ("POST", "/v1/sweeps"), ("POST", "/v1/goal-seek"),
            ("POST", "/v1/validate"), ("PATCH", "/v1/runs/run_x/tags"),
            ("DELETE", "/v1/runs/run_x")} <= set(WRITES)


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          None])
def test_a_cross_site_write_is_415(server, method, path, content_type):
    client, _ = server
    headers = {} if content_type is None else {"content-type": content_type}
    body = b'{"templateId": "it-system"}'
    answer = client.request(method, path, content=body, headers=headers)
    assert answer.status_code == 415, (method, path, answer.status_code)
    assert answer.json()["code"] == "unsupported_media_type"


def test_no_sweep_or_run_was_started_by_those_requests(server):
    client, _ = server
    assert client.get("/v1/sweeps").json()["totalCount"] == 0


def test_queued_sweeps_are_capped(server):
    client, _ = server
    held = []
    for grid in ([60, 80], [61, 81], [62, 82]):
        held.append(client.post("/v1/sweeps", json={
            "templateId": "transport-hub", "grid": {"busSeats": grid}, "samples": 200}))
    # one running + one queued fit (FLOWTIME_MAX_CONCURRENT_SWEEPS=1, ..._QUEUED_SWEEPS=1)
    assert [r.status_code for r in held[:2]] == [202, 202]
    assert held[2].status_code == 429 and held[2].headers["retry-after"]
    for answer in held[:2]:
        client.delete(answer.headers["location"])


def test_websocket_origin_and_authentication_before_a_slot(tmp_path):
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    env = _env(tmp_path, FLOWTIME_API_KEY="k3y", FLOWTIME_MAX_SESSIONS="16",
               FLOWTIME_SESSION_AUTH_SECONDS="30")
    with server_process(env) as (base, _):
        url = base.replace("http://", "ws://") + "/v1/sessions"
        host = base.removeprefix("http://")
        with pytest.raises(InvalidStatus) as refused:
            connect(url, additional_headers={"Origin": "https://evil.example"})
        assert refused.value.response.status_code == 403
        # 16 sockets that never authenticate hold no slot
        with contextlib.ExitStack() as idle:
            for _ in range(16):
                idle.enter_context(connect(url, additional_headers={"Origin": f"http://{host}"}))
            with connect(url, additional_headers={"Authorization": "Bearer k3y"}) as ws:
                ws.send(json.dumps({"templateId": "it-system"}))
                assert json.loads(ws.recv(timeout=30))["ready"] is True
            with connect(url) as ws:
                ws.send(json.dumps({"apiKey": "k3y"}))
                assert json.loads(ws.recv(timeout=10)) == {"authenticated": True}
                ws.send(json.dumps({"templateId": "it-system", "seed": 2**70}))
                assert json.loads(ws.recv(timeout=10))["problems"][0]["loc"] == "seed"
            # a big frame before authentication closes the socket (1009), parsed or not
            with connect(url, max_size=None) as ws:
                ws.send(json.dumps({"apiKey": "k3y", "pad": "x" * 20_000}))
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_the_three_500s_are_located_400s(server, tmp_path):
    client, _ = server
    run_id = client.post("/v1/runs", json={"templateId": "it-system"}).json()["metadata"]["runId"]
    same = client.get("/v1/runs/compare", params={"ids": f"{run_id},{run_id}"})
    assert same.status_code == 400 and same.json()["errors"][0]["loc"] == "ids"
    mixed = "grid: {bins: 2, binSize: 1, binUnit: hours}\nnodes:\n" \
            "  - {id: a, kind: const, values: [1, 2], 1: 2, 3.5: x, null: y}\n"
    answer = client.post("/v1/runs", json={"template": mixed})
    assert answer.status_code == 400 and answer.json()["errors"][0]["loc"].startswith("nodes[0]")
    digits = "grid: {bins: 2, binSize: 1, binUnit: hours}\nnodes:\n" \
             "  - {id: a, kind: const, values: [1, " + "9" * 4400 + "]}\n"
    answer = client.post("/v1/runs", json={"template": digits})
    assert answer.status_code == 400 and "4400 characters" in answer.json()["detail"]
    for text in (mixed, digits):
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        done = subprocess.run([sys.executable, "-m", "flowtime.adapters.cli.main", "run",
                               "--file", str(path)], capture_output=True, text=True,
                              timeout=60, env={**_env(tmp_path), "PATH": "/usr/bin:/bin"})
        assert done.returncode == 2 and "Traceback" not in done.stderr


def test_filters_tags_and_formula_cells(server):
    client, _ = server
    filters = {f"param.p{i}": "1" for i in range(40)}
    answer = client.get("/v1/runs", params=filters)
    assert answer.status_code == 400 and answer.json()["errors"][0]["loc"] == "filters"
    run_id = client.post("/v1/runs", json={"templateId": "it-system"}).json()["metadata"]["runId"]
    tagged = client.patch(f"/v1/runs/{run_id}/tags", json={"team\n": "x"})
    assert tagged.status_code == 400
    # a sweep over a text parameter whose value looks like a formula
    template = textwrap.dedent("""\
        metadata: {id: texty, title: Texty}
        window: {start: "2025-01-01T00:00:00Z"}
        parameters: [{name: label, type: string, default: a}]
        grid: {bins: 2, binSize: 1, binUnit: hours}
        nodes: [{id: a, kind: const, values: [1, 2]}]
        """)
    accepted = client.post("/v1/sweeps", json={
        "template": template, "grid": {"label": ["=HYPERLINK(\"x\")", "-1.5", "plain"]}})
    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["location"]
    deadline = time.monotonic() + 60
    while client.get(location).json()["status"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    text = client.get(location + "/export", params={"format": "csv"}).text
    assert "'=HYPERLINK" in text and "'-1.5" in text and ",=HYPERLINK" not in text


def test_memory_soak_benchmark_exists():
    """`make soak` runs benchmarks/soak.py (a benchmark, not a unit test)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert "soak:" in (root / "Makefile").read_text()
    assert (root / "benchmarks" / "soak.py").is_file()

