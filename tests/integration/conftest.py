"""Integration fixtures: real adapters on a temporary data directory."""

from __future__ import annotations

import pytest

from flowtime.container import Settings, build_container


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(data_dir) -> Settings:
    return Settings.from_env({"FLOWTIME_DATA_DIR": str(data_dir)})


@pytest.fixture
def container(settings):
    return build_container(settings)


@pytest.fixture
def client(tmp_path):
    """A real Litestar app over a fresh file store (fsync off) in `tmp_path`; test modules
    that need other settings define their own `client`."""
    from litestar.testing import TestClient

    from flowtime.adapters.http.app import create_app

    settings = Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0"})
    with TestClient(create_app(build_container(settings))) as test_client:
        yield test_client
