"""Scenario and sweep identities are typed records hashed as canonical camelCase JSON; the
hashes are run and sweep ids, so they must not move: the pinned values below were computed
by the code before the records were typed (hand-built dicts)."""

from __future__ import annotations

from types import SimpleNamespace

import msgspec

from flowtime.domain.services.orchestration import _scenario_hash
from flowtime.domain.services.sweeps import SweepRequest
from flowtime.domain.views.scenarios import Overlay

TEMPLATE = SimpleNamespace(id="it-system", content_hash="sha256:abc")
MODEL = SimpleNamespace(parameters={"a": 1, "b": [1, 2]})
INPUTS = SimpleNamespace(hashes={"x": "sha256:1"})
SAMPLE = "".join(["sam", "ple"])  # equal to "sample", but not the same string object


def test_scenario_hashes_are_those_of_the_hand_built_identity():
    plain = _scenario_hash(TEMPLATE, MODEL, "simulation", 7, INPUTS)
    assert plain == "sha256:16d6eecd0cc5f8d715b2dfaf89b23a8f44f81715cbf56fc8f9ae1fd645b738bd"
    # a pmf mode read from a request is another str object: still the default, same hash
    assert _scenario_hash(TEMPLATE, MODEL, "simulation", 7, INPUTS, pmf_mode=SAMPLE) == plain
    overlay = Overlay(target="A.served", op="scale", value=0.5, from_bin=1, to_bin=3)
    assert _scenario_hash(TEMPLATE, MODEL, "simulation", 7, INPUTS, overlays=(overlay,)) == (
        "sha256:5f96252b97de9c30d12b397f220fc7912b474173fe75b5aa11cb03f747cb33bd")
    assert len({plain, _scenario_hash(TEMPLATE, MODEL, "simulation", 7, INPUTS,
                                      pmf_mode="expected"),
                _scenario_hash(TEMPLATE, MODEL, "simulation", 7, INPUTS,
                               base_run_id="run_x")}) == 3


def test_a_sweep_id_survives_its_request_being_stored_and_read_back():
    request = SweepRequest("inline", grid={"x": [1, 2]}, template_text="nodes: []\n",
                           samples=3, seed=7, pmf_mode=SAMPLE)
    again = msgspec.json.decode(msgspec.json.encode(request), type=SweepRequest)
    assert again.sweep_id == request.sweep_id
    assert SweepRequest(template_id="t").sweep_id == "sweep_912fe9e539e6ee5e"
    assert SweepRequest(template_id="t", pmf_mode="expected").sweep_id != \
        SweepRequest(template_id="t").sweep_id
