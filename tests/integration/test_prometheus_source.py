"""The Prometheus metric source against a real Prometheus (Debian's package): known samples
are written as OpenMetrics, turned into TSDB blocks by `promtool tsdb create-blocks-from
openmetrics`, served by `prometheus` on a free loopback port, and read back through
POST /v1/series/resample — the same values as the same samples given as CSV."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.slow

START = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())
# a counter every 15 s for an hour with one reset and an irregular stretch; a gauge beside it
COUNTER = []
total = 0.0
for i in range(240):
    t = START - 60 + i * 15 + (7 if 100 <= i < 110 else 0)
    total = 3.0 if i == 150 else total + (i % 7) + 1  # restarts at sample 150
    COUNTER.append((t, total))
GAUGE = [(START - 30 + i * 20, float((i * 37) % 11)) for i in range(180)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    binary, promtool = shutil.which("prometheus"), shutil.which("promtool")
    assert binary and promtool, "prometheus is missing: run `make test` or .ci/run"
    folder = tmp_path_factory.mktemp("prometheus")
    lines = ["# TYPE requests counter"]
    lines += [f'requests_total{{job="api"}} {v} {t}' for t, v in COUNTER]
    lines += ["# TYPE depth gauge"]
    lines += [f'depth{{job="api"}} {v} {t}' for t, v in GAUGE]
    lines += ["# TYPE twin gauge", 'twin{job="a"} 1 ' + str(START), 'twin{job="b"} 2 ' + str(START),
              "# EOF"]
    (folder / "data.om").write_text("\n".join(lines) + "\n")
    data = folder / "tsdb"
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                    str(folder / "data.om"), str(data)], check=True, capture_output=True)
    (folder / "prometheus.yml").write_text("global: {scrape_interval: 1h}\n")
    port = _free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={data}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=1) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "prometheus did not become ready"
        assert process.poll() is None, "prometheus exited"
        time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)


GRID = {"start": "2026-11-02T00:00:00Z", "bins": 55, "binSize": 1}


def _csv(samples: list[tuple[int, float]]) -> str:
    return "timestamp,value\n" + "".join(f"{t},{v}\n" for t, v in samples)


@pytest.mark.parametrize(("metric", "samples", "kind"), [
    ('requests_total{job="api"}', COUNTER, "counter"), ('depth{job="api"}', GAUGE, "gauge")])
def test_prometheus_and_csv_give_the_same_grid(client, prometheus, metric, samples, kind):
    from_prometheus = client.post("/v1/series/resample", json={
        "source": {"kind": "prometheus", "url": prometheus, "query": metric},
        "type": kind, "grid": GRID})
    assert from_prometheus.status_code == 200, from_prometheus.text
    from_csv = client.post("/v1/series/resample", json={
        "source": {"kind": "csv", "text": _csv(samples)}, "type": kind, "grid": GRID})
    assert from_prometheus.json() == from_csv.json()
    values = from_prometheus.json()["values"]
    if kind == "counter":
        # every increase inside the grid's 55 minutes, counted by hand from the samples
        inside = [(t, v) for t, v in COUNTER if START <= t < START + 55 * 60]
        earlier = [v for t, v in COUNTER if t < START][-1]
        expected = 0.0
        for _, v in inside:
            expected += v - earlier if v >= earlier else v
            earlier = v
        assert abs(sum(values) - expected) < 1e-9


def test_prometheus_errors_are_clear(client, prometheus):
    bad = client.post("/v1/series/resample", json={
        "source": {"kind": "prometheus", "url": prometheus, "query": "sum(rate(x[5m]"},
        "grid": GRID})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["loc"] == "source.query"
    assert "Prometheus refused the query" in bad.json()["errors"][0]["msg"]
    twins = client.post("/v1/series/resample", json={
        "source": {"kind": "prometheus", "url": prometheus, "query": "twin"}, "grid": GRID})
    assert twins.status_code == 400 and "matches 2 series" in twins.json()["errors"][0]["msg"]
    down = client.post("/v1/series/resample", json={
        "source": {"kind": "prometheus", "url": f"http://127.0.0.1:{_free_port()}",
                   "query": "depth"}, "grid": GRID})
    assert down.status_code == 503
    assert "unreachable" in down.json()["detail"]
    # an expression (not a plain selector) is evaluated with query_range
    summed = client.post("/v1/series/resample", json={
        "source": {"kind": "prometheus", "url": prometheus, "query": 'sum(depth{job="api"})'},
        "grid": GRID})
    assert summed.status_code == 200
    assert all(v is not None for v in summed.json()["values"])
