"""Every fenced `yaml` block in docs/*.md (and the README) is a model that validates and
runs: a doc example can never break again.

A whole template (it has `metadata`) is parsed and run as written. A fragment (a list of
nodes, or a mapping with some of `nodes`, `topology`, `classes`, `traffic`) is put into a
small model whose grid and window are given here, and every series it reads but does not
define is added as a constant — only names the example plainly leaves to the reader:
a name like `none` or `null` is never filled in, so a fragment that relies on it fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from flowtime.domain.errors import FlowTimeError
from flowtime.domain.evaluate.engine import evaluate_model
from flowtime.domain.modeling.templates import build_model, parse_template
from tests.building import model_of

ROOT = Path(__file__).resolve().parents[2]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)
UNKNOWN = re.compile(r"unknown (?:series|node) '([A-Za-z_][A-Za-z0-9_]*)'")
NEVER_FILLED = {"none", "null", "self"}
BINS = 4


def _blocks() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        text = path.read_text()
        for match in BLOCK.finditer(text):
            line = text[:match.start()].count("\n") + 1
            found.append((f"{path.name}:{line}", match.group(1)))
    return found


def _as_model(fragment: object) -> dict:
    if isinstance(fragment, list):
        fragment = {"nodes": fragment}
    assert isinstance(fragment, dict), "a doc example must be a mapping or a list of nodes"
    model = {"schemaVersion": 1, "grid": {"bins": BINS, "binSize": 60, "binUnit": "minutes"},
             "window": {"start": "2025-01-01T00:00:00Z"}, "nodes": []}
    model.update(fragment)
    # a model needs one node of its own; an example that gives none gets a constant
    model["nodes"] = list(fragment.get("nodes") or [{"id": "example_input", "kind": "const",
                                                     "values": [10.0] * BINS}])
    return model


def _run(text: str) -> None:
    template = parse_template(text, default_id="doc-example")
    model = build_model(template, {})
    evaluate_model(model, seed=1)


def _check_spec(tree: dict) -> None:
    """A `fit params` body, a `data pull` spec or a forecast body decodes as the HTTP
    routes decode it."""
    import msgspec

    from flowtime.adapters import forecast_wire as fw
    from flowtime.adapters import observed_wire as ow
    from flowtime.adapters.wire import decode_body

    if "priors" in tree:
        decode_body(msgspec.json.encode(tree), fw.ForecastBody, "spec")
        return
    if "rules" in tree:
        decode_body(msgspec.json.encode(tree), fw.WatchBody, "spec")
        return

    defaults = tree.pop("defaults", None) or {}
    for item in tree.get("series") or tree.get("observed") or []:
        item["source"] = {**defaults, **(item.get("source") or {})}
    if "knobs" in tree:
        decode_body(msgspec.json.encode(tree), ow.FitBody, "spec")
    else:
        decode_body(msgspec.json.encode({**tree, "directory": "d", "templateId": "t"}),
                    ow.CaptureBody, "spec")


BLOCKS = _blocks()


def test_the_docs_have_examples():
    assert len(BLOCKS) >= 7


@pytest.mark.parametrize(("where", "text"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_a_doc_example_validates_and_runs(where, text):
    tree = yaml.safe_load(text)
    if isinstance(tree, dict) and ({"knobs", "series", "priors", "rules"} & set(tree)):
        _check_spec(tree)  # a calibration body or a pull spec (docs/data.md)
        return
    if isinstance(tree, dict) and "metadata" in tree:
        _run(text)  # a whole template, as written
        return
    model = _as_model(tree)
    filled: list[str] = []
    for _ in range(20):
        try:
            _run(yaml.safe_dump(model, sort_keys=False))
            return
        except FlowTimeError as exc:
            missing = {m.group(1) for p in exc.problems if (m := UNKNOWN.search(p.msg))}
            missing -= NEVER_FILLED
            if not missing or missing & set(filled):
                raise AssertionError(f"{where}: {exc.detail}: "
                                     + "; ".join(f"{p.loc}: {p.msg}" for p in exc.problems)
                                     ) from None
            for name in sorted(missing):
                model["nodes"].append({"id": name, "kind": "const", "values": [10.0] * BINS})
                filled.append(name)
    raise AssertionError(f"{where}: still failing after filling {filled}")


def test_the_harness_catches_an_example_that_relies_on_none():
    # the docs' old DLQ example read the series 'none' (before `none` meant no series), and
    # an unknown name the reader must not assume is never filled in
    text = "nodes:\n  - {id: a, kind: expr, expr: \"none + 1\"}\n"
    with pytest.raises(AssertionError, match="none"):
        test_a_doc_example_validates_and_runs("inline", text)


def test_the_reference_spellings_const_pattern_and_semantics_sla_min():
    text = """\
grid: {bins: 2, binSize: 60, binUnit: minutes}
nodes:
  - {id: demand, kind: const, values: [10, 10]}
  - {id: cap, kind: const, values: [20, 20]}
classes: [{id: a}, {id: b}]
traffic:
  arrivals:
    - {nodeId: demand, classId: a, pattern: {kind: const, ratePerBin: 3}}
    - {nodeId: demand, classId: b, pattern: {kind: constant, ratePerBin: 1}}
topology:
  nodes:
    - {id: Desk, kind: queue, semantics: {arrivals: demand, served: cap, slaMin: 45}}
"""
    model = model_of(text, {}, default_id="reference-spelling")
    values = evaluate_model(model, seed=1)
    assert values["demand__class_a"].tolist() == [7.5, 7.5]  # 10 × 3 / (3 + 1)
    assert next(c for c in model.plan.components if c.id == "Desk").sla_minutes == 45
