"""Case 6: CLI commands timed from outside as subprocesses (issue 21): `--help`,
`templates list` and `run` of a shipped template (simulation, file store, fsync on),
against a bare `python -c pass`."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Row, median, repeat

TARGETS_MS = {"--help": 150, "templates list": 300, "run": 600}


def cold_start(quick: bool = False) -> list[Row]:
    script = Path(sys.executable).with_name("flowtime")
    base = [str(script)] if script.exists() else [sys.executable, "-m",
                                                   "flowtime.adapters.cli.main"]
    times = 3 if quick else 11
    bare = median(repeat(lambda: subprocess.run([sys.executable, "-c", "pass"],
                                                capture_output=True, check=True), times))
    rows = []
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "FLOWTIME_DATA_DIR": data, "FLOWTIME_FSYNC": "1"}
        env.pop("FLOWTIME_STORE", None)
        commands = {"--help": ["--help"], "templates list": ["templates", "list"],
                    "run": ["run", "--template-id", "it-system", "--json"]}
        for name, args in commands.items():
            value = median(repeat(lambda args=args: subprocess.run(
                [*base, *args], capture_output=True, check=True, env=env), times))
            target = TARGETS_MS[name]
            rows.append(Row(f"flowtime {name}", "median ms", value, bare, f"≤ {target} ms",
                            value <= target, note="baseline: bare python startup"))
    return rows
