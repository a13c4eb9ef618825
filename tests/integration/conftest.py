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
