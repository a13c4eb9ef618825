"""/state and /state_window of every shipped template, at several bins and windows,
validate against the reference's current time-travel-state schema (../shared/reference,
where that folder is beside the clone, as in CI) and against our own copy of the contract
in `schemas/` — which must not drift from it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from flowtime.domain.modeling import schemas

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "time-travel-state.schema.json"
SHIPPED = sorted(p.stem for p in (ROOT / "templates").glob("*.yaml"))


def _reference_validator(kind: str) -> jsonschema.Draft202012Validator | None:
    if not REFERENCE.is_file():
        return None
    document = json.loads(REFERENCE.read_text())
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{kind}", "$defs": document["$defs"]})


def test_our_schema_has_every_constraint_of_the_reference():
    if not REFERENCE.is_file():
        pytest.skip("../shared/reference is not beside this clone")
    reference = json.loads(REFERENCE.read_text())["$defs"]
    ours = json.loads((ROOT / "schemas" / "time-travel-state.schema.json").read_text())["$defs"]
    renamed = {"stateSnapshotResponse": "snapshot", "stateWindowResponse": "window"}

    def shape(node):  # the constraints, without prose
        if isinstance(node, dict):
            return {k: shape(v) for k, v in node.items() if k not in ("description", "title")}
        if isinstance(node, list):
            return [shape(v) for v in node]
        if isinstance(node, str):
            for old, new in renamed.items():
                node = node.replace(f"#/$defs/{old}", f"#/$defs/{new}")
        return node

    for name, definition in reference.items():
        assert shape(definition) == ours[renamed.get(name, name)], name


@pytest.mark.parametrize("template_id", SHIPPED)
def test_state_bodies_of_a_shipped_template_validate(client, template_id):
    created = client.post("/v1/runs", json={"templateId": template_id})
    assert created.status_code == 201, created.text
    run_id = created.json()["metadata"]["runId"]
    bins = created.json()["grid"]["bins"]
    snapshot_check = _reference_validator("stateSnapshotResponse")
    window_check = _reference_validator("stateWindowResponse")
    for index in sorted({0, bins // 2, bins - 1}):
        state = client.get(f"/v1/runs/{run_id}/state", params={"binIndex": index}).json()
        assert schemas.validate("time-travel-state", state) == []
        if snapshot_check is not None:
            assert [e.message for e in snapshot_check.iter_errors(state)] == []
    for start, end in sorted({(0, bins - 1), (0, min(2, bins - 1)), (bins // 2, bins - 1)}):
        window = client.get(f"/v1/runs/{run_id}/state_window",
                            params={"startBin": start, "endBin": end}).json()
        assert schemas.validate("time-travel-state", window) == []
        if window_check is not None:
            assert [e.message for e in window_check.iter_errors(window)] == []
