"""Fixtures shared by every test layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flowtime.adapters.stores.memory import MemoryArtifactStore
from flowtime.adapters.templates.directory import DirectoryTemplateSource, shipped_templates_dir
from flowtime.container import Settings, build_container
from flowtime.domain.modeling.templates import Template, parse_template
from flowtime.domain.services.orchestration import RunOrchestrationService

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(shipped_templates_dir().glob("*.yaml"))


class StepClock:
    """A clock that starts at a fixed instant and advances one second per call."""

    def __init__(self, start: datetime | None = None):
        self.current = start or datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def now(self) -> datetime:
        self.current += timedelta(seconds=1)
        return self.current

    def monotonic(self) -> float:
        return (self.current - datetime(2026, 1, 1, tzinfo=UTC)).total_seconds()


class CountingRandom:
    """Deterministic 'randomness': seeds and run id tokens that count up."""

    def __init__(self) -> None:
        self.count = 0

    def seed(self) -> int:
        self.count += 1
        return 1000 + self.count

    def token(self) -> str:
        self.count += 1
        return f"{self.count:08x}"


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def shipped_source() -> DirectoryTemplateSource:
    return DirectoryTemplateSource(shipped_templates_dir())


@pytest.fixture
def memory_service(shipped_source: DirectoryTemplateSource, clock: StepClock):
    return RunOrchestrationService(shipped_source, MemoryArtifactStore(), clock,
                                   random=CountingRandom())


def template_from(text: str) -> Template:
    return parse_template(text)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """One SeaweedFS server (real S3 API) for the whole session, stopped by pid at the end."""
    import os

    from tests.seaweed import start_seaweed

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    yield server
    server.stop()


@pytest.fixture
def s3_url(seaweed, request) -> str:
    """A store URL with a fresh prefix in a shared bucket, per test."""
    import uuid

    return (f"s3://flowtime-test/{uuid.uuid4().hex}?endpoint_url={seaweed.endpoint}"
            "&create_bucket=true")


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server for the whole session (a database per test), stopped by pid."""
    import shutil
    import tempfile
    from pathlib import Path

    from tests.postgres import start_postgres

    # Not under pytest's folder: that one is private to us, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="flowtime-pg-"))
    server = start_postgres(folder)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request, tmp_path) -> str:
    """The same catalog contract on the embedded SQLite file and on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    return request.getfixturevalue("postgres").new_database()


# -- real adapters on a temporary data directory (one `client` for every tier; a module
# that needs other settings defines its own) ------------------------------------------
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
def client_env() -> dict[str, str]:
    """FLOWTIME_* settings `client` adds to its defaults: a module that needs others
    overrides this fixture (not `client`)."""
    return {}


@pytest.fixture
def client(tmp_path, client_env):
    """A real Litestar app over a fresh file store (fsync off) in `tmp_path`, with the
    module's `client_env` on top."""
    from litestar.testing import TestClient

    from flowtime.adapters.http.app import create_app

    settings = Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0",
                                  **client_env})
    with TestClient(create_app(build_container(settings))) as test_client:
        yield test_client
