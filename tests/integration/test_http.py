"""The HTTP API through a real Litestar app (and one real uvicorn process)."""

from __future__ import annotations

import json
import os
import re
import shutil
import textwrap
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from benchmarks.server import running_server
from flowtime.adapters.http.app import create_app
from flowtime.adapters.templates.directory import shipped_templates_dir
from flowtime.container import Settings, build_container
from flowtime.domain.modeling import schemas

GOLDEN = Path(__file__).resolve().parent.parent / "golden"

STATE_TEMPLATE = textwrap.dedent("""\
    metadata: {id: state-check, title: State check, version: 1.0.0}
    window: {start: "2025-01-01T00:00:00Z"}
    grid: {bins: 3, binSize: 5, binUnit: minutes}
    topology:
      nodes:
        - id: Api
          kind: service
          semantics: {arrivals: arrivals, served: served, capacity: capacity}
        - id: Queue
          kind: queue
          semantics: {arrivals: served, served: qserved, queue: depth}
          slaMinutes: 5
      edges: [{from: "Api:out", to: "Queue:in"}]
    nodes:
      - {id: arrivals, kind: const, values: [10, 10, 0]}
      - {id: served, kind: const, values: [6, 6, 0]}
      - {id: capacity, kind: const, values: [7, 10, 0]}
      - {id: qserved, kind: const, values: [6, 0, 6]}
      - {id: depth, kind: const, values: [10, 4, 1]}
    """)


@pytest.fixture
def templates_dir(tmp_path):
    folder = tmp_path / "templates"
    shutil.copytree(shipped_templates_dir(), folder, ignore=shutil.ignore_patterns("__*"))
    (folder / "state-check.yaml").write_text(STATE_TEMPLATE)
    return folder


@pytest.fixture
def app_container(data_dir, templates_dir):
    settings = Settings.from_env({"FLOWTIME_DATA_DIR": str(data_dir),
                                  "FLOWTIME_TEMPLATES_DIR": str(templates_dir)})
    return build_container(settings)


@pytest.fixture
def client(app_container):
    with TestClient(create_app(app_container)) as test_client:
        yield test_client


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert schemas.validate("api-error", body) == []
    assert body["error"] == body["detail"] and body["status"] == status
    return body


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


def test_templates_list_and_detail(client):
    items = client.get("/v1/templates").json()
    assert {"it-system", "state-check"} <= {t["id"] for t in items}
    detail = client.get("/v1/templates/it-system").json()
    bins = next(p for p in detail["parameters"] if p["name"] == "bins")
    assert bins == {"name": "bins", "type": "integer", "title": "Bins",
                    "description": "Number of time bins", "default": 12, "minimum": 3,
                    "maximum": 288, "required": False}
    problem(client.get("/v1/templates/nope"), 404)


def test_create_run_returns_201_location_and_get_matches(client, data_dir):
    created = client.post("/v1/runs", json={"templateId": "it-system"})
    assert created.status_code == 201
    body = created.json()
    run_id = body["metadata"]["runId"]
    assert created.headers["location"] == f"/v1/runs/{run_id}"
    assert body["isDryRun"] is False and body["plan"] is None and body["canReplay"] is True
    assert body["metadata"]["schema"]["id"] == "time-travel/v1"
    assert body["artifacts"] == {"runJson": True, "manifestJson": True, "seriesIndex": True,
                                 "seriesCount": 23}
    fetched = client.get(f"/v1/runs/{run_id}").json()
    assert fetched["metadata"] == body["metadata"]
    assert (data_dir / "runs" / run_id / "series" / "index.json").is_file()


def test_dry_run_is_200_and_writes_nothing(client, data_dir):
    response = client.post("/v1/runs", json={"templateId": "it-system",
                                             "options": {"dryRun": True}})
    assert response.status_code == 200
    body = response.json()
    assert body["isDryRun"] is True and body["metadata"] is None and body["canReplay"] is False
    assert body["plan"]["templateId"] == "it-system"
    assert list((data_dir / "runs").iterdir()) == []


def test_deterministic_create_twice_is_201_then_200_with_same_id(client):
    body = {"templateId": "supply-chain", "options": {"deterministicRunId": True}}
    first, second = client.post("/v1/runs", json=body), client.post("/v1/runs", json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["metadata"] == second.json()["metadata"]


@pytest.mark.parametrize(("body", "loc"), [
    ({}, "templateId"),
    ({"templateId": "it-system", "mode": "batch"}, "mode"),
    ({"templateId": "it-system", "parameters": {"bins": "twelve"}}, "parameters.bins"),
    ({"templateId": "it-system", "parameters": {"bins": 1}}, "parameters.bins"),
    ({"templateId": "it-system", "parameters": {"color": "red"}}, "parameters.color"),
    ({"templateId": "it-system", "options": {"runId": "../etc"}}, "options.runId"),
    ({"templateId": "it-system", "options": {"seed": "x"}}, "options.seed"),
    ({"templateId": 5}, "templateId"),
    ({"templateId": "it-system", "surprise": 1}, "surprise"),
])
def test_invalid_requests_are_400_naming_the_field(client, body, loc):
    found = problem(client.post("/v1/runs", json=body), 400)
    assert loc in [e["loc"] for e in found["errors"]], found


def test_unknown_template_conflict_size_and_media_type(client, app_container):
    problem(client.post("/v1/runs", json={"templateId": "nope"}), 404)
    client.post("/v1/runs", json={"templateId": "it-system", "options": {"runId": "same"}})
    problem(client.post("/v1/runs", json={"templateId": "it-system",
                                          "options": {"runId": "same"}}), 409)
    replaced = client.post("/v1/runs", json={"templateId": "it-system", "options": {
        "runId": "same", "overwriteExisting": True}})
    assert replaced.status_code == 201
    big = json.dumps({"templateId": "it-system", "parameters": {"x": "a" * 1_100_000}})
    problem(client.post("/v1/runs", content=big, headers={"content-type": "application/json"}),
            413)
    problem(client.post("/v1/runs", content=b"templateId=x",
                        headers={"content-type": "application/x-www-form-urlencoded"}), 415)
    problem(client.post("/v1/runs", content=b"{not json",
                        headers={"content-type": "application/json"}), 400)


def test_list_filters_paging_and_clamping(client):
    for template, mode_ok in (("it-system", True), ("supply-chain", True), ("it-system", True)):
        assert mode_ok
        assert client.post("/v1/runs", json={"templateId": template}).status_code == 201
    everything = client.get("/v1/runs").json()
    assert everything["totalCount"] == 3 and everything["pageSize"] == 50
    created = [i["createdUtc"] for i in everything["items"]]
    assert created == sorted(created, reverse=True)
    only = client.get("/v1/runs", params={"templateId": "supply-chain"}).json()
    assert [i["templateId"] for i in only["items"]] == ["supply-chain"]
    assert client.get("/v1/runs", params={"mode": "telemetry"}).json()["totalCount"] == 0
    assert client.get("/v1/runs", params={"hasWarnings": "true"}).json()["totalCount"] == 0
    assert client.get("/v1/runs", params={"hasWarnings": "false"}).json()["totalCount"] == 3
    page1 = client.get("/v1/runs", params={"pageSize": 1, "page": 1}).json()["items"]
    page2 = client.get("/v1/runs", params={"pageSize": 1, "page": 2}).json()["items"]
    assert page1[0]["runId"] != page2[0]["runId"]
    problem(client.get("/v1/runs", params={"page": 0}), 400)
    problem(client.get("/v1/runs", params={"page": "first"}), 400)
    too_big = client.get("/v1/runs", params={"pageSize": 5000})
    assert too_big.status_code == 400 and "pageSize" in too_big.text


def test_series_index_files_and_delete(client):
    run_id = client.post("/v1/runs", json={"templateId": "it-system"}).json()["metadata"]["runId"]
    index = client.get(f"/v1/runs/{run_id}/index").json()
    assert schemas.validate("series-index", index) == []
    by_id = client.get(f"/v1/runs/{run_id}/series/billed@BILLED@DEFAULT")
    by_node = client.get(f"/v1/runs/{run_id}/series/billed")
    assert by_id.headers["content-type"].startswith("text/csv")
    assert by_id.content == by_node.content and by_id.text.startswith("t,value\n0,")
    problem(client.get(f"/v1/runs/{run_id}/series/nothing"), 404)
    manifest = client.get(f"/v1/runs/{run_id}/files/manifest.json")
    assert manifest.json()["schemaVersion"] == 1
    for escape in ("..%2F..%2Fetc%2Fpasswd", "%2e%2e/run.json", ".summary.json"):
        assert client.get(f"/v1/runs/{run_id}/files/{escape}").status_code in (400, 404)
    assert client.delete(f"/v1/runs/{run_id}").status_code == 204
    problem(client.get(f"/v1/runs/{run_id}"), 404)
    problem(client.delete(f"/v1/runs/{run_id}"), 404)


def test_state_derives_utilization_latency_and_colours(client):
    run_id = client.post("/v1/runs", json={"templateId": "state-check"}).json()["metadata"]["runId"]
    state = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 0}).json()
    assert schemas.validate("time-travel-state", state) == []
    api, queue = state["nodes"]
    assert api["metrics"] == {"arrivals": 10, "served": 6, "capacity": 7}
    assert api["derived"]["utilization"] == pytest.approx(6 / 7)
    assert api["derived"]["throughputRatio"] == pytest.approx(0.6)
    assert api["derived"]["color"] == "yellow"
    assert queue["derived"]["latencyMinutes"] == pytest.approx(10 / 6 * 5)
    assert queue["derived"]["color"] == "red"  # 8.3 min against a 5 min SLA
    assert state["bin"] == {"index": 0, "startUtc": "2025-01-01T00:00:00Z",
                            "endUtc": "2025-01-01T00:05:00Z", "durationMinutes": 5}
    later = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 2}).json()
    api2, queue2 = later["nodes"]
    assert api2["derived"]["utilization"] is None and api2["derived"]["color"] == "gray"
    assert api2["derived"]["throughputRatio"] is None
    assert queue2["derived"]["latencyMinutes"] == pytest.approx(1 / 6 * 5)
    assert queue2["derived"]["color"] == "green"
    middle = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 1}).json()
    assert middle["nodes"][1]["derived"]["latencyMinutes"] is None  # served 0


def test_state_bounds_and_window(client):
    run_id = client.post("/v1/runs", json={"templateId": "state-check"}).json()["metadata"]["runId"]
    problem(client.get(f"/v1/runs/{run_id}/state", params={"binIndex": 3}), 400)
    problem(client.get(f"/v1/runs/{run_id}/state", params={"binIndex": -1}), 400)
    problem(client.get("/v1/runs/nope/state", params={"binIndex": 0}), 404)
    window = client.get(f"/v1/runs/{run_id}/state_window",
                        params={"startBin": 0, "endBin": 2}).json()
    assert schemas.validate("time-travel-state", window) == []
    assert window["window"] == {"startBin": 0, "endBin": 2, "binCount": 3}
    assert window["nodes"][0]["series"]["served"] == [6, 6, 0]
    assert window["nodes"][0]["series"]["utilization"][2] is None  # capacity 0 -> null
    problem(client.get(f"/v1/runs/{run_id}/state_window", params={"startBin": 2, "endBin": 1}),
            400)


def test_window_over_500_bins_is_413(client):
    run_id = client.post("/v1/runs", json={
        "templateId": "network-reliability",
        "parameters": {"bins": 600, "loadPattern": [1] * 600}}).json()["metadata"]["runId"]
    problem(client.get(f"/v1/runs/{run_id}/state_window",
                       params={"startBin": 0, "endBin": 500}), 413)
    ok = client.get(f"/v1/runs/{run_id}/state_window", params={"startBin": 0, "endBin": 499})
    assert ok.status_code == 200


def test_api_key_protects_mutating_routes(data_dir, templates_dir):
    settings = Settings.from_env({"FLOWTIME_DATA_DIR": str(data_dir), "FLOWTIME_API_KEY": "s3cret",
                                  "FLOWTIME_TEMPLATES_DIR": str(templates_dir)})
    with TestClient(create_app(build_container(settings))) as c:
        body = {"templateId": "it-system"}
        problem(c.post("/v1/runs", json=body), 401)
        problem(c.post("/v1/runs", json=body, headers={"Authorization": "Bearer wrong"}), 401)
        ok = c.post("/v1/runs", json=body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 201
        run_id = ok.json()["metadata"]["runId"]
        problem(c.delete(f"/v1/runs/{run_id}"), 401)
        assert c.get(f"/v1/runs/{run_id}").status_code == 200  # reads stay open
        assert c.get("/v1/runs").status_code == 200
        document = c.get("/schema/openapi.json").json()
        mutating = [(method, path) for path, ops in document["paths"].items()
                    for method in ops if method in ("post", "put", "patch", "delete")]
        assert len(mutating) >= 2
        for method, path in mutating:  # every mutating route, present and future
            url = path.replace("{run_id}", run_id).replace("{", "").replace("}", "")
            for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "s3cret"}):
                response = c.request(method.upper(), url, json={}, headers=headers)
                assert response.status_code == 401, (method, path, headers)


def test_unexpected_errors_are_generic_500_with_a_request_id(client, app_container, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app_container.queries(), "list_runs", boom)
    response = client.get("/v1/runs", headers={"x-request-id": "req-123"})
    body = problem(response, 500)
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert body["requestId"] == "req-123" and response.headers["x-request-id"] == "req-123"


def test_openapi_document_is_valid_and_lists_every_route(client):
    from openapi_spec_validator import validate

    document = client.get("/schema/openapi.json").json()
    validate(document)
    paths = set(document["paths"])
    assert {"/healthz", "/readyz", "/v1/templates", "/v1/templates/{template_id}", "/v1/runs",
            "/v1/runs/{run_id}", "/v1/runs/{run_id}/index", "/v1/runs/{run_id}/state",
            "/v1/runs/{run_id}/state_window", "/v1/runs/{run_id}/series/{series_id}",
            "/v1/runs/{run_id}/files/{file_path}"} <= paths
    for path in paths - {"/healthz", "/metrics"}:
        for method, operation in document["paths"][path].items():
            errors = operation["responses"]
            assert "500" in errors, (method, path)
            assert "application/problem+json" in errors["500"]["content"], (method, path)
    assert {"400", "404", "409", "413", "415", "422"} <= set(
        document["paths"]["/v1/runs"]["post"]["responses"])
    # readable operation ids (generated clients read well), each once, none generated
    operations = [(m, p, op) for p, item in document["paths"].items()
                  for m, op in item.items() if isinstance(op, dict)]
    ids = [op["operationId"] for _, _, op in operations]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][A-Za-z]*", i) for i in ids), ids
    assert document["paths"]["/v1/templates"]["get"]["operationId"] == "listTemplates"
    assert document["paths"]["/v1/runs"]["post"]["operationId"] == "createRun"
    # the bearer scheme, on exactly the routes that need the key (the write routes)
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for method, path, op in operations:
        keyed = method in ("post", "put", "patch", "delete")
        assert (op.get("security") == [{"bearerAuth": []}]) == keyed, (method, path)


VOLATILE = {"runId", "createdUtc", "provenanceHash", "modelPath", "metadataPath",
            "provenancePath", "templateHash"}


def mask(value):
    if isinstance(value, dict):
        return {k: ("<masked>" if k in VOLATILE else mask(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


@pytest.mark.parametrize("name", ["create", "get"])
def test_golden_create_and_get_bodies(client, name):
    created = client.post("/v1/runs", json={"templateId": "it-system", "options": {"seed": 1}})
    body = created.json() if name == "create" else client.get(
        f"/v1/runs/{created.json()['metadata']['runId']}").json()
    masked = mask(body)
    path = GOLDEN / f"it-system-{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(masked, indent=2) + "\n")
    assert masked == json.loads(path.read_text())


def test_real_uvicorn_server_serves_runs(data_dir, templates_dir):
    env = {"FLOWTIME_DATA_DIR": str(data_dir), "FLOWTIME_TEMPLATES_DIR": str(templates_dir)}
    with running_server(env) as base:
        created = httpx.post(f"{base}/v1/runs", json={"templateId": "transport-hub"}, timeout=10)
        assert created.status_code == 201
        assert httpx.get(base + created.headers["location"], timeout=5).status_code == 200
        assert httpx.get(f"{base}/v1/runs/missing", timeout=5).status_code == 404


def test_read_responses_match_their_documented_schemas(client):
    import jsonschema

    run_id = client.post("/v1/runs", json={"templateId": "state-check"}).json()["metadata"]["runId"]
    document = client.get("/schema/openapi.json").json()

    def check(path: str, params: dict | None = None) -> None:
        operation = document["paths"][path.split("?")[0].replace(run_id, "{run_id}")]["get"]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        body = client.get(path, params=params).json()
        jsonschema.validate(body, {**schema, "components": document["components"]})

    check(f"/v1/runs/{run_id}/state", {"binIndex": 2})
    check(f"/v1/runs/{run_id}/state_window", {"startBin": 0, "endBin": 2})
    check(f"/v1/runs/{run_id}/index")
    check(f"/v1/runs/{run_id}")
    check("/v1/runs")
    check("/v1/templates")


def test_every_get_has_an_etag_and_a_matching_if_none_match_is_a_304(client):
    run_id = client.post("/v1/runs", json={"templateId": "it-system"}).json()["metadata"]["runId"]
    for path in (f"/v1/runs/{run_id}", f"/v1/runs/{run_id}/state_window",
                 f"/v1/runs/{run_id}/index", "/v1/runs", "/v1/templates"):
        first = client.get(path)
        tag = first.headers["etag"]
        again = client.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
        assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    # a listing's tag changes when a run arrives; an immutable run's does not
    listing = client.get("/v1/runs").headers["etag"]
    run_tag = client.get(f"/v1/runs/{run_id}/index").headers["etag"]
    client.post("/v1/runs", json={"templateId": "it-system"})
    assert client.get("/v1/runs").headers["etag"] != listing
    assert client.get(f"/v1/runs/{run_id}/index").headers["etag"] == run_tag


def test_head_answers_like_get_without_a_body(client):
    run_id = client.post("/v1/runs", json={"templateId": "it-system"}).json()["metadata"]["runId"]
    plain = {"Accept-Encoding": "identity"}
    got = client.get(f"/v1/runs/{run_id}/index", headers=plain)
    head = client.head(f"/v1/runs/{run_id}/index", headers=plain)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    assert head.headers["etag"] == got.headers["etag"]
    assert client.head("/v1/runs/nope").status_code == 404


def test_large_bodies_are_gzipped_on_request(client):
    run_id = client.post("/v1/runs", json={"templateId": "it-system"}).json()["metadata"]["runId"]
    import gzip

    raw = client.get(f"/v1/runs/{run_id}/state_window", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    # read the compressed bytes as they come off the wire
    with client.stream("GET", f"/v1/runs/{run_id}/state_window",
                       headers={"Accept-Encoding": "gzip"}) as streamed:
        assert streamed.headers["content-encoding"] == "gzip"
        wire = b"".join(streamed.iter_raw())
    assert len(wire) < len(raw.content) / 2
    assert json.loads(gzip.decompress(wire)) == raw.json()


def test_cors_is_off_by_default_and_follows_the_configured_origins(tmp_path):
    plain = Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path / "a"), "FLOWTIME_FSYNC": "0"})
    with TestClient(create_app(build_container(plain))) as client:
        response = client.get("/v1/runs", headers={"Origin": "https://dash.example"})
        assert "access-control-allow-origin" not in response.headers
    open_to = Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path / "b"), "FLOWTIME_FSYNC": "0",
                                 "FLOWTIME_CORS_ORIGINS": "https://dash.example"})
    with TestClient(create_app(build_container(open_to))) as client:
        allowed = client.get("/v1/runs", headers={"Origin": "https://dash.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
        assert "ETag" in allowed.headers["access-control-expose-headers"]
        preflight = client.options("/v1/runs", headers={
            "Origin": "https://dash.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        assert preflight.status_code == 204
        other = client.get("/v1/runs", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_if_none_match_star_matches_any_current_body(client):
    assert client.get("/v1/templates", headers={"If-None-Match": "*"}).status_code == 304


def test_compressed_bodies_are_kept_by_etag_and_bounded(monkeypatch):
    import gzip

    from flowtime.adapters.http import caching

    monkeypatch.setattr(caching, "_gzipped", caching.OrderedDict())
    monkeypatch.setattr(caching, "_gzipped_size", 0)
    monkeypatch.setattr(caching, "GZIP_CACHE_BYTES", 256 << 10)
    monkeypatch.setattr(caching, "GZIP_CACHE_MIN_BODY", 1024)
    body = b'{"values": [' + b",".join(str(i).encode() for i in range(5000)) + b"]}"
    first = caching._compressed(body, b'"tag-a"')
    assert caching._compressed(body, b'"tag-a"') is first  # served from the cache
    assert gzip.decompress(first) == body
    other = body.replace(b"4999", b"5000")
    assert gzip.decompress(caching._compressed(other, b'"tag-b"')) == other
    for k in range(200):  # many distinct bodies: the cache stays within its bound
        caching._compressed(body + str(k).encode() * 50, f'"t{k}"'.encode())
    assert caching._gzipped_size <= 256 << 10
    # entries are counted with their keys and overhead against the bound
    assert sum(len(v) + len(k) + caching.ENTRY_OVERHEAD
               for k, v in caching._gzipped.items()) == caching._gzipped_size
    assert gzip.decompress(caching._compressed(body, None)) == body  # no ETag: no caching
    small = b'{"runs": []}' * 10  # under GZIP_CACHE_MIN_BODY: compressed, never kept
    count = len(caching._gzipped)
    assert gzip.decompress(caching._compressed(small, b'"tiny"')) == small
    assert len(caching._gzipped) == count
