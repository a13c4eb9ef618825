"""Templates and models written for the reference system load unchanged (issue 15)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from flowtime.domain.errors import FlowTimeError
from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.modeling.templates import parse_template
from flowtime.domain.modeling.yaml_document import load_yaml
from tests.building import model_of

HEAD = textwrap.dedent("""\
    metadata: {id: ref, title: Reference}
    window: {start: "2025-01-01T00:00:00Z"}
    """)


def run(text: str, params: dict | None = None) -> dict[str, list[float]]:
    model = model_of(text, params or {})
    return {k: v.tolist() for k, v in evaluate_model(model, seed=1).items()}


def test_outputs_accept_id_description_and_as_and_keep_them_in_the_stored_model():
    text = HEAD + textwrap.dedent("""\
        grid: {bins: 2, binSize: 1, binUnit: hours}
        nodes:
          - {id: demand, kind: const, values: [10, 20]}
          - {id: served, kind: expr, expr: "demand * 0.8"}
        outputs:
          - id: served_out
            series: served
            description: what was served
            as: served.csv
        """)
    model = model_of(text)
    [output] = load_yaml(model.text)["outputs"]
    assert output == {"id": "served_out", "series": "served", "description": "what was served",
                      "as": "served.csv"}
    assert model.definition.outputs[0].as_ == "served.csv"


def test_reference_output_spelling_source_and_filename():
    text = HEAD + textwrap.dedent("""\
        grid: {bins: 2, binSize: 1, binUnit: hours}
        nodes:
          - {id: demand, kind: const, values: [10, 20]}
          - {id: served, kind: expr, expr: "demand * 0.8"}
        outputs:
          - {id: served, source: served, filename: served.csv}
        """)
    from flowtime.domain.modeling.validation import output_series

    model = model_of(text)
    assert output_series(model.definition, model.plan.node_ids) == ["served"]


def test_semantics_may_be_null():
    text = HEAD + textwrap.dedent("""\
        grid: {bins: 2, binSize: 1, binUnit: hours}
        topology:
          nodes:
            - id: Svc
              kind: service
              semantics: {arrivals: demand, served: demand, errors: null, externalDemand: null}
        nodes:
          - {id: demand, kind: const, values: [1, 2]}
        """)
    model = model_of(text)
    assert model.definition.topology.nodes[0].semantics.items() == [
        ("arrivals", "demand"), ("served", "demand")]


def test_initial_condition_on_a_topology_node_with_the_same_id_as_the_expression_node():
    text = HEAD + textwrap.dedent("""\
        grid: {bins: 3, binSize: 1, binUnit: hours}
        topology:
          nodes:
            - id: queue_depth
              kind: queue
              semantics: {arrivals: inflow, served: outflow}
              initialCondition: {queueDepth: 5}
        nodes:
          - {id: inflow, kind: const, values: [4, 4, 4]}
          - {id: outflow, kind: const, values: [2, 2, 10]}
          - {id: queue_depth, kind: expr, expr: "MAX(0, SHIFT(queue_depth, 1) + inflow - outflow)"}
        """)
    # 5 + 4 - 2 = 7; 7 + 4 - 2 = 9; max(0, 9 + 4 - 10) = 3
    assert run(text)["queue_depth"] == [7, 9, 3]


def test_placeholders_as_block_list_elements():
    text = HEAD + textwrap.dedent("""\
        parameters:
          - {name: cap, type: number, default: 7, minimum: 0}
        grid: {bins: 3, binSize: 1, binUnit: hours}
        nodes:
          - id: capacity
            kind: const
            values:
              - ${cap}
              - ${cap}
              - 1
        """)
    assert run(text)["capacity"] == [7, 7, 1]
    assert run(text, {"cap": 2.5})["capacity"] == [2.5, 2.5, 1]


def test_placeholders_inside_unquoted_flow_lists_substitute_typed_values():
    text = HEAD + textwrap.dedent("""\
        parameters:
          - {name: baseValue, type: number, default: 100}
          - {name: bins, type: integer, default: 3}
        grid: {bins: ${bins}, binSize: 1, binUnit: hours}
        nodes:
          - {id: a, kind: const, values: [${baseValue}, 150.0, 200.0]}
          - {id: b, kind: expr, expr: "a * 2"}
        """)
    model = model_of(text, {"baseValue": 120})
    assert model.definition.nodes[0].values == [120, 150.0, 200.0]
    assert isinstance(model.definition.grid.bins, int)
    assert run(text)["b"] == [200, 300, 400]


def test_a_placeholder_in_a_flow_list_keeps_its_type_checked_after_substitution():
    text = HEAD + textwrap.dedent("""\
        parameters:
          - {name: label, type: string, default: east}
        grid: {bins: 2, binSize: 1, binUnit: hours}
        nodes:
          - {id: a, kind: const, values: [${label}, 1]}
        """)
    with pytest.raises(FlowTimeError) as info:
        model_of(text)
    assert [str(p) for p in info.value.problems] == [
        'nodes[0].values[0]: expected number, got string "east"']


def test_yaml_errors_still_point_at_the_template_line_with_placeholders_present():
    text = HEAD + textwrap.dedent("""\
        parameters:
          - {name: v, type: number, default: 1}
        grid: {bins: 2, binSize: 1, binUnit: hours}
        nodes:
          - {id: a, kind: const, values: [${v}, 1}
        """)
    with pytest.raises(FlowTimeError) as info:
        parse_template(text)
    [problem] = info.value.problems
    assert "line 7, column" in problem.msg


def test_empty_constraints_schema_version_and_provenance_are_accepted():
    text = "schemaVersion: 1\n" + HEAD + textwrap.dedent("""\
        provenance: {generator: flowtime-sim, mode: simulation}
        constraints: []
        grid: {bins: 1, binSize: 1, binUnit: hours}
        topology: {nodes: [], edges: [], constraints: []}
        nodes:
          - {id: a, kind: const, values: [1]}
        """)
    assert run(text)["a"] == [1]


def test_unknown_top_level_keys_are_still_refused_with_the_allowed_list():
    text = HEAD + "grid: {bins: 1, binSize: 1, binUnit: hours}\nnodes: [{id: a, kind: const, " \
        "values: [1]}]\nnodez: []\n"
    with pytest.raises(FlowTimeError) as info:
        parse_template(text)
    [problem] = info.value.problems
    assert problem.loc == "nodez" and "provenance" in problem.msg


def test_nonempty_top_level_constraints_point_to_the_topology():
    text = HEAD + "grid: {bins: 1, binSize: 1, binUnit: hours}\nnodes: [{id: a, kind: const, " \
        "values: [1]}]\nconstraints: [{id: c}]\n"
    with pytest.raises(FlowTimeError) as info:
        parse_template(text)
    assert "topology.constraints" in info.value.problems[0].msg


def test_flow_list_values_equal_their_block_list_spelling():
    flow = HEAD + "parameters: [{name: x, type: number, default: 3}]\n" \
        "grid: {bins: 2, binSize: 1, binUnit: hours}\nnodes: [{id: a, kind: const, values: [${x}, ${x}]}]\n"
    assert np.array_equal(run(flow)["a"], [3, 3])
