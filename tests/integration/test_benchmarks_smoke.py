"""Every benchmark case runs at a tiny size, so the harness cannot rot."""

from __future__ import annotations

import pytest

from benchmarks.__main__ import CASES, main


@pytest.mark.slow
def test_every_benchmark_case_runs_at_a_tiny_size(capsys):
    assert main(["--quick"]) == 0
    output = capsys.readouterr().out
    for fragment in ("engine", "recurrence", "POST /v1/runs", "GET /v1/runs", "/state_window",
                     "flowtime --help", "sweep 8 runs", "buffered nodes", "session",
                     "numba", "second", "catalog sqlite", "catalog postgresql",
                     "cold replica", "monte carlo", "resample", "calibrate it-system",
                     "forecast it-system", "one-off evaluation", "s3 describe a run",
                     "viewer first paint", "run tiny model", "peak RSS MB"):
        assert fragment in output
    assert set(CASES) == {"engine", "flow", "montecarlo", "create", "listing", "catalog",
                          "state", "cli", "sweep", "session", "observed", "forecast",
                          "evaluator", "s3", "viewer", "memory"}
