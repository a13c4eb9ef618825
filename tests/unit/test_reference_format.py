"""The reference's current template fields (MODELING §7) are accepted and mean the same."""

from __future__ import annotations

import textwrap

import pytest

from flowtime.domain.errors import FlowTimeError
from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.modeling.templates import build_model, parse_template
from tests.building import model_of

TEMPLATE = textwrap.dedent("""\
    metadata:
      id: reference-fields
      title: Reference fields
      narrative: A longer story of this model.
      captureKey: reference-fields-telemetry
    parameters:
      - {name: loads, type: array, arrayOf: integer, default: [1, 2, 3], minimum: 0}
      - {name: scale, type: number, default: 2, required: %s}
    grid: {bins: 3, binSize: 1, binUnit: hours, start: "2025-02-01T00:00:00Z"}
    topology:
      nodes:
        - id: Svc
          nodeRole: service
          group: core
          ui: {x: 10, y: 20}
          semantics: {arrivals: base, served: scaled, external_demand: base}
    nodes:
      - {id: base, kind: const, values: "${loads}", group: inputs, metadata: {graph.hidden: "true"},
         telemetry: base.csv}
      - {id: scaled, kind: expr, expr: "base * ${scale}", dependencies: [base]}
    """)


def test_reference_fields_are_accepted_and_grid_start_sets_the_window():
    template = parse_template(TEMPLATE % "false")
    assert template.metadata.narrative == "A longer story of this model."
    assert template.metadata.capture_key == "reference-fields-telemetry"
    model = build_model(template, {})
    assert model.grid.start.isoformat() == "2025-02-01T00:00:00+00:00"
    assert evaluate_model(model, seed=1)["scaled"].tolist() == [2, 4, 6]
    assert model.definition.topology.nodes[0].semantics.external_demand == "base"


def test_array_of_integer_refuses_fractions():
    with pytest.raises(FlowTimeError) as info:
        model_of(TEMPLATE % "false", {"loads": [1, 2.5, 3]})
    assert [str(p) for p in info.value.problems] == [
        "parameters.loads[1]: expected an integer, got 2.5"]


def test_required_true_needs_a_value_even_with_a_default():
    with pytest.raises(FlowTimeError) as info:
        model_of(TEMPLATE % "true")
    assert "parameters.scale: is required (the template gives no default)" in [
        str(p) for p in info.value.problems]
    assert model_of(TEMPLATE % "true", {"scale": 3}).parameters["scale"] == 3


def test_dependencies_must_match_what_the_expression_reads():
    text = (TEMPLATE % "false").replace("dependencies: [base]", "dependencies: [base, other]")
    with pytest.raises(FlowTimeError) as info:
        model_of(text)
    assert "nodes[1].dependencies: must list exactly what the expression reads (not read: " \
        "['other']; not listed: none)" in [str(p) for p in info.value.problems]
