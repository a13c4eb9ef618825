"""The bundle codec: every JSON file of a bundle decodes into its Struct and encodes back
to the same bytes; the Struct's shape validates against the file's JSON Schema."""

from __future__ import annotations

import pytest

from flowtime.domain.artifacts.codec import BUNDLE_DOCUMENTS, decode, decode_model, encode, to_builtins
from flowtime.domain.errors import ErrorKind, FlowTimeError
from flowtime.domain.modeling import schemas
from flowtime.domain.runs import RunRequest


@pytest.fixture
def bundle_files(memory_service):
    memory_service.create_run(RunRequest("it-system", run_id="codec"))
    store = memory_service.store
    return {path: store.read("codec", path) for path in store.list_files("codec")}


def test_every_bundle_document_round_trips_byte_for_byte(bundle_files):
    for path, (kind, schema) in BUNDLE_DOCUMENTS.items():
        doc = decode(bundle_files[path], kind, path)
        assert encode(doc) == bundle_files[path], path
        if schema:
            assert schemas.validate(schema, to_builtins(doc)) == [], path


def test_the_stored_model_decodes_into_the_typed_model(bundle_files):
    model = decode_model(bundle_files["model/model.yaml"])
    assert [t.id for t in model.topology.nodes] == ["OrderApi", "Billing", "FailedOrders"]
    assert model.nodes[0].kind == "const"


@pytest.mark.parametrize("damage", [b"", b'{"schemaVersion": 1', b"[1, 2]"])
def test_a_damaged_document_is_a_clear_422_naming_the_file(bundle_files, damage):
    kind, _ = BUNDLE_DOCUMENTS["run.json"]
    with pytest.raises(FlowTimeError) as info:
        decode(damage, kind, "run.json", "r1")
    assert info.value.kind is ErrorKind.UNPROCESSABLE
    assert info.value.detail == "run 'r1' is damaged"
    [problem] = info.value.problems
    assert problem.loc == "run.json" and "flowtime runs verify" in problem.msg


def test_a_truncated_model_is_damaged_not_a_crash(bundle_files):
    with pytest.raises(FlowTimeError) as info:
        decode_model(bundle_files["model/model.yaml"][:37], "r1")
    assert info.value.kind is ErrorKind.UNPROCESSABLE
    assert info.value.problems[0].loc == "model/model.yaml"


def test_a_bundle_that_breaks_its_schema_is_refused_before_publish(memory_service, monkeypatch):
    import msgspec

    from flowtime.domain.artifacts import bundle as bundle_module

    real = bundle_module.build_bundle

    def broken(data, check):
        def check_a_broken_manifest(documents):
            bad = msgspec.structs.replace(documents.manifest, schema_version=2)
            check(msgspec.structs.replace(documents, manifest=bad))
        return real(data, check_a_broken_manifest)

    monkeypatch.setattr("flowtime.domain.services.orchestration.build_bundle", broken)
    with pytest.raises(FlowTimeError) as info:
        memory_service.create_run(RunRequest("it-system", run_id="broken"))
    assert info.value.kind is ErrorKind.INTERNAL
    assert [p.loc for p in info.value.problems] == ["manifest.json.schemaVersion"]
    assert not memory_service.store.exists("broken")
