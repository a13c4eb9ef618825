"""docs/templates.md describes every field and kind the template JSON Schema accepts."""

from __future__ import annotations

from pathlib import Path

from flowtime.domain.compile.kinds import KINDS
from flowtime.domain.modeling.schemas import load_schema

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "templates.md").read_text()


def _fields(schema: dict, *path: str) -> set[str]:
    node = schema
    for part in path:
        node = node[part]
    return set(node["properties"])


def test_every_schema_field_is_documented():
    schema = load_schema("template")
    fields = (_fields(schema) | _fields(schema, "$defs", "topologyNode")
              | _fields(schema, "$defs", "semantics") | _fields(schema, "$defs", "edge")
              | _fields(schema, "$defs", "node") | _fields(schema, "properties", "outputs", "items")
              | _fields(schema, "$defs", "dispatchSchedule"))
    missing = sorted(f for f in fields if f"`{f}`" not in DOCS and f"{f}:" not in DOCS
                     and f"`{f}" not in DOCS)
    assert missing == []


def test_every_kind_is_documented():
    for row in KINDS.values():  # each topology kind by its display spelling
        assert f"`{row.identity}`" in DOCS, row.identity
    for kind in load_schema("template")["$defs"]["node"]["properties"]["kind"]["enum"]:
        assert f"`{kind}`" in DOCS, kind
