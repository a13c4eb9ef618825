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
