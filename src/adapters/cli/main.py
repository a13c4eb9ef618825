"""`flowtime` command line. Each command's module is imported only when that command runs
(`LazyGroup`), and heavy modules load inside the commands that need them, so `flowtime
--help` reads no command module at all (~15 ms of a ~75 ms start)."""

from __future__ import annotations

import importlib
from typing import Any

import click

from flowtime.version import __version__

# name → (module, attribute, the line `flowtime --help` shows). The line is the command's
# own first help sentence (tests/unit/test_cli_start.py checks they agree), kept here so the
# listing needs no import. A group's sub-commands defined elsewhere are added on load.
COMMANDS: dict[str, tuple[str, str, str]] = {
    'analyze': ('analyze', 'analyze',
        'Ask a model questions: sensitivity, goal-seek, optimize, validate.'),
    'catalog': ('catalog', 'catalog',
        "The run catalog: what listing and search read (FLOWTIME_CATALOG; default an "
        "embedded SQLite file beside the store's runs)."),
    'data': ('observed', 'data',
        "Observed metrics in: pull sources onto a template's grid."),
    'drafts': ('drafts', 'drafts',
        'Edit a model as a draft: create, patch, diff, validate, run, publish.'),
    'fit': ('observed', 'fit',
        'Fit PMFs, profiles and parameters to observed data.'),
    "forecast": ("forecast", "forecast",
        "Sample a model under knob priors (and a demand forecast): quantiles per series and "
        "bin, SLA breach probabilities, first-breach bins, overflow probabilities."),
    'mcp': ('mcp', 'mcp',
        "Serve flowtime's tools to an MCP client over standard input and output."),
    'run': ('run', 'run',
        'Create a run from a template and write its bundle to the store (or on a server).'),
    'runs': ('runs', 'runs',
        'Inspect stored runs.'),
    'scenario': ('scenario', 'scenario',
        'Run RUN again with overlays (an outage, a surge…), linked to it as its baseline.'),
    'serve': ('serve', 'serve',
        'Serve the HTTP API (OpenAPI docs at /schema).'),
    'sweep': ('sweep', 'sweep',
        'Run one template over a parameter grid and/or N seeds; reuse finished runs.'),
    'telemetry': ('telemetry', 'telemetry',
        'Telemetry captures.'),
    'templates': ('templates', 'templates',
        'Browse and check templates.'),
    'watch': ('forecast', 'watch',
        'Re-forecast on an interval and alert before an SLA breach.'),
}
# sub-commands of a group that live in another module: group → [(module, attribute)]
EXTRA_SUBCOMMANDS: dict[str, list[tuple[str, str]]] = {
    "runs": [("scenario", "diff"), ("scenario", "metrics")],
}


def load_command(name: str) -> click.Command:
    module, attribute, _ = COMMANDS[name]
    command: click.Command = getattr(
        importlib.import_module(f"flowtime.adapters.cli.{module}"), attribute)
    for extra_module, extra in EXTRA_SUBCOMMANDS.get(name, []):
        sub = getattr(importlib.import_module(f"flowtime.adapters.cli.{extra_module}"), extra)
        if isinstance(command, click.Group) and sub.name not in command.commands:
            command.add_command(sub)
    return command


class LazyGroup(click.Group):
    """A group whose commands are imported on first use; the listing reads `COMMANDS`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, click.Command(name, help=COMMANDS[name][2]).get_short_help_str(limit))
                for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flowtime")
def cli() -> None:
    """Turn flow-model templates into canonical, reproducible run bundles.

    Configuration comes from FLOWTIME_STORE (or FLOWTIME_DATA_DIR), FLOWTIME_TEMPLATES_DIR
    and FLOWTIME_CAPTURE_ROOT; --store and --templates flags override them.
    """


def __getattr__(name: str) -> Any:  # `from flowtime.adapters.cli.main import run` still works
    if name in COMMANDS:
        return load_command(name)
    raise AttributeError(name)


if __name__ == "__main__":
    cli()
