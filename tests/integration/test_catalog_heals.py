"""Runs created while the catalog is down are listed once it is back, without anyone
running `flowtime catalog sync` (issue 43): a real server on a real PostgreSQL that is
stopped and started under it."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from benchmarks.server import running_server

pytestmark = pytest.mark.slow  # its own PostgreSQL, stopped and started


def test_runs_made_while_the_catalog_was_down_are_listed_when_it_is_back(tmp_path):
    from tests.postgres import start_postgres

    folder = Path(tempfile.mkdtemp(prefix="flowtime-pg-heal-"))
    server = start_postgres(folder)
    try:
        env = {"FLOWTIME_DATA_DIR": str(tmp_path / "data"), "FLOWTIME_FSYNC": "0",
               "FLOWTIME_CATALOG": server.new_database(), "FLOWTIME_CATALOG_HEAL_SECONDS": "0.5"}
        with running_server(env) as base, httpx.Client(base_url=base, timeout=30) as client:
            before = client.post("/v1/runs", json={"templateId": "it-system"})
            assert before.status_code == 201
            server.stop()
            stopped = time.monotonic()
            made = []
            for seed in range(20):
                answer = client.post("/v1/runs", json={"templateId": "it-system",
                                                       "options": {"seed": seed}})
                assert answer.status_code == 201, answer.text  # creating never needs it
                made.append(answer.json()["metadata"]["runId"])
            down = client.get("/v1/runs")
            assert down.status_code == 503  # listing does
            # neither the 503 nor /readyz names the database's host, port, user or name
            where = urlsplit(env["FLOWTIME_CATALOG"])
            secrets = [f"{where.hostname}:{where.port}", f"port {where.port}",
                       f"user {where.username}", f'"{where.username}"', where.path.strip("/")]
            ready = client.get("/readyz")  # still in rotation, and says why not quite
            assert ready.status_code == 200 and ready.json()["status"] == "degraded"
            assert "20 runs" in ready.json()["catalog"]
            for body in (down.text, ready.text):
                assert not [s for s in secrets if s and s in body], body
            time.sleep(max(0.0, 20 - (time.monotonic() - stopped)))  # a 20-second outage
            server.start()
            back = time.monotonic()
            deadline = back + 30  # all listed within 30 s of its return, no manual sync
            while True:
                listed = client.get("/v1/runs", params={"pageSize": 50})
                if listed.status_code == 200:
                    ids = {i["runId"] for i in listed.json()["items"]}
                    if set(made) <= ids:
                        break
                assert time.monotonic() < deadline, "the missed runs were never listed"
                time.sleep(0.2)
            assert listed.json()["totalCount"] == 21
            # nothing left waiting: /readyz drops its catalog note once the healer has also
            # cleared its notes (a moment after the rows are written)
            deadline = time.monotonic() + 15
            while (ready := client.get("/readyz")).json().get("status") != "ok":
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.2)
            assert ready.status_code == 200 and "catalog" not in ready.json()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
