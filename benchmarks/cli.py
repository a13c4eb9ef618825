"""Case 6: `flowtime --help` cold start as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.common import Row, median, repeat


def cold_start(quick: bool = False) -> list[Row]:
    script = Path(sys.executable).with_name("flowtime")
    command = [str(script), "--help"] if script.exists() else [
        sys.executable, "-m", "flowtime.adapters.cli.main", "--help"]
    bare = [sys.executable, "-c", "pass"]
    times = 3 if quick else 15
    ours = repeat(lambda: subprocess.run(command, capture_output=True, check=True), times)
    python = repeat(lambda: subprocess.run(bare, capture_output=True, check=True), times)
    value = median(ours)
    return [Row("flowtime --help cold start", "median ms", value, median(python),
                "< 300 ms", value < 300, note="baseline: bare python startup")]
