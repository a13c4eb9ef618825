"""The CLI against a live server (`--server` / FLOWTIME_SERVER): the same commands, the same
output, errors as the CLI's own lines and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmarks.server import running_server


def flowtime(*args: str, server: str | None = None, key: str | None = None,
             store: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWTIME_")}
    if server:
        env["FLOWTIME_SERVER"] = server
    if key:
        env["FLOWTIME_API_KEY"] = key
    if store:
        env["FLOWTIME_DATA_DIR"] = store
    return subprocess.run([sys.executable, "-m", "flowtime.adapters.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_the_cli_drives_a_server_like_a_store(tmp_path):
    env = {"FLOWTIME_DATA_DIR": str(tmp_path / "srv"), "FLOWTIME_API_KEY": "k3y"}
    with running_server(env) as base:
        created = flowtime("run", "--template-id", "it-system", "--param", "billingCapacity=55",
                           "--param", "demandProfile=30,40,50,60,50,40,30,30,30,30,30,30",
                           "--seed", "3", "--json", server=base, key="k3y")
        assert created.returncode == 0, created.stderr
        body = json.loads(created.stdout)
        run_id = body["metadata"]["runId"]
        assert body["scenario"]["parameters"]["billingCapacity"] == 55
        assert body["scenario"]["parameters"]["demandProfile"][:3] == [30, 40, 50]
        # the same run made locally has the same numbers: the server typed the values alike
        local = flowtime("run", "--template-id", "it-system", "--param", "billingCapacity=55",
                         "--param", "demandProfile=30,40,50,60,50,40,30,30,30,30,30,30",
                         "--seed", "3", "--json", store=str(tmp_path / "local"))
        here = json.loads(local.stdout)
        assert here["scenario"]["parameters"] == body["scenario"]["parameters"]
        assert here["metadata"]["schema"]["hash"] == body["metadata"]["schema"]["hash"]
        listed = flowtime("runs", "list", "--param", "billingCapacity=55", "--json", server=base)
        assert [i["runId"] for i in json.loads(listed.stdout)["items"]] == [run_id]
        table = flowtime("runs", "list", server=base)
        assert run_id in table.stdout and "billingCapacity=55" in table.stdout
        shown = flowtime("runs", "show", run_id, "--server", base, "--json")
        assert json.loads(shown.stdout)["metadata"]["runId"] == run_id
        templates = flowtime("templates", "list", "--json", server=base)
        assert "it-system" in {t["id"] for t in json.loads(templates.stdout)}
        # errors: the server's problems as the CLI's lines and exit codes
        missing = flowtime("runs", "show", "nope", server=base)
        assert missing.returncode == 2 and "not found" in missing.stderr
        bad = flowtime("run", "--template-id", "it-system", "--param", "billingCapacity=-5",
                       server=base, key="k3y")
        assert bad.returncode == 2 and "billingCapacity" in bad.stderr
        refused = flowtime("run", "--template-id", "it-system", server=base)  # no key
        assert refused.returncode == 2 and "FLOWTIME_API_KEY" in refused.stderr
    down = flowtime("runs", "list", server=base)
    assert down.returncode == 1 and "cannot reach the server" in down.stderr
    assert "Traceback" not in down.stderr
