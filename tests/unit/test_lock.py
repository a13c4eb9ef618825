"""The lock files cover what the venvs hold: every installed distribution is pinned, at the
version installed (the venv is built from the lock), and the runtime lock agrees with the
test lock. `make test-latest` sets FLOWTIME_TEST_LATEST: there versions drift on purpose."""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

import pytest

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"
# put there by `python -m venv` itself, not by the project
VENV_SEEDS = {"pip", "setuptools"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, set[str]]:
    """name → pinned versions (a universal lock may pin one name per Python version)."""
    pins: dict[str, set[str]] = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^ ;\\]+)", line)
        if match:
            pins.setdefault(_normal(match.group(1)), set()).add(match.group(2))
    return pins


def _installed() -> dict[str, str]:
    return {_normal(d.metadata["Name"]): d.version for d in metadata.distributions()
            if d.metadata["Name"]}


def test_every_line_of_the_locks_carries_hashes():
    for name in ("runtime.txt", "test.txt", "uv.txt"):
        text = (REQUIREMENTS / name).read_text()
        pinned = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9].*==", line)]
        assert pinned, name
        for line in pinned:
            assert line.rstrip().endswith("\\"), f"{name}: {line} has no hashes"


def test_the_runtime_lock_agrees_with_the_test_lock():
    runtime, test = _pins(REQUIREMENTS / "runtime.txt"), _pins(REQUIREMENTS / "test.txt")
    assert {"numpy", "msgspec", "litestar", "numba"} <= set(runtime)
    for name, versions in runtime.items():
        assert name in test, f"{name} is in the runtime lock only"
        assert versions <= test[name], f"{name}: runtime {versions} vs test {test[name]}"


def test_every_installed_distribution_is_in_the_lock():
    locked = _pins(REQUIREMENTS / "test.txt") | _pins(REQUIREMENTS / "uv.txt")
    installed = _installed()
    missing = sorted(set(installed) - set(locked) - VENV_SEEDS - {"flowtime"})
    assert not missing, f"installed but not locked: {missing}"


@pytest.mark.skipif(bool(os.environ.get("FLOWTIME_TEST_LATEST")),
                    reason="make test-latest installs the newest versions on purpose")
def test_installed_versions_are_the_locked_ones():
    locked = _pins(REQUIREMENTS / "test.txt") | _pins(REQUIREMENTS / "uv.txt")
    drift = {name: (version, sorted(locked[name])) for name, version in _installed().items()
             if name in locked and version not in locked[name]}
    assert not drift, f"installed versions differ from the lock: {drift}"
