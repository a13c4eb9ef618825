"""`flowtime` command line. Heavy modules load inside the commands that need them, so
`flowtime --help` starts instantly."""

from __future__ import annotations

import click

from flowtime.adapters.cli.analyze import analyze
from flowtime.adapters.cli.catalog import catalog
from flowtime.adapters.cli.drafts import drafts
from flowtime.adapters.cli.forecast import forecast, watch
from flowtime.adapters.cli.mcp import mcp
from flowtime.adapters.cli.observed import data, fit
from flowtime.adapters.cli.run import run
from flowtime.adapters.cli.runs import runs
from flowtime.adapters.cli.scenario import diff, metrics, scenario
from flowtime.adapters.cli.serve import serve
from flowtime.adapters.cli.sweep import sweep
from flowtime.adapters.cli.telemetry import telemetry
from flowtime.adapters.cli.templates import templates
from flowtime.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flowtime")
def cli() -> None:
    """Turn flow-model templates into canonical, reproducible run bundles.

    Configuration comes from FLOWTIME_STORE (or FLOWTIME_DATA_DIR), FLOWTIME_TEMPLATES_DIR
    and FLOWTIME_CAPTURE_ROOT; --store and --templates flags override them.
    """


cli.add_command(run)
cli.add_command(templates)
cli.add_command(runs)
cli.add_command(serve)
cli.add_command(telemetry)
cli.add_command(sweep)
cli.add_command(analyze)
cli.add_command(catalog)
cli.add_command(scenario)
cli.add_command(data)
cli.add_command(fit)
cli.add_command(forecast)
cli.add_command(watch)
cli.add_command(mcp)
cli.add_command(drafts)
runs.add_command(diff)
runs.add_command(metrics)


if __name__ == "__main__":
    cli()
