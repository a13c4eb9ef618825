"""A run whose files were damaged on disk answers /state with a clear 422, never a 500."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from flowtime.adapters.http.app import create_app
from flowtime.container import Settings, build_container


@pytest.fixture
def client_and_data(tmp_path):
    settings = Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0"})
    with TestClient(create_app(build_container(settings))) as client:
        yield client, tmp_path


def _run(client) -> str:
    return client.post("/v1/runs", json={"templateId": "it-system"}).json()["metadata"]["runId"]


@pytest.mark.parametrize("victim", ["model/model.yaml", "series/billed@BILLED@DEFAULT.csv",
                                    "series/index.json", "model/metadata.json"])
def test_state_on_a_damaged_run_is_422_naming_the_file(client_and_data, victim):
    client, data = client_and_data
    run_id = _run(client)
    path = data / "runs" / run_id / victim
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3] + b"\xff")
    for url, params in ((f"/v1/runs/{run_id}/state", {"binIndex": 0}),
                        (f"/v1/runs/{run_id}/state_window", {"startBin": 0, "endBin": 3})):
        response = client.get(url, params=params)
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["detail"] == f"run '{run_id}' is damaged"
        assert body["errors"][0]["loc"] == victim
        assert "flowtime runs verify" in body["errors"][0]["msg"]
