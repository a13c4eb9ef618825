"""An unreachable S3 store gives 503s with a clean message (issue 20): never a 500, never
the endpoint or object keys in the response, and never a 202 for a sweep that cannot be
recorded."""

from __future__ import annotations

import pytest

DEAD = "s3://flowtime-test/down?endpoint_url=http://127.0.0.1:9"


@pytest.fixture
def client_env():
    return {"FLOWTIME_STORE": DEAD}


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/v1/runs", None),
    ("GET", "/v1/runs/some-run", None),
    ("GET", "/v1/sweeps", None),
    ("GET", "/v1/sweeps/some-sweep", None),
    ("POST", "/v1/runs", {"templateId": "it-system"}),
    ("POST", "/v1/sweeps", {"templateId": "it-system", "grid": {"billingCapacity": [40]}}),
])
def test_store_down_is_503_without_internal_details(client, method, path, body):
    response = client.request(method, path, json=body)
    assert response.status_code == 503, response.text[:300]
    text = response.text
    assert "127.0.0.1:9" not in text and "commits/" not in text and "Traceback" not in text
    assert response.json()["detail"].startswith("the object store is unavailable")
