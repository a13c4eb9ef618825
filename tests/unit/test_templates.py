"""Templates: typed substitution, parameter checks and model validation (SPEC §2)."""

from __future__ import annotations

import textwrap

import pytest

from flowtime.domain.errors import ErrorKind, FlowTimeError
from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.modeling.templates import parse_template
from tests.building import model_of

BASE = textwrap.dedent("""\
    schemaVersion: 1
    metadata: {id: tiny, title: Tiny, version: 1.0.0}
    window: {start: "2025-01-01T00:00:00Z", timezone: UTC}
    parameters:
      - {name: bins, type: integer, default: 3, minimum: 3, maximum: 48}
      - {name: demand, type: array, default: [10, 12, 9], minimum: 0}
      - {name: label, type: string, default: "east"}
      - {name: rate, type: number, default: 0.5, minimum: 0, maximum: 1}
    grid: {bins: "${bins}", binSize: 5, binUnit: minutes}
    nodes:
      - {id: demand, kind: const, values: "${demand}"}
      - {id: served, kind: expr, expr: "demand * ${rate}"}
    """)


def problems_of(text: str, params: dict | None = None) -> list[str]:
    with pytest.raises(FlowTimeError) as info:
        model_of(text, params or {})
    assert info.value.kind is ErrorKind.INVALID
    return [str(p) for p in info.value.problems]


def test_whole_placeholder_substitutes_the_typed_value():
    model = model_of(BASE)
    assert model.definition.grid.bins == 3
    assert isinstance(model.parameters["bins"], int)
    assert model.parameters["demand"] == [10, 12, 9]
    assert model.definition.nodes[0].values == [10, 12, 9]
    assert "bins: 3" in model.text  # integer stays an integer in the evaluated text


def test_placeholder_inside_a_string_interpolates_text():
    text = BASE.replace("title: Tiny", 'title: "Tiny ${label}"')
    model = model_of(text, {"label": "west"})
    assert model.definition.metadata.title == "Tiny west"
    assert model.definition.nodes[1].expr == "demand * 0.5"


def test_request_values_override_defaults_and_are_typed():
    model = model_of(BASE, {"bins": 3.0, "demand": [1, 2.0, 3.5]})
    assert model.parameters["bins"] == 3 and isinstance(model.parameters["bins"], int)
    assert model.parameters["demand"] == [1, 2, 3.5]


def test_bounds_are_checked_for_scalars_and_every_array_element():
    found = problems_of(BASE, {"bins": 2, "demand": [1, -4, 2], "rate": 7})
    assert "parameters.bins: 2 is below the minimum 3" in found
    assert "parameters.demand[1]: -4 is below the minimum 0" in found
    assert "parameters.rate: 7 is above the maximum 1" in found


def test_wrong_types_are_reported_with_the_parameter_name():
    found = problems_of(BASE, {"bins": "many", "label": 5, "demand": "x"})
    assert 'parameters.bins: expected an integer, got "many"' in found
    assert "parameters.label: expected a string, got 5" in found
    assert any(p.startswith("parameters.demand: expected an array") for p in found)


def test_unknown_parameter_is_rejected_and_lists_known_ones():
    found = problems_of(BASE, {"bogus": 1})
    assert found == ["parameters.bogus: unknown parameter (this template accepts: bins, demand, "
                     "label, rate)"]


def test_missing_required_value_is_reported():
    text = BASE.replace("{name: label, type: string, default: \"east\"}", "{name: label, type: string}")
    assert "parameters.label: is required (the template gives no default)" in problems_of(text)


def test_placeholder_without_a_declared_parameter_is_reported():
    text = BASE.replace("binSize: 5", 'binSize: "${size}"')
    with pytest.raises(FlowTimeError) as info:
        parse_template(text)
    assert "grid.binSize: placeholder ${size} names no declared parameter" in map(
        str, info.value.problems)


def test_malformed_yaml_reports_line_and_column():
    with pytest.raises(FlowTimeError) as info:
        parse_template("metadata: {id: x\ngrid: [1, 2\n")
    assert info.value.kind is ErrorKind.INVALID
    assert "line 3, column 1" in str(info.value.problems[0]) or "line 2" in str(
        info.value.problems[0])


def test_yaml_aliases_and_duplicate_keys_are_refused():
    with pytest.raises(FlowTimeError, match="malformed YAML"):
        parse_template("a: &x [1, 2]\nb: *x\n")
    with pytest.raises(FlowTimeError) as info:
        parse_template("metadata: {id: a}\nmetadata: {id: b}\n")
    assert "duplicate key 'metadata'" in str(info.value.problems[0])


def test_validation_reports_every_problem_at_once():
    text = textwrap.dedent("""\
        metadata: {id: many-problems, version: 1.0.0}
        window: {start: "2025-01-01T00:00:00+02:00"}
        grid: {bins: 4, binSize: 1, binUnit: hours}
        topology:
          nodes:
            - {id: A, semantics: {served: srv}}
            - {id: B, semantics: {arrivals: demand}}
          edges: [{from: "A:out", to: "C:in"}]
        nodes:
          - {id: demand, kind: const, values: [1, 2, 3]}
          - {id: demand, kind: const, values: [1, 2, 3, 4]}
          - {id: served, kind: expr, expr: "demnd + 1"}
          - {id: f, kind: pmf, pmf: {values: [1, 2], probabilities: [0.5, 0.6]}}
          - {id: g, kind: pmf, pmf: {values: [1, 2, 3], probabilities: [0.5, 0.5]}}
          - {id: q, kind: expr, expr: "SHIFT(q, 1) + 1"}
        outputs: [{series: nothing}]
        """)
    found = problems_of(text)
    expected = [
        "window.start: '2025-01-01T00:00:00+02:00' must be an ISO 8601 UTC instant like "
        "2025-01-01T00:00:00Z",
        "nodes[1].id: duplicate node id 'demand' (first defined at nodes[0])",
        "nodes[0].values: length 3 does not match grid.bins 4",
        "nodes[2].expr: unknown node 'demnd' at column 1 (did you mean 'demand'?)",
        "nodes[3].pmf.probabilities: must sum to 1 (within 1e-6), got 1.1",
        "nodes[4].pmf: values has 3 entries but probabilities has 2",
        "topology.nodes[0].semantics.served: unknown series 'srv' (did you mean 'served'?)",
        "topology.edges[0].to: unknown topology node 'C'",
        "outputs[0].series: unknown series 'nothing'",
    ]
    for item in expected:
        assert item in found, (item, found)
    assert any(p.startswith("nodes[5].expr: 'q' refers to itself through SHIFT") for p in found)


def test_grid_bounds_are_checked():
    found = problems_of(BASE.replace('bins: "${bins}"', "bins: 20000").replace(
        "{id: demand, kind: const, values: \"${demand}\"}", "{id: demand, kind: expr, expr: '1'}"))
    assert "grid.bins: must be between 1 and 10000" in found


def test_cycle_without_delay_names_its_nodes():
    text = BASE.replace(
        '  - {id: served, kind: expr, expr: "demand * ${rate}"}',
        '  - {id: a, kind: expr, expr: "b + demand"}\n'
        '  - {id: b, kind: expr, expr: "c * 2"}\n'
        '  - {id: c, kind: expr, expr: "a - 1"}',
    )
    found = problems_of(text)
    assert any("cycle without a delay: a -> b -> c -> a" in p for p in found), found


def test_cycle_through_a_delay_is_allowed():
    text = BASE.replace(
        '  - {id: served, kind: expr, expr: "demand * ${rate}"}',
        '  - {id: a, kind: expr, expr: "SHIFT(b, 1) + demand"}\n'
        '  - {id: b, kind: expr, expr: "a * 0.5"}',
    )
    values = evaluate_model(model_of(text), seed=1)
    # demand [10, 12, 9]; a = b[t-1] + demand (b[-1] = 0), b = a / 2
    assert values["a"].tolist() == [10, 17, 17.5]
    assert values["b"].tolist() == [5, 8.5, 8.75]


def test_pmf_probabilities_must_sum_to_one():
    text = BASE + "  - {id: p, kind: pmf, pmf: {values: [0, 1], probabilities: [0.7, 0.2]}}\n"
    assert "nodes[2].pmf.probabilities: must sum to 1 (within 1e-6), got 0.9" in problems_of(text)


def test_topology_without_edges_is_an_info_warning_not_an_error():
    text = BASE + textwrap.dedent("""\
        topology:
          nodes:
            - {id: A, semantics: {arrivals: demand}}
            - {id: B, semantics: {served: served}}
          edges: []
        """)
    model = model_of(text)
    [warning] = model.warnings
    assert (warning.code, warning.severity) == ("topology_without_edges", "info")
    assert warning.message == "topology.edges: 2 topology nodes but no edges connect them"


def test_template_schema_reports_unknown_fields_and_bad_ids():
    text = BASE.replace("metadata: {id: tiny", "metadata: {id: Tiny_ID").replace(
        "schemaVersion: 1", "schemaVersion: 1\nnode: []")
    with pytest.raises(FlowTimeError) as info:
        parse_template(text)
    found = [str(p) for p in info.value.problems]
    assert any(p.startswith("node: unknown field") for p in found)
    assert "metadata.id: must be lower-case letters, digits and '-' (e.g. it-system)" in found


def test_every_shipped_json_schema_is_itself_valid():
    import jsonschema

    from flowtime.domain.modeling.schemas import SCHEMA_NAMES, load_schema

    for name in SCHEMA_NAMES:
        schema = load_schema(name)
        jsonschema.validators.validator_for(schema).check_schema(schema)


def test_numeric_yaml_keys_are_located_problems_not_a_crash():
    """Found by the API fuzzer: `5: …` parses to an int key, which the fast JSON Schema
    validator refuses to look at; the full validator names the field."""
    import pytest as _pytest

    from flowtime.domain.errors import FlowTimeError
    from flowtime.domain.modeling.templates import parse_template

    with _pytest.raises(FlowTimeError) as refused:
        parse_template("5:\t\u00e5\u00ca\u00b87", loc="template", default_id="inline")
    assert any(p.loc == "[5]" and "unknown field" in p.msg for p in refused.value.problems)


def _folder(tmp_path, files: dict[str, str]):
    from flowtime.adapters.templates.directory import DirectoryTemplateSource

    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return DirectoryTemplateSource(tmp_path)


def _with_id(template_id: str) -> str:
    return BASE.replace("id: tiny", f"id: {template_id}")


def test_a_template_named_for_its_id_is_read_alone(tmp_path, monkeypatch):
    """One-off commands parse `<id>.yaml` only; the rest of the folder is read when listed."""
    import flowtime.adapters.templates.directory as directory

    source = _folder(tmp_path, {"tiny.yaml": BASE, "other.yaml": _with_id("other"),
                                "broken.yaml": "metadata: [nope"})
    parsed: list[str] = []
    real = directory.parse_template
    monkeypatch.setattr(directory, "parse_template",
                        lambda data, loc: parsed.append(loc) or real(data, loc=loc))
    assert source.get("tiny").id == "tiny"
    assert source.get("tiny").id == "tiny"  # kept while the folder is unchanged
    assert parsed == ["tiny.yaml"]
    assert sorted(t.id for t in source.list_templates()) == ["other", "tiny"]
    assert list(source.problems()) == ["broken"]


@pytest.mark.parametrize("files", [
    # the file named for the id holds another id: the template that declares it wins
    {"tiny.yaml": _with_id("renamed"), "zz.yaml": BASE.replace("Tiny", "Expected")},
    # another file declares the same id: the first in name order, as when the folder is read
    {"a.yaml": BASE.replace("Tiny", "Expected"), "tiny.yaml": BASE},
    # the id spelled with an escape in another file
    {"tiny.yaml": BASE, "b.yaml": BASE.replace(
        "id: tiny", 'id: "ti\\x6Ey"').replace("Tiny", "Expected")},
])
def test_reading_alone_never_answers_differently_from_reading_the_folder(tmp_path, files):
    from flowtime.adapters.templates.directory import DirectoryTemplateSource

    quick = _folder(tmp_path, files).get("tiny")
    full = DirectoryTemplateSource(tmp_path)
    full.list_templates()
    assert quick == full.get("tiny")
    assert quick.metadata.title == "Expected"
