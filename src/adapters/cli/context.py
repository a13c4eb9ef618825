"""Building the container from CLI flags (lazily: only commands that need it pay)."""

from __future__ import annotations

from typing import Any


def container_for(store: str | None = None, templates: str | None = None) -> Any:
    from flowtime.container import Settings, build_container

    settings = Settings.from_env(store_url=store, templates_url=templates)
    return build_container(settings)


def print_json(value: Any) -> None:
    import json

    import click
    from flowtime.adapters.wire import to_builtins

    click.echo(json.dumps(to_builtins(value), indent=2, ensure_ascii=False))
