"""Overlays from untyped request data — a JSON overlay file (`--overlay-file`), the
library's dicts, a wire body — into the domain's `Overlay` records, each problem located
(`overlays[1].fromBin`); the domain then checks what they mean (check_overlays)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowtime.domain.errors import Problem, invalid
from flowtime.domain.views.scenarios import MAX_OVERLAYS, Overlay, overlay_problems

FIELDS = ("target", "op", "value", "fromBin", "toBin")


def overlays_from(items: Any, loc: str = "overlays") -> tuple[Overlay, ...]:
    """Overlays from a list of `{target, op, value, fromBin, toBin}` objects."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise invalid([Problem(loc, "must be a list of overlays")])
    if len(items) > MAX_OVERLAYS:
        raise invalid([Problem(loc, f"{len(items)} overlays; at most {MAX_OVERLAYS}")])
    problems: list[Problem] = []
    found: list[Overlay] = []
    for i, item in enumerate(items):
        here = f"{loc}[{i}]"
        if not isinstance(item, Mapping):
            problems.append(Problem(here, "must be an object {target, op, value, fromBin, "
                                    "toBin}"))
            continue
        problems.extend(Problem(f"{here}.{k}", "unknown field")
                        for k in sorted(set(item) - set(FIELDS)))
        target, op, value, start, end = (item.get(k) for k in FIELDS)
        wrong = []
        if not isinstance(target, str):
            wrong.append(Problem(f"{here}.target", "is required (Node.metric or a series id)"))
        if not isinstance(op, str):
            wrong.append(Problem(f"{here}.op", "must be one of set, scale, add"))
        if isinstance(value, bool) or not isinstance(value, int | float):
            wrong.append(Problem(f"{here}.value", "must be a finite number"))
        for name, bound in (("fromBin", start), ("toBin", end)):
            if isinstance(bound, bool) or not isinstance(bound, int):
                wrong.append(Problem(f"{here}.{name}", "must be an integer ≥ 0"))
        if wrong:
            problems.extend(wrong)
            continue
        overlay = Overlay(target, op, float(value), start, end)  # type: ignore[arg-type]
        problems.extend(overlay_problems(overlay, here))
        found.append(overlay)
    if problems:
        raise invalid(problems, "invalid overlays")
    return tuple(found)
