"""Case 6: CLI commands timed from outside as subprocesses (issues 21 and 36): `--help`,
`templates list`, `run` of a shipped template and of a tiny model file (simulation, file
store, fsync on), against a bare `python -c pass`; and the time each command spends
importing (`python -X importtime`, the top-level imports summed; the tracing itself adds
some)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Row, median, repeat

TARGETS_MS = {"--help": 80, "templates list": 150, "run it-system": 300, "run tiny model": 250}
TINY = """\
schemaVersion: 1
metadata: {id: tiny, title: Tiny, version: 1.0.0}
window: {start: "2025-01-01T00:00:00Z", timezone: UTC}
grid: {bins: 12, binSize: 5, binUnit: minutes}
nodes:
  - {id: demand, kind: const, values: [10, 12, 9, 10, 12, 9, 10, 12, 9, 10, 12, 9]}
  - {id: served, kind: expr, expr: "MIN(demand, 11)"}
"""
PROBE = ("import sys\nfrom flowtime.adapters.cli.main import cli\ntry:\n    cli(sys.argv[1:])\n"
         "except SystemExit:\n    pass\n")


def import_ms(args: list[str], env: dict[str, str]) -> float:
    """Milliseconds of imports a command does (-X importtime, top-level entries summed)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", PROBE, *args],
                          capture_output=True, text=True, env=env, check=True)
    total = 0
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit() \
                and not parts[2].startswith("  "):
            total += int(parts[1])
    return total / 1000


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
        tiny = Path(data) / "tiny.yaml"
        tiny.write_text(TINY)
        commands = {"--help": ["--help"], "templates list": ["templates", "list"],
                    "run it-system": ["run", "--template-id", "it-system", "--json"],
                    "run tiny model": ["run", "--file", str(tiny), "--json"]}
        for name, args in commands.items():
            value = median(repeat(lambda args=args: subprocess.run(
                [*base, *args], capture_output=True, check=True, env=env), times))
            target = TARGETS_MS[name]
            rows.append(Row(f"flowtime {name}", "median ms", value, bare, f"≤ {target} ms",
                            value <= target, note="baseline: bare python startup"))
        for name, args in commands.items():
            rows.append(Row(f"flowtime {name} imports", "ms (-X importtime)",
                            import_ms(args, env), None, "context", True))
    return rows
