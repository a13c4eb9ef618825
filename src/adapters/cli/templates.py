"""`flowtime templates list|show|validate`."""

from __future__ import annotations

from typing import Any

import click

from flowtime.adapters.cli.errors import EXIT_USAGE, report_errors
from flowtime.adapters.cli.remote import server_option, server_url

TEMPLATES_HELP = "Template folder (default: FLOWTIME_TEMPLATES_DIR or the shipped templates)."


@click.group()
def templates() -> None:
    """Browse and check templates."""


@templates.command("list")
@click.option("--templates", "templates_url", help=TEMPLATES_HELP)
@server_option
@click.option("--json", "as_json", is_flag=True)
@report_errors
def list_templates(templates_url: str | None, server: str | None, as_json: bool) -> None:
    """List available templates (this machine's, or a server's)."""
    from flowtime.adapters.cli.context import container_for, print_json
    from flowtime.adapters.wire import template_summary

    remote = server_url(server)
    if remote:
        from flowtime.adapters.cli.remote import call

        found = call(remote, "GET", "/v1/templates")[1]
    else:
        import msgspec

        found = [msgspec.to_builtins(template_summary(t)) for t in
                 container_for(templates=templates_url).templates().list_templates()]
    if as_json:
        print_json(found)
        return
    from flowtime.adapters.cli.context import print_table

    print_table(["id", "version", "title", "tags", "parameters", "narrative"],
                [[t["id"], t["version"], t["title"], ", ".join(t["tags"]),
                  ", ".join(t["parameters"]), _first_sentence(t.get("narrative") or "")]
                 for t in found])


def _first_sentence(text: str, limit: int = 100) -> str:
    """A narrative's first sentence, cut at `limit` characters (`templates show` has it all)."""
    flat = " ".join(text.split())
    sentence = flat.split(". ", 1)[0].rstrip(".")
    return sentence if len(sentence) <= limit else sentence[:limit - 1].rstrip() + "…"


@templates.command("show")
@click.argument("template_id")
@click.option("--templates", "templates_url", help=TEMPLATES_HELP)
@click.option("--json", "as_json", is_flag=True)
@report_errors
def show_template(template_id: str, templates_url: str | None, as_json: bool) -> None:
    """Show a template's parameters (types, defaults, bounds) and its topology."""
    from flowtime.adapters.cli.context import container_for, print_json
    from flowtime.adapters.wire import template_detail

    template = container_for(templates=templates_url).templates().get(template_id)
    if as_json:
        print_json(template_detail(template))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    m = template.metadata
    console.print(f"[bold]{m.id}[/] {m.version} — {m.title}")
    if m.description:
        console.print(m.description.strip())
    if m.narrative:
        console.print(m.narrative.strip(), style="italic")
    if m.tags:
        console.print("tags: " + ", ".join(m.tags))
    if template.classes:
        console.print("classes: " + ", ".join(
            f"{c} ({name})" if name else c for c, name in template.classes))
    table = Table("name", "type", "default", "min", "max", "title")
    for p in template.parameters:
        table.add_row(p.name, p.type, "" if p.default is None else str(p.default),
                      "" if p.lower is None else f"{p.lower:g}",
                      "" if p.upper is None else f"{p.upper:g}", p.title)
    console.print(table)
    _print_topology(console, template)


def _print_topology(console: Any, template: Any) -> None:
    """Each topology node's kind, its series by role and its flow options (at defaults)."""
    from rich.table import Table

    from flowtime.domain.errors import FlowTimeError
    from flowtime.domain.modeling.model import PmfNode
    from flowtime.domain.modeling.templates import build_model

    try:
        model = build_model(template, {})
    except FlowTimeError:
        return  # parameters without defaults: nothing to show without values
    table = Table("topology node", "kind", "series", "options", title="topology (at defaults)")
    nodes = {t.id: t for t in model.definition.topology.nodes}
    for component in model.plan.components:
        tnode = nodes[component.id]
        options = []
        if tnode.wip_limit is not None or tnode.wip_limit_series:
            options.append(f"wip limit {tnode.wip_limit_series or f'{tnode.wip_limit:g}'}"
                           f" → {tnode.wip_overflow or 'loss'}")
        if tnode.dispatch_schedule is not None:
            options.append(f"dispatch every {tnode.dispatch_schedule.period_bins} bins")
        if tnode.constraints:
            options.append("shares " + ", ".join(tnode.constraints))
        if tnode.semantics.parallelism is not None:
            options.append(f"parallelism {tnode.semantics.parallelism}")
        if tnode.semantics.retry_echo or tnode.semantics.retry_kernel:
            options.append("retries")
        series = ", ".join(f"{k}={v}" for k, v in component.metrics.items())
        table.add_row(component.id, component.kind, series, "; ".join(options))
    if model.plan.components:
        console.print(table)
    profiles = [f"{n.id}: {n.profile.name or 'inline'}"
                + (" (clock)" if n.profile.align == "clock" else "")
                for n in model.definition.nodes
                if isinstance(n, PmfNode) and n.profile is not None]
    if profiles:
        console.print("profiles: " + "; ".join(profiles))


@templates.command("validate")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--file", "more_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A template or model file (same as giving it as an argument).")
@click.option("--param", "params", multiple=True, metavar="K=V",
              help="Also build the model with these parameter values.")
@click.option("--json", "as_json", is_flag=True,
              help="One result per file: {file, valid, templateId, problems}.")
def validate_templates(files: tuple[str, ...], more_files: tuple[str, ...],
                       params: tuple[str, ...], as_json: bool) -> None:
    """Validate template files: structure, parameters, and the model built from defaults."""
    from pathlib import Path

    from flowtime.domain.errors import FlowTimeError
    from flowtime.domain.modeling.parameters import parse_cli_value
    from flowtime.domain.modeling.templates import build_model, parse_template, template_id_from

    files = (*files, *more_files)
    if not files:
        raise click.UsageError("give at least one template file")
    failed = 0
    results = []
    for name in files:
        try:
            template = parse_template(Path(name).read_bytes(), loc=name,
                                      default_id=template_id_from(name))
            definitions = {p.name: p for p in template.parameters}
            values = {}
            for pair in params:
                key, _, text = pair.partition("=")
                values[key] = parse_cli_value(definitions.get(key), text)
            build_model(template, values)
        except FlowTimeError as exc:
            failed += 1
            results.append({"file": name, "valid": False, "templateId": None,
                            "problems": [{"loc": p.loc, "msg": p.msg} for p in exc.problems]})
            if not as_json:
                click.echo(f"{name}: invalid", err=True)
                for problem in exc.problems or []:
                    click.echo(f"  {problem}", err=True)
            continue
        results.append({"file": name, "valid": True, "templateId": template.id,
                        "problems": []})
        if not as_json:
            click.echo(f"{name}: ok ({template.id} {template.metadata.version})")
    if as_json:
        from flowtime.adapters.cli.context import print_json

        print_json(results)
    if failed:
        raise SystemExit(EXIT_USAGE)
