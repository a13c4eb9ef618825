"""`flowtime drafts …`: a model edited before it becomes a template — the same service and
answers as `/v1/drafts` (`--json` prints those bodies)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from flowtime.adapters.cli.errors import report_errors


def _service(store: str | None, templates: str | None) -> Any:
    from flowtime.adapters.cli.context import container_for

    return container_for(store, templates)


def _options(func: Any) -> Any:
    for option in reversed([
            click.option("--store", help="Artifact store URL (where drafts are kept)."),
            click.option("--templates", "templates_url", help="Template folder."),
            click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")]):
        func = option(func)
    return func


def _show(value: Any, as_json: bool, text: str) -> None:
    from flowtime.adapters.cli.context import print_json

    if as_json:
        print_json(value)
    else:
        click.echo(text)


@click.group()
def drafts() -> None:
    """Edit a model as a draft: create, patch, diff, validate, run, publish."""


@drafts.command("create")
@click.option("--template-id", help="Start from a catalogue template.")
@click.option("--file", "file_path", type=click.Path(exists=True, dir_okay=False),
              help="Start from a YAML file.")
@_options
@report_errors
def create_command(template_id: str | None, file_path: str | None, store: str | None,
                   templates_url: str | None, as_json: bool) -> None:
    """Start a draft."""
    from flowtime.adapters import drafts_wire as dw

    text = Path(file_path).read_text(encoding="utf-8") if file_path else None
    draft = dw.draft_out(_service(store, templates_url).drafts().create(template_id, text))
    _show(draft, as_json, f"{draft.id} (from {draft.template_id}, revision {draft.revision})")


@drafts.command("list")
@_options
@report_errors
def list_command(store: str | None, templates_url: str | None, as_json: bool) -> None:
    """Drafts, newest first."""
    from flowtime.adapters import drafts_wire as dw
    from flowtime.adapters.cli.context import print_json, print_table

    items = _service(store, templates_url).drafts().list()
    if as_json:
        print_json([dw.draft_summary(d) for d in items])
        return
    print_table(["draft", "template", "revision", "updated", "published"],
                [[d.id, d.template_id, str(d.revision), d.updated_utc,
                  d.published.template_id if d.published else ""] for d in items])


@drafts.command("show")
@click.argument("draft_id")
@_options
@report_errors
def show_command(draft_id: str, store: str | None, templates_url: str | None,
                 as_json: bool) -> None:
    """A draft's YAML (or the whole record with --json)."""
    from flowtime.adapters import drafts_wire as dw

    draft = dw.draft_out(_service(store, templates_url).drafts().get(draft_id))
    _show(draft, as_json, draft.text.rstrip("\n"))


@drafts.command("patch")
@click.argument("draft_id")
@click.option("--merge", "merge", metavar="JSON|@FILE", help="A JSON Merge Patch on the tree.")
@click.option("--replace", nargs=2, metavar="OLD NEW", help="Replace text that occurs once.")
@click.option("--text-file", type=click.Path(dir_okay=False), help="The whole new YAML (- for "
              "standard input).")
@click.option("--revision", type=int, help="Refuse if the draft is at another revision.")
@_options
@report_errors
def patch_command(draft_id: str, merge: str | None, replace: tuple[str, str] | None,
                  text_file: str | None, revision: int | None, store: str | None,
                  templates_url: str | None, as_json: bool) -> None:
    """Edit a draft; an edit that does not parse as a template changes nothing."""
    import json

    from flowtime.adapters import drafts_wire as dw
    from flowtime.domain.errors import Problem, invalid

    patch = None
    if merge is not None:
        raw = Path(merge[1:]).read_text(encoding="utf-8") if merge.startswith("@") else merge
        try:
            patch = json.loads(raw)
        except ValueError:
            raise invalid([Problem("--merge", "is not JSON")]) from None
    text = None
    if text_file is not None:
        text = sys.stdin.read() if text_file == "-" else Path(text_file).read_text(encoding="utf-8")
    draft = dw.draft_out(_service(store, templates_url).drafts().patch(
        draft_id, patch, tuple(replace) if replace else None, text, revision))
    _show(draft, as_json, f"{draft.id}: revision {draft.revision}")


@drafts.command("diff")
@click.argument("draft_id")
@_options
@report_errors
def diff_command(draft_id: str, store: str | None, templates_url: str | None,
                 as_json: bool) -> None:
    """The draft against its origin (a unified diff; --json adds the changed fields)."""
    from flowtime.adapters import drafts_wire as dw

    diff = dw.diff_out(_service(store, templates_url).drafts().diff(draft_id))
    _show(diff, as_json, diff.unified.rstrip("\n") or "(no changes)")


@drafts.command("publish")
@click.argument("draft_id")
@click.option("--as", "template_id", help="The new template's id (default: its metadata.id).")
@_options
@report_errors
def publish_command(draft_id: str, template_id: str | None, store: str | None,
                    templates_url: str | None, as_json: bool) -> None:
    """Publish a draft as a template."""
    from flowtime.adapters import drafts_wire as dw

    container = _service(store, templates_url)
    draft = dw.draft_out(container.drafts().publish(draft_id, container.template_writer(),
                                                     template_id))
    _show(draft, as_json, f"published as {(draft.published or {}).get('templateId')}")


@drafts.command("delete")
@click.argument("draft_id")
@_options
@report_errors
def delete_command(draft_id: str, store: str | None, templates_url: str | None,
                   as_json: bool) -> None:
    """Delete a draft."""
    _service(store, templates_url).drafts().delete(draft_id)
    _show({"deleted": draft_id}, as_json, f"deleted {draft_id}")


@drafts.command("validate")
@click.argument("draft_id")
@click.option("--tier", type=click.Choice(["schema", "compile", "analyse"]), default="compile",
              show_default=True)
@_options
@report_errors
def validate_command(draft_id: str, tier: str, store: str | None, templates_url: str | None,
                     as_json: bool) -> None:
    """Validate a draft; problems with their locations."""
    from flowtime.adapters import analysis_wire as aw

    container = _service(store, templates_url)
    text = container.drafts().get(draft_id).text
    out = aw.validate(container.analysis(), aw.ValidateBody(template=text, tier=tier))
    lines = [f"{draft_id}: {'valid' if out.valid else 'invalid'} ({out.tier})"]
    lines += [f"  {p.loc}: {p.msg}" for p in out.problems]
    lines += [f"  warning: {w.message}" for w in out.warnings]
    _show(out, as_json, "\n".join(lines))
    if not out.valid:
        sys.exit(2)


@drafts.command("run")
@click.argument("draft_id")
@click.option("--seed", type=click.IntRange(0, 2**53))
@_options
@report_errors
def run_command(draft_id: str, seed: int | None, store: str | None, templates_url: str | None,
                as_json: bool) -> None:
    """Run a draft as it is now."""
    from flowtime.adapters.wire import CreateRunBody, RunOptions, result_response

    container = _service(store, templates_url)
    text = container.drafts().get(draft_id).text
    result = container.orchestration().create_run(
        CreateRunBody(template=text, options=RunOptions(seed=seed)).to_domain())
    out = result_response(result)
    _show(out, as_json, f"created run {out.metadata.run_id}")
