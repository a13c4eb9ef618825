"""flowtime for agents (issue 37): the MCP server, driven by the official SDK's own client
over stdio (`flowtime mcp` as a subprocess) and over streamable HTTP (`flowtime serve --mcp`
as a uvicorn process) — the tool list, and answers equal to the HTTP API's."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from litestar.testing import TestClient

from flowtime.adapters.http.app import create_app
from flowtime.container import Settings, build_container

pytestmark = pytest.mark.slow
FLOWTIME = str(Path(sys.executable).parent / "flowtime")
TOOLS = {"list_templates", "show_template", "validate_model", "run_model", "run_summary",
         "state_at_bin", "window_summary", "compare_runs", "diff_runs", "sla_metrics",
         "sensitivity", "goal_seek", "optimize", "fit_parameters", "forecast"}
BROKEN = "metadata: {id: broken, title: Broken}\ngrid: {bins: 3, binSize: 60}\n" \
         "nodes: [{id: a, kind: expr, expr: 'b + 1'}]\n"


def _text(result) -> dict:
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


async def _session(client, data_dir: Path) -> dict:
    """What one agent session sees: tools, a validation, a run, its summary and state."""
    tools = {t.name for t in (await client.list_tools()).tools}
    invalid = _text(await client.call_tool("validate_model", {"template_yaml": BROKEN}))
    run = _text(await client.call_tool("run_model", {"template_id": "it-system", "seed": 5,
                                                     "deterministic_run_id": True}))
    run_id = run["metadata"]["runId"]
    summary = _text(await client.call_tool("run_summary", {"run_id": run_id}))
    state = _text(await client.call_tool("state_at_bin", {"run_id": run_id, "bin_index": 3}))
    missing = await client.call_tool("run_summary", {"run_id": "run_nope"})
    resource = await client.read_resource("flowtime://templates/it-system")
    return {"tools": tools, "invalid": invalid, "run_id": run_id, "summary": summary,
            "state": state, "missing": missing, "resource": resource}


def _compare_with_http(seen: dict, data_dir: Path) -> None:
    assert seen["tools"] >= TOOLS
    settings = Settings.from_env({"FLOWTIME_DATA_DIR": str(data_dir), "FLOWTIME_FSYNC": "0"})
    with TestClient(create_app(build_container(settings))) as http:
        validated = http.post("/v1/validate", json={"template": BROKEN}).json()
        assert seen["invalid"] == validated and validated["valid"] is False
        assert seen["invalid"]["problems"][0]["loc"]  # located
        run_id = seen["run_id"]
        assert seen["summary"] == http.get(f"/v1/runs/{run_id}").json()
        assert seen["state"] == http.get(f"/v1/runs/{run_id}/state",
                                         params={"binIndex": 3}).json()
    assert seen["missing"].is_error and "not found" in seen["missing"].content[0].text
    assert "id: it-system" in seen["resource"].contents[0].text


def test_over_stdio(tmp_path):
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    env = {**os.environ, "FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0"}
    params = StdioServerParameters(command=FLOWTIME, args=["mcp"], env=env)

    async def main() -> dict:
        async with Client(params) as client:
            return await _session(client, tmp_path)

    _compare_with_http(asyncio.run(main()), tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_over_http_with_an_api_key(tmp_path):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    port = _free_port()
    env = {**os.environ, "FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0",
           "FLOWTIME_API_KEY": "s3cret"}
    server = subprocess.Popen([FLOWTIME, "serve", "--mcp", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        # no key: refused before the MCP transport sees it
        refused = urllib.request.Request(base + "/mcp", data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as no_key:
            urllib.request.urlopen(refused, timeout=5)
        assert no_key.value.code == 401

        async def main() -> dict:
            http = httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret"},
                                      timeout=30)
            async with http, Client(streamable_http_client(base + "/mcp",
                                                           http_client=http)) as client:
                return await _session(client, tmp_path)

        seen = asyncio.run(main())
    finally:
        server.terminate()
        server.wait(timeout=15)
    _compare_with_http(seen, tmp_path)
