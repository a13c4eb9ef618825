"""Typed template parameters: checking values, resolving a request against defaults."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from flowtime.domain.errors import Problem
from flowtime.domain.modeling.model import ParameterDef

MAX_ARRAY_LENGTH = 10_000
MAX_STRING_LENGTH = 10_000


def _canonical_number(value: float) -> int | float:
    """Integral floats become ints so 12 and 12.0 resolve (and hash) the same."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _bounds(defn: ParameterDef, value: float, loc: str) -> list[Problem]:
    problems = []
    if defn.lower is not None and value < defn.lower:
        problems.append(Problem(loc, f"{_describe(value)} is below the minimum {defn.lower:g}"))
    if defn.upper is not None and value > defn.upper:
        problems.append(Problem(loc, f"{_describe(value)} is above the maximum {defn.upper:g}"))
    return problems


def check_value(defn: ParameterDef, value: Any, loc: str) -> tuple[Any, list[Problem]]:
    """The typed value for `defn`, or problems saying why `value` does not fit."""
    kind = defn.type
    if kind == "integer":
        if _is_number(value) and math.isfinite(value) and float(value).is_integer():
            typed = int(value)
            return typed, _bounds(defn, typed, loc)
        return None, [Problem(loc, f"expected an integer, got {_describe(value)}")]
    if kind == "number":
        if _is_number(value) and math.isfinite(value):
            typed = _canonical_number(float(value))
            return typed, _bounds(defn, typed, loc)
        return None, [Problem(loc, f"expected a finite number, got {_describe(value)}")]
    if kind == "boolean":
        if isinstance(value, bool):
            return value, []
        return None, [Problem(loc, f"expected true or false, got {_describe(value)}")]
    if kind == "string":
        if not isinstance(value, str):
            return None, [Problem(loc, f"expected a string, got {_describe(value)}")]
        if len(value) > MAX_STRING_LENGTH:
            return None, [Problem(loc, f"string is longer than {MAX_STRING_LENGTH} characters")]
        return value, []
    if kind == "array":
        if not isinstance(value, list):
            return None, [Problem(loc, f"expected an array of numbers, got {_describe(value)}")]
        if len(value) > MAX_ARRAY_LENGTH:
            return None, [Problem(loc, f"array has more than {MAX_ARRAY_LENGTH} elements")]
        typed_items: list[int | float] = []
        problems: list[Problem] = []
        for i, item in enumerate(value):
            if not (_is_number(item) and math.isfinite(item)):
                problems.append(Problem(f"{loc}[{i}]", f"expected a number, got {_describe(item)}"))
                continue
            if defn.array_of == "integer" and not float(item).is_integer():
                problems.append(Problem(f"{loc}[{i}]", f"expected an integer, got {item!r}"))
                continue
            typed_item = _canonical_number(float(item))
            typed_items.append(typed_item)
            problems.extend(_bounds(defn, typed_item, f"{loc}[{i}]"))
        return (None if problems else typed_items), problems
    return None, [Problem(loc, f"unknown parameter type {kind!r}")]


def parse_cli_value(defn: ParameterDef | None, text: str) -> Any:
    """Turn `--param k=v` text into a JSON-ish value guided by the parameter type."""
    kind = defn.type if defn else None
    if kind == "string":
        return text
    if kind == "array" and not text.strip().startswith("["):
        parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
        return [_json_or_text(p.strip()) for p in parts]
    if kind == "boolean" and text.lower() in ("true", "false", "yes", "no", "1", "0"):
        return text.lower() in ("true", "yes", "1")
    return _json_or_text(text)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def check_definitions(defs: list[ParameterDef]) -> list[Problem]:
    """Problems in the template's own parameter list (names, defaults, bounds)."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, defn in enumerate(defs):
        loc = f"parameters[{i}]"
        if defn.name in seen:
            problems.append(
                Problem(f"{loc}.name", f"duplicate parameter '{defn.name}' "
                        f"(first defined at parameters[{seen[defn.name]}])")
            )
        seen.setdefault(defn.name, i)
        if defn.lower is not None and defn.upper is not None and defn.lower > defn.upper:
            problems.append(Problem(loc, f"minimum {defn.lower:g} is above maximum {defn.upper:g}"))
        if defn.default is not None:
            _, found = check_value(defn, defn.default, f"{loc}.default")
            problems.extend(found)
    return problems


def resolve_parameters(
    defs: list[ParameterDef], requested: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Problem]]:
    """Typed values for every parameter: request overrides default; all problems listed."""
    by_name = {d.name: d for d in defs}
    problems: list[Problem] = []
    for name in requested:
        if name not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            problems.append(
                Problem(f"parameters.{name}", f"unknown parameter (this template accepts: {known})")
            )
    values: dict[str, Any] = {}
    for defn in defs:
        loc = f"parameters.{defn.name}"
        if defn.name in requested:
            raw = requested[defn.name]
        elif defn.default is not None and not defn.required_flag:
            raw = defn.default
        else:
            problems.append(Problem(loc, "is required (the template gives no default)"))
            continue
        typed, found = check_value(defn, raw, loc)
        problems.extend(found)
        if not found:
            values[defn.name] = typed
    return values, problems
