"""Live what-if sessions over a WebSocket (issue 19): open, set, errors keep the session,
idle timeout, session limit, API key."""

from __future__ import annotations

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from flowtime.adapters.http.app import create_app
from flowtime.container import Settings, build_container


def client_for(tmp_path, **env: str) -> TestClient:
    settings = Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0",
                                  **env})
    return TestClient(create_app(build_container(settings)))


def test_open_set_receive_and_errors_keep_the_session(tmp_path):
    with client_for(tmp_path) as client, client.websocket_connect("/v1/sessions") as ws:
        ws.send_json({"templateId": "assembly-line", "parameters": {"weldEvery": 1}})
        ready = ws.receive_json()
        assert ready["ready"] is True and "weld_queue" in ready["series"]
        batch = next(k for k in ready["knobs"] if k["id"] == "weldBatch")
        assert batch == {"id": "weldBatch", "kind": "parameter", "type": "number", "min": 0,
                         "max": None, "value": 70}
        # one batch of 38 an hour against 40 arriving: the queue grows by 2 an hour
        ws.send_json({"set": {"weldBatch": 38}, "series": ["weld_queue"]})
        reply = ws.receive_json()
        assert reply["series"]["weld_queue"] == [2 * (t + 1) for t in range(12)]
        assert reply["elapsedMs"] >= 0 and isinstance(reply["warnings"], list)
        ws.send_json({"set": {"nope": 1}})
        error = ws.receive_json()
        assert error["problems"][0]["loc"] == "set.nope"
        ws.send_json({"set": {"weldBatch": -1}})
        assert ws.receive_json()["problems"][0]["loc"] == "set.weldBatch"
        ws.send_text("not json")
        assert ws.receive_json()["error"].startswith("not JSON")
        # still open, and the earlier setting (38) is kept when another knob moves
        ws.send_json({"set": {"paintCapacity": 10}, "series": ["weld_queue", "paint_served"]})
        reply = ws.receive_json()
        assert reply["series"]["weld_queue"][0] == 2
        assert reply["series"]["paint_served"] == [10] * 12


def test_a_bad_first_message_can_be_retried(tmp_path):
    with client_for(tmp_path) as client, client.websocket_connect("/v1/sessions") as ws:
        ws.send_json({"templateId": "nope"})
        assert "nope" in ws.receive_json()["error"]
        ws.send_json({"template": "metadata: {id: x}\n"})
        assert {p["loc"] for p in ws.receive_json()["problems"]} >= {"grid", "nodes"}
        ws.send_json({"templateId": "it-system"})
        assert ws.receive_json()["ready"] is True


def test_idle_sessions_are_closed(tmp_path):
    with client_for(tmp_path, FLOWTIME_SESSION_IDLE_SECONDS="0.3") as client, \
            client.websocket_connect("/v1/sessions") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1000


def test_session_limit(tmp_path):
    with client_for(tmp_path, FLOWTIME_MAX_SESSIONS="1") as client, \
            client.websocket_connect("/v1/sessions") as first:
        first.send_json({"templateId": "it-system"})
        assert first.receive_json()["ready"]
        with client.websocket_connect("/v1/sessions") as second, \
                pytest.raises(WebSocketDisconnect) as closed:
            second.receive_json()
        assert closed.value.code == 1013


def test_api_key_by_header_or_first_message(tmp_path):
    with client_for(tmp_path, FLOWTIME_API_KEY="s3cret") as client:
        with client.websocket_connect("/v1/sessions") as ws:
            ws.send_json({"templateId": "it-system"})
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4401
        with client.websocket_connect("/v1/sessions",
                                      headers={"Authorization": "Bearer s3cret"}) as ws:
            ws.send_json({"templateId": "it-system"})
            assert ws.receive_json()["ready"]
        with client.websocket_connect("/v1/sessions") as ws:
            ws.send_json({"templateId": "it-system", "apiKey": "s3cret"})
            assert ws.receive_json()["ready"]


def test_hostile_frames_get_errors_and_the_session_survives(tmp_path):
    with client_for(tmp_path) as client, client.websocket_connect("/v1/sessions") as ws:
        ws.send_json({"templateId": "assembly-line"})
        assert ws.receive_json()["ready"]
        for frame in ("[" * 100_000, '{"set": {"weldBatch": NaN}}', '{"set": [1, 2]}',
                      '{"set": {"weldBatch": 1e400}}', '"just a string"', '{"zz": 1}',
                      '{"set": {"weldBatch": true}}', '{"series": ["nope"]}'):
            ws.send_text(frame)
            reply = ws.receive_json()
            assert "error" in reply, (frame[:40], reply)
        ws.send_json({"set": {"weldBatch": 40}, "series": ["weld_queue"]})
        assert "series" in ws.receive_json()
