"""JSON Schema validation against the files shipped in `schemas/`.

Errors become Problems with a dotted location (`nodes[2].values`) and a message that says
what is expected. `x-message` in a schema overrides the message for that keyword.

Two validators: `jsonschema` (pure Python) for what people write — templates — because its
errors carry the keyword and schema that turn into actionable messages; `jsonschema-rs`
(Rust) for what the engine writes — every bundle is checked before publish — because it is
~60× faster there (0.07 ms vs 4.6 ms for a 58-file bundle), and a failure there is an
engine bug whose plain message is enough. A template is first checked with `jsonschema-rs`
too; only an invalid one goes through `jsonschema` for its messages, so the CLI does not
import the pure-Python validator (~40 ms) on the common path.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from typing import TYPE_CHECKING, Any

from flowtime.domain.errors import Problem

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

SCHEMA_NAMES = (
    "template",
    "manifest",
    "run",
    "series-index",
    "telemetry-manifest",
    "api-error",
    "time-travel-state",
    "graph",
)


@cache
def load_schema(name: str) -> dict[str, Any]:
    # the package's own folder rather than importlib.resources, whose import (tempfile,
    # shutil, random) costs every CLI command ~15 ms; the schemas ship as plain files
    import flowtime.schemas as folder

    with open(os.path.join(os.path.dirname(folder.__file__ or ""), f"{name}.schema.json"),
              encoding="utf-8") as handle:
        return json.loads(handle.read())


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    import jsonschema

    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def format_path(parts: Any, prefix: str = "") -> str:
    loc = prefix
    for part in parts:
        if isinstance(part, int):
            loc += f"[{part}]"
        else:
            loc = f"{loc}.{part}" if loc else str(part)
    return loc


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(error: ValidationError, prefix: str) -> Problem:
    loc = format_path(error.absolute_path, prefix)
    schema = error.schema if isinstance(error.schema, dict) else {}
    keyword = error.validator
    if keyword in ("anyOf", "oneOf") and error.context:
        # Report against the alternative that got furthest into the instance (ties: the
        # first, which in templates is the real type; later ones are placeholders).
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context:
            if sub.schema_path:
                branches.setdefault(int(sub.schema_path[0]), []).append(sub)
        if branches:
            best = max(sorted(branches), key=lambda b: max(len(e.absolute_path)
                                                             for e in branches[b]))
            return _problem(min(branches[best], key=lambda e: len(e.absolute_path)), prefix)
    if isinstance(schema.get("x-message"), str) and keyword not in ("required", "type"):
        return Problem(loc, schema["x-message"])
    if keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "field"
        return Problem(format_path([*error.absolute_path, missing], prefix), "is required")
    if keyword == "additionalProperties":
        allowed = ", ".join(sorted(schema.get("properties", {})))
        # YAML keys may be numbers or null next to text: order them as text
        extras = sorted(set(error.instance) - set(schema.get("properties", {})), key=str)
        field = extras[0] if extras else "?"
        return Problem(
            format_path([*error.absolute_path, field], prefix), f"unknown field (allowed: {allowed})"
        )
    if keyword == "type":
        return Problem(
            loc, f"expected {error.validator_value}, got {_type_name(error.instance)} "
            f"{_short(error.instance)}"
        )
    if keyword in ("minimum", "maximum") and "minimum" in schema and "maximum" in schema:
        return Problem(loc, f"must be between {schema['minimum']} and {schema['maximum']}")
    if keyword == "minimum":
        return Problem(loc, f"must be ≥ {schema['minimum']} (got {_short(error.instance)})")
    if keyword == "maximum":
        return Problem(loc, f"must be ≤ {schema['maximum']} (got {_short(error.instance)})")
    if keyword == "enum":
        options = ", ".join(str(v) for v in error.validator_value)
        return Problem(loc, f"must be one of {options} (got {_short(error.instance)})")
    if keyword == "const":
        return Problem(loc, f"must be {_short(error.validator_value)}")
    return Problem(loc, error.message)


_PLACEHOLDER = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def _only_placeholders(error: ValidationError) -> bool:
    """The error is only about values that are `${name}` (in some alternative of anyOf)."""
    if isinstance(error.instance, str) and _PLACEHOLDER.fullmatch(error.instance):
        return True
    if error.validator in ("anyOf", "oneOf") and error.context:
        by_branch: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            by_branch.setdefault(sub.schema_path[0] if sub.schema_path else None, []).append(sub)
        return any(all(_only_placeholders(e) for e in subs) for subs in by_branch.values())
    return False


@cache
def _fast_validator(name: str) -> Any:
    import jsonschema_rs

    return jsonschema_rs.validator_for(load_schema(name))


def validate_output(name: str, instance: Any, prefix: str = "") -> list[Problem]:
    """Every violation of a document the engine produced (bundle files), quickly."""
    return [Problem(format_path(error.instance_path, prefix), error.message)
            for error in _fast_validator(name).iter_errors(instance)]


def validate(
    name: str, instance: Any, prefix: str = "", allow_placeholders: bool = False
) -> list[Problem]:
    """Every schema violation of `instance` against `schemas/<name>.schema.json`.

    With `allow_placeholders`, a value that is exactly `${name}` satisfies any schema
    (templates before substitution); the substituted tree is checked again later.
    """
    try:
        if _fast_validator(name).is_valid(instance):
            return []
    except (ValueError, TypeError):
        pass  # not JSON-shaped (YAML keys that are numbers): the full validator explains
    errors = sorted(_validator(name).iter_errors(instance), key=lambda e: list(map(str, e.path)))
    problems: list[Problem] = []
    for error in errors:
        if allow_placeholders and _only_placeholders(error):
            continue
        problem = _problem(error, prefix)
        if problem not in problems:
            problems.append(problem)
    return problems
