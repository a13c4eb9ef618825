"""`python -m benchmarks [--quick] [--only NAME …]`: measure the SPEC §10 targets, print a table."""

from __future__ import annotations

import argparse
import platform
import sys

from benchmarks import (
    api,
    big_model,
    catalog,
    cli,
    engine,
    evaluator,
    flow,
    forecast,
    montecarlo,
    observed,
    s3,
    session,
    sweeps,
    viewer,
)
from benchmarks.common import Row

CASES = {
    "engine": engine.run,
    "flow": flow.run,
    "montecarlo": montecarlo.run,
    "create": api.create_run,
    "listing": api.listing,
    "catalog": catalog.run,
    "state": api.state_window,
    "cli": cli.cold_start,
    "memory": big_model.run,
    "sweep": sweeps.run,
    "session": session.run,
    "observed": observed.run,
    "forecast": forecast.run,
    "evaluator": evaluator.run,
    "s3": s3.run,
    "viewer": viewer.run,
}


def render(rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("case", "figure", "value", "baseline", "ratio", "target", "result", "note",
                  title=f"flowtime benchmarks — {platform.python_version()} on "
                        f"{platform.machine()}")
    for row in rows:
        table.add_row(
            row.case, row.figure, f"{row.value:.2f}",
            "" if row.baseline is None else f"{row.baseline:.2f}",
            "" if row.ratio is None else f"{row.ratio:.2f}×", row.target,
            "[green]pass[/]" if row.passed else "[red]FAIL[/]", row.note)
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="run some cases")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for name in args.only or CASES:
        rows.extend(CASES[name](quick=args.quick))
    render(rows)
    if args.quick:
        print("quick mode: tiny sizes, targets shown but not judged")
        return 0
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
