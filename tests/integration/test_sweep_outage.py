"""A sweep survives a short store outage (issue 43): a real `flowtime serve` over its own
SeaweedFS, which is stopped for 10 s in the middle of a sweep and started again on the same
ports and data. The points that met the outage are tried again; the sweep succeeds with
every point once, and the record never claims a dead driver is running."""

from __future__ import annotations

import time

import boto3
import httpx
import pytest

from benchmarks.server import running_server

pytestmark = pytest.mark.slow  # its own SeaweedFS, stopped and started

POINTS = 160


def test_a_sweep_outlives_a_ten_second_store_outage(tmp_path):
    from tests.seaweed import start_seaweed

    weed = start_seaweed(tmp_path / "weed")
    try:
        store = (f"s3://flowtime-outage/sweep?endpoint_url={weed.endpoint}&create_bucket=true")
        env = {"FLOWTIME_STORE": store, "FLOWTIME_SWEEP_WORKERS": "1",
               "FLOWTIME_SWEEP_RETRY_SECONDS": "90",
               "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        body = {"templateId": "it-system",
                "grid": {"billingCapacity": list(range(20, 20 + POINTS))}}
        with running_server(env, timeout=60) as base, \
                httpx.Client(base_url=base, timeout=30) as client:
            answer = client.post("/v1/sweeps", json=body)
            assert answer.status_code == 202, answer.text
            location = answer.headers["location"]
            deadline = time.monotonic() + 60
            while True:  # stop the store once the sweep is well under way
                record = client.get(location).json()
                if record["progress"]["done"] >= 10:
                    break
                assert time.monotonic() < deadline, record
                time.sleep(0.1)
            assert record["progress"]["done"] < POINTS, "the sweep finished before the outage"
            weed.stop()
            outage_began = time.monotonic()
            while time.monotonic() - outage_began < 10:
                reply = client.get(location)
                assert reply.status_code == 503, reply.text  # the record lives in the store
                assert "127.0.0.1" not in reply.text and weed.endpoint not in reply.text
                time.sleep(1)
            weed.restart()
            deadline = time.monotonic() + 150
            while True:
                reply = client.get(location)
                if reply.status_code == 200:
                    record = reply.json()
                    assert record["status"] in ("running", "succeeded"), {
                        k: v for k, v in record.items() if k != "runs"}
                    if record["status"] == "succeeded":
                        break
                assert time.monotonic() < deadline, reply.text
                time.sleep(0.5)
        progress = record["progress"]
        assert progress["failed"] == 0 and progress.get("retrying", 0) == 0
        assert progress["created"] + progress["reused"] == POINTS
        run_ids = [r["runId"] for r in record["runs"]]
        assert len(set(run_ids)) == POINTS and all(r["status"] != "failed" for r in record["runs"])
        # no point lost or duplicated: exactly one committed run per point in the bucket
        s3 = boto3.client("s3", endpoint_url=weed.endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        commits = set()
        for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket="flowtime-outage", Prefix="sweep/commits/"):
            commits.update(o["Key"].rsplit("/", 1)[-1].removesuffix(".json")
                           for o in page.get("Contents", []))
        assert set(run_ids) <= commits and len(commits) == POINTS
    finally:
        weed.stop()
