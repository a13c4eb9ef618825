"""Bundles written by the file store for every shipped template (SPEC §4)."""

from __future__ import annotations

import hashlib
import json

import pytest

from flowtime.domain.modeling import schemas
from flowtime.domain.modeling.yaml_document import load_yaml
from flowtime.domain.runs import RunRequest
from tests.conftest import SHIPPED


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_at_least_five_templates_ship():
    assert len(SHIPPED) >= 5


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_template_matches_the_template_schema(path):
    assert schemas.validate("template", load_yaml(path.read_bytes())) == []


def _no_nulls(value) -> bool:
    if value is None:
        return False
    if isinstance(value, dict):
        return all(_no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_nulls(v) for v in value)
    return True


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_simulation_run_writes_a_valid_bundle(container, data_dir, path):
    template_id = load_yaml(path.read_bytes())["metadata"]["id"]
    result = container.orchestration().create_run(RunRequest(template_id))
    folder = data_dir / "runs" / result.record.run_id
    read = lambda rel: (folder / rel).read_bytes()  # noqa: E731
    manifest = json.loads(read("manifest.json"))
    run = json.loads(read("run.json"))
    index = json.loads(read("series/index.json"))
    telemetry = json.loads(read("model/telemetry/telemetry-manifest.json"))
    assert schemas.validate("manifest", manifest) == []
    assert schemas.validate("run", run) == []
    assert schemas.validate("series-index", index) == []
    assert schemas.validate("telemetry-manifest", telemetry) == []
    assert telemetry["files"] == []
    assert read("spec.yaml") == read("model/model.yaml")
    assert run["modelHash"] == sha(read("model/model.yaml")) == manifest["modelHash"]
    assert _no_nulls(manifest) and set(manifest["provenance"]) == {
        "hasProvenance", "modelId", "templateId", "source"}
    assert len(index["series"]) == len(run["series"]) == len(manifest["seriesHashes"]) > 0
    for entry in index["series"]:
        data = read(entry["path"])
        assert sha(data) == entry["hash"] == manifest["seriesHashes"][entry["id"]]
        lines = data.decode().split("\n")
        assert lines[0] == "t,value" and lines[-1] == "" and len(lines) == entry["points"] + 2
        assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data
    provenance = json.loads(read("model/provenance.json"))
    assert provenance["source"] == "flowtime" and provenance["templateId"] == template_id
    assert provenance["seed"] == manifest["rng"]["seed"]


def test_csv_values_use_shortest_round_trip(container, data_dir):
    result = container.orchestration().create_run(RunRequest("it-system"))
    csv = (data_dir / "runs" / result.record.run_id / "series" /
           "billingBacklog@BILLINGBACKLOG@DEFAULT.csv").read_text()
    values = [line.split(",")[1] for line in csv.splitlines()[1:]]
    assert "0" in values and all(not v.endswith(".0") for v in values)
    assert any("." in v for v in values)  # fractional backlog values stay exact


def test_deterministic_rerun_is_byte_identical_and_not_rewritten(container, data_dir):
    service = container.orchestration()
    first = service.create_run(RunRequest("supply-chain", deterministic_run_id=True))
    folder = data_dir / "runs" / first.record.run_id
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    mtimes = {p: p.stat().st_mtime_ns for p in before}
    second = service.create_run(RunRequest("supply-chain", deterministic_run_id=True))
    assert second.record.run_id == first.record.run_id and not second.created
    assert {p: p.read_bytes() for p in before} == before
    assert {p: p.stat().st_mtime_ns for p in before} == mtimes


def test_two_deterministic_runs_in_fresh_stores_have_identical_series(tmp_path):
    from flowtime.container import Settings, build_container

    hashes = []
    for name in ("a", "b"):
        c = build_container(Settings.from_env({"FLOWTIME_DATA_DIR": str(tmp_path / name)}))
        result = c.orchestration().create_run(RunRequest("manufacturing-line",
                                                         deterministic_run_id=True))
        hashes.append(c.store().read(result.record.run_id, "manifest.json"))
    strip = [json.loads(h) for h in hashes]
    for m in strip:
        m.pop("createdUtc")
    assert strip[0] == strip[1]
