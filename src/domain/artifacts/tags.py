"""Run tags: the one mutable part of a run, kept beside the immutable bundle as a record
(`tags/<runId>/tags.json` through the store's record port), so bundle files and their
hashes never change."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from flowtime.domain.errors import FlowTimeError, Problem, invalid

TAG_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # fullmatch: no trailing newline
MAX_TAGS = 50
MAX_VALUE = 256
RECORD_KIND = "tags"


def check_tags(tags: Mapping[str, Any], loc: str = "tags", allow_delete: bool = False
               ) -> dict[str, str | None]:
    """Keys: letters, digits, `_`, `.`, `-` (≤ 64); values: strings ≤ 256 characters
    (`null` deletes a tag in a PATCH)."""
    if not isinstance(tags, Mapping):
        raise invalid([Problem(loc, "must be an object of key: value strings")])
    problems = []
    checked: dict[str, str | None] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not TAG_KEY.fullmatch(key):
            problems.append(Problem(f"{loc}.{key}", "tag keys use letters, digits, '_', '.' "
                                    "and '-' (at most 64)"))
        elif value is None and allow_delete:
            checked[key] = None
        elif not isinstance(value, str) or len(value) > MAX_VALUE:
            problems.append(Problem(f"{loc}.{key}", f"must be a string of at most {MAX_VALUE} "
                                    "characters"))
        else:
            checked[key] = value
    if problems:
        raise invalid(problems)
    return checked


def read_tags(store: Any, run_id: str) -> dict[str, str]:
    try:
        return dict(json.loads(store.read_record(RECORD_KIND, run_id)))
    except FlowTimeError as exc:
        if exc.kind == "not_found":
            return {}
        raise


def write_tags(store: Any, run_id: str, tags: Mapping[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise invalid([Problem("tags", f"at most {MAX_TAGS} tags per run")])
    ordered = dict(sorted(tags.items()))
    store.write_record(RECORD_KIND, run_id, json.dumps(ordered).encode("utf-8"))
    return ordered


ANY = None  # a filter on a key alone: any value


def parse_filters(items: list[str] | None) -> dict[str, str | None]:
    """`key:value` (or `key=value`) filters from a query or the CLI; a bare `key` asks for
    the tag with any value. Keys no run can have simply match nothing."""
    found: dict[str, str | None] = {}
    for item in items or []:
        cut = min((i for i in (item.find(":"), item.find("=")) if i >= 0), default=-1)
        if cut < 0:
            found[item] = ANY
        else:
            found[item[:cut]] = item[cut + 1:]
    return found


def parse_assignments(items: list[str] | None, loc: str) -> dict[str, str]:
    """`name=value` pairs (parameter filters); a missing `=` is an error at `loc`."""
    found: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise invalid([Problem(loc, f"'{item}': use name=value")])
        found[name] = value
    return found


def matches(tags: Mapping[str, str], filters: Mapping[str, str | None]) -> bool:
    return all(key in tags and (value is ANY or tags[key] == value)
               for key, value in filters.items())
