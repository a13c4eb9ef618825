"""Building the container from CLI flags (lazily: only commands that need it pay)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def container_for(store: str | None = None, templates: str | None = None) -> Any:
    import sys

    from flowtime.adapters.observability.logs import configure_logging
    from flowtime.container import Settings, build_container

    settings = Settings.from_env(store_url=store, templates_url=templates, serve_metrics=False)
    configure_logging(json_lines=not sys.stderr.isatty(), level=settings.log_level or "ERROR")
    _notice_new_data_folder(store)
    return build_container(settings)


def _notice_new_data_folder(store: str | None) -> None:
    """Runs land in ./data unless told otherwise: say so the first time that folder appears
    (on a terminal), so nobody wonders where a run went or what created the folder."""
    import os
    import sys
    from pathlib import Path

    import click

    if store or os.environ.get("FLOWTIME_STORE") or os.environ.get("FLOWTIME_DATA_DIR"):
        return
    folder = Path("data").resolve()
    context = click.get_current_context(silent=True)
    if folder.exists() or context is None or not sys.stderr.isatty():
        return

    def tell() -> None:
        if folder.exists():
            click.echo(f"note: runs are kept in {folder} (created now; set FLOWTIME_DATA_DIR "
                       "or pass --store to keep them elsewhere)", err=True)

    context.call_on_close(tell)


def print_json(value: Any) -> None:
    import click
    import msgspec

    # msgspec writes NaN/infinity as null, like the HTTP API.
    click.echo(msgspec.json.format(msgspec.json.encode(value), indent=2).decode("utf-8"))


def print_table(headers: list[str], rows: list[list[str]], caption: str | None = None) -> None:
    """A rich table on a terminal; tab-separated lines (easy to grep or cut) when piped."""
    import sys

    if not sys.stdout.isatty():
        import click

        click.echo("\t".join(headers))  # a header row, so `cut`/`awk` users know the columns
        for row in rows:
            click.echo("\t".join(row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers, caption=caption)
    table.columns[0].no_wrap = True
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def write_output(data: bytes | Iterable[bytes], fmt: str, out: str | None, name: str,
                 as_json: bool = False) -> None:
    """An export (whole, or in pieces as it is encoded): text formats to stdout unless
    `out` is given; binary ones to a file (`out`, else `<name>.<fmt>`), saying where (with
    `as_json`: `{path, bytes}`). A file appears whole or not at all (written beside it,
    then renamed)."""
    import os
    import sys

    import click

    pieces = [data] if isinstance(data, bytes) else data
    if as_json and out is None and fmt in ("csv", "json"):
        raise click.UsageError("--json describes a written file: give --out (or leave "
                               "--json off to print the table)")
    if out is None and fmt in ("csv", "json"):
        for piece in pieces:
            sys.stdout.buffer.write(piece)
        sys.stdout.flush()
        return
    path = out or f"{name}.{fmt}"
    partial = f"{path}.partial-{os.getpid()}"
    try:
        with open(partial, "wb") as handle:
            for piece in pieces:
                handle.write(piece)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    if as_json:
        print_json({"path": path, "bytes": os.path.getsize(path)})
        return
    click.echo(f"wrote {path}")
