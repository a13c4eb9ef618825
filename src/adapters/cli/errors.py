"""Domain error kinds -> exit codes (the one table), and clean error printing."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

EXIT_FAILURE = 1
EXIT_USAGE = 2

EXIT_CODES = {
    "invalid": EXIT_USAGE,
    "not_found": EXIT_USAGE,
    "too_large": EXIT_USAGE,
    "conflict": EXIT_FAILURE,
    "unprocessable": EXIT_FAILURE,
    "unavailable": EXIT_FAILURE,
    "timeout": EXIT_FAILURE,
    "busy": EXIT_FAILURE,
    "unsupported": EXIT_FAILURE,
    "internal": EXIT_FAILURE,
}

F = TypeVar("F", bound=Callable[..., Any])


def _wants_json(kwargs: dict[str, Any]) -> bool:
    return bool(kwargs.get("as_json")) or "--json" in sys.argv[1:]


def report_errors(func: F) -> F:
    """Turn FlowTimeError into one clean line (+ one line per problem) and an exit code;
    with `--json`, into `{"error", "kind", "problems": [{loc, msg}]}` on stderr instead."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from flowtime.domain.errors import FlowTimeError

        try:
            return func(*args, **kwargs)
        except FlowTimeError as exc:
            if _wants_json(kwargs):
                import json

                click.echo(json.dumps({"error": exc.detail, "kind": exc.kind.value,
                                       "problems": [{"loc": p.loc, "msg": p.msg}
                                                    for p in exc.problems]}), err=True)
                sys.exit(EXIT_CODES.get(exc.kind.value, EXIT_FAILURE))
            click.echo(f"error: {exc.detail}", err=True)
            if len(exc.problems) > 1 or (exc.problems and exc.problems[0].msg not in exc.detail):
                for problem in exc.problems:
                    click.echo(f"  {problem}", err=True)
            sys.exit(EXIT_CODES.get(exc.kind.value, EXIT_FAILURE))
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        except OSError as exc:
            click.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
            sys.exit(EXIT_FAILURE)

    return wrapper  # type: ignore[return-value]
