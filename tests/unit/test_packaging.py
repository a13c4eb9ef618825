"""Packaging: every folder that ships files is a declared package (setuptools warns about
the rest on every install), and the shipped data resolves through importlib.resources."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _declared() -> tuple[dict[str, str], set[str]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return config["package-dir"], set(config["packages"])


def test_every_folder_with_shipped_files_is_a_declared_package():
    package_dir, packages = _declared()
    missing = []
    for package, folder in package_dir.items():
        root = REPO / folder
        for path in root.rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            parts = path.parent.relative_to(root).parts
            name = ".".join((package, *parts))
            if name not in packages:
                missing.append(name)
    assert sorted(set(missing)) == []


def test_shipped_data_resolves_from_the_installed_package():
    static = resources.files("flowtime.adapters.http.static")
    assert static.joinpath("viewer.js").is_file()
    assert resources.files("flowtime.adapters.http.static.vendor.uplot").joinpath(
        "uPlot.iife.min.js").is_file()
    assert resources.files("flowtime.schemas").joinpath(
        "time-travel-state.schema.json").is_file()


def test_python_in_the_folder_above_a_clone_named_flowtime_imports_the_package(tmp_path):
    """The clone's folder must not shadow the package as an empty namespace package."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "flowtime").symlink_to(root, target_is_directory=True)
    done = subprocess.run([sys.executable, "-c", "import flowtime; print(flowtime.__file__); "
                           "print(callable(flowtime.monte_carlo))"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    location, has_api = done.stdout.split()
    # the installed package (the venv's; in a fresh clone, this clone's src/), never the
    # clone folder itself
    assert Path(location).parts[-2:] == ("src", "__init__.py")
    assert has_api == "True"


def test_the_built_in_plugin_table_equals_the_declared_entry_points():
    """The container finds built-in adapters without reading distribution metadata; the
    table it uses must say exactly what pyproject.toml registers (and installs)."""
    from importlib.metadata import entry_points

    from flowtime.container import BUILT_IN_PLUGINS

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    assert {group: dict(table) for group, table in declared.items()} == BUILT_IN_PLUGINS
    for group, table in BUILT_IN_PLUGINS.items():
        installed = {ep.name: ep.value for ep in entry_points(group=group)}
        assert {k: installed.get(k) for k in table} == table


def test_a_third_party_scheme_is_still_found_through_entry_points(monkeypatch):
    """A scheme that is not built in is looked up among the installed entry points."""
    import importlib.metadata as metadata

    from flowtime import container

    class Fake:
        @classmethod
        def from_url(cls, url, **options):
            return ("fake", url, options)

    class Point:
        name = "fake"

        def load(self):
            return Fake

    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points", lambda group: (
        [Point()] if group == container.STORE_GROUP else real(group=group)))
    assert container.open_store("fake://bucket", durable=False) == (
        "fake", "fake://bucket", {"durable": False})
    assert "fake" in container.installed_schemes(container.STORE_GROUP)
