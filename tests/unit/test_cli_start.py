"""What each CLI command loads at start (issue 36): `--help` no command module, the run
path none of the heavy libraries it does not use. The milliseconds live in benchmarks/
(`--only cli`); these tests keep the imports that cost them from coming back."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flowtime.adapters.cli.main import COMMANDS, load_command

PROBE = """
import json, sys
from flowtime.adapters.cli.main import cli
try:
    cli(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""
NEVER_ON_THE_RUN_PATH = ("scipy", "pandas", "sqlalchemy", "opentelemetry", "litestar", "numba",
                         "statsmodels", "rich", "importlib.metadata", "jsonschema")


def _loaded(tmp_path, *args: str) -> set[str]:
    env = {"PATH": "/usr/bin:/bin", "FLOWTIME_DATA_DIR": str(tmp_path), "FLOWTIME_FSYNC": "0",
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                          text=True, env=env, timeout=120)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listing_line_is_the_command_s_own_help(name):
    assert COMMANDS[name][2] == load_command(name).get_short_help_str(200)


def test_help_reads_no_command_module(tmp_path):
    loaded = _loaded(tmp_path, "--help")
    commands = {f"flowtime.adapters.cli.{module}" for module, _, _ in COMMANDS.values()}
    assert sorted(commands & loaded) == []
    assert "numpy" not in loaded and "yaml" not in loaded


def test_templates_list_reads_no_numpy_and_no_distribution_metadata(tmp_path):
    loaded = _loaded(tmp_path, "templates", "list", "--json")
    assert sorted({"numpy", "importlib.metadata", *NEVER_ON_THE_RUN_PATH} & loaded) == []


def test_a_run_loads_only_what_it_uses(tmp_path):
    loaded = _loaded(tmp_path, "run", "--template-id", "it-system")
    assert "numpy" in loaded  # the probe ran the command
    assert sorted(set(NEVER_ON_THE_RUN_PATH) & loaded) == []
