"""Templates: parsing, typed substitution on the YAML tree, and building a model.

Substitution works on the parsed tree, not on text: a scalar that is exactly `${name}`
becomes the typed value; `${name}` inside a longer string interpolates its text.

`${name}` is not valid YAML inside an unquoted flow collection (`[${a}, 2]`: `{` is an
indicator there), which reference templates use. Before parsing, each placeholder is
swapped for a sentinel of the same length made of private-use characters (a plain
scalar anywhere), and the sentinels are turned back into `${name}` strings on the parsed
tree, so line and column numbers in YAML errors still point into the template's text.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowtime.domain.artifacts.hashing import canonical_json, sha256_bytes
from flowtime.domain.errors import Problem, ProblemCollector, invalid
from flowtime.domain.evaluate.budget import DEFAULT_BUDGET, ModelBudget
from flowtime.domain.modeling import schemas
from flowtime.domain.modeling.grid import TimeGrid, parse_utc
from flowtime.domain.modeling.model import Metadata, Model, ModelDef, ParameterDef, convert
from flowtime.domain.modeling.names import DISPLAY_NAME, EPOCH
from flowtime.domain.modeling.parameters import check_definitions, resolve_parameters
from flowtime.domain.modeling.yaml_document import decode_document, dump_yaml, load_yaml

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
ANY_PLACEHOLDER = re.compile(r"\$\{[^}]*\}?")
_OPEN, _CLOSE = "\ue000", "\ue001\ue001"  # len(_OPEN + name + _CLOSE) == len("${name}")
_SENTINEL = re.compile(_OPEN + r"([A-Za-z_][A-Za-z0-9_]*)" + _CLOSE)


def _protect(text: str, loc: str) -> str:
    if _OPEN in text or "\ue001" in text:
        raise invalid([Problem(loc, "the characters U+E000/U+E001 are not allowed in templates")])
    return PLACEHOLDER.sub(lambda m: _OPEN + m.group(1) + _CLOSE, text)


def _restore(tree: Any) -> Any:
    if isinstance(tree, str):
        return _SENTINEL.sub(lambda m: "${" + m.group(1) + "}", tree) if _OPEN in tree else tree
    if isinstance(tree, dict):
        return {_restore(k): _restore(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_restore(v) for v in tree]
    return tree


def load_template_tree(text: str | bytes, loc: str = "template") -> Any:
    """The template's YAML tree, with placeholders allowed anywhere a value may stand."""
    return _restore(load_yaml(_protect(decode_document(text, loc), loc), loc))


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed, structurally valid template (placeholders not yet substituted)."""

    tree: dict[str, Any]
    metadata: Metadata
    parameters: list[ParameterDef]
    text: str
    content_hash: str

    @property
    def id(self) -> str:
        return self.metadata.id

    @property
    def default_mode(self) -> str:
        mode = self.tree.get("mode")
        return mode if mode in ("simulation", "telemetry") else "simulation"

    @property
    def classes(self) -> list[tuple[str, str | None]]:
        """(class id, display name) as declared."""
        return [(str(c.get("id")), c.get(DISPLAY_NAME)) for c in self.tree.get("classes") or []
                if isinstance(c, dict)]

    @property
    def topology_kinds(self) -> list[tuple[str, str]]:
        """(topology node id, kind) as declared (`service` when omitted)."""
        topology = self.tree.get("topology") or {}
        return [(str(n.get("id")), str(n.get("kind") or "service"))
                for n in topology.get("nodes") or [] if isinstance(n, dict)]

    @property
    def profiles(self) -> list[tuple[str, str]]:
        """(PMF node id, profile: a builtin's name or `inline`) for nodes with a profile."""
        found = []
        for node in self.tree.get("nodes") or []:
            profile = node.get("profile") if isinstance(node, dict) else None
            if isinstance(profile, dict):
                name = profile.get("name") if profile.get("kind") == "builtin" else "inline"
                found.append((str(node.get("id")), str(name)))
        return found




def template_id_from(name: str) -> str:
    """A metadata id from a file name (`My Model.yaml` → `my-model`), else `inline`."""
    stem = re.sub(r"\.(ya?ml|json)$", "", name.rsplit("/", 1)[-1], flags=re.IGNORECASE)
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return slug[:128] or "inline"


def parse_template(
    text: str | bytes, loc: str = "template", default_id: str | None = None
) -> Template:
    """Parse and structurally validate template YAML; raises with all problems.

    With `default_id` (a file or inline text rather than a catalogue entry), a document in
    the reference engine's model format — no `metadata`, no `window` — is accepted: its id
    is `default_id` and its window starts at 1970-01-01T00:00:00Z unless `grid.start` says.
    """
    raw = text.encode("utf-8") if isinstance(text, str) else text
    tree = load_template_tree(raw, loc)
    if not isinstance(tree, dict):
        raise invalid([Problem(loc, "a template must be a YAML mapping at the top level")])
    if default_id is not None:
        tree = _model_defaults(tree, default_id)
    problems = ProblemCollector()
    # Types are checked again after substitution; here a placeholder may stand for any value.
    problems.extend(schemas.validate("template", tree, allow_placeholders=True))
    if problems:
        raise invalid(problems.problems, "invalid template")
    metadata = convert(tree["metadata"], Metadata)
    parameters = convert(tree.get("parameters") or [], list[ParameterDef])
    problems.extend(check_definitions(parameters))
    declared = {p.name for p in parameters}
    for path, name in _placeholders(tree):
        if name not in declared and not path.startswith("parameters"):
            problems.add(path, f"placeholder ${{{name}}} names no declared parameter")
    problems.raise_if_any("invalid template")
    return Template(tree, metadata, parameters, raw.decode("utf-8"), sha256_bytes(raw))


def _model_defaults(tree: dict[str, Any], default_id: str) -> dict[str, Any]:
    tree = dict(tree)
    if "metadata" not in tree:
        tree["metadata"] = {"id": default_id}
    if "window" not in tree:
        grid = tree.get("grid")
        start = grid.get("start") if isinstance(grid, dict) else None
        tree["window"] = {"start": start if isinstance(start, str) else EPOCH}
    return tree


def _placeholders(tree: Any, path: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found.extend(_placeholders(value, f"{path}.{key}" if path else str(key)))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            found.extend(_placeholders(value, f"{path}[{i}]"))
    elif isinstance(tree, str):
        found.extend((path, m.group(1)) for m in PLACEHOLDER.finditer(tree))
    return found


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def substitute(
    tree: Any, values: Mapping[str, Any], failed: set[str], path: str = ""
) -> tuple[Any, list[Problem]]:
    """Replace placeholders in `tree`; report any left unresolved (except `failed` ones)."""
    problems: list[Problem] = []
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out[key], found = substitute(value, values, failed, f"{path}.{key}" if path else key)
            problems.extend(found)
        return out, problems
    if isinstance(tree, list):
        items = []
        for i, value in enumerate(tree):
            item, found = substitute(value, values, failed, f"{path}[{i}]")
            items.append(item)
            problems.extend(found)
        return items, problems
    if not isinstance(tree, str) or "${" not in tree:
        return tree, problems
    whole = PLACEHOLDER.fullmatch(tree)
    if whole and whole.group(1) in values:
        return values[whole.group(1)], problems

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return _as_text(values[name]) if name in values else match.group(0)

    text = PLACEHOLDER.sub(replace, tree)
    for match in ANY_PLACEHOLDER.finditer(text):
        name_match = PLACEHOLDER.fullmatch(match.group(0))
        if name_match and name_match.group(1) in failed:
            continue
        problems.append(Problem(path, f"unresolved placeholder {match.group(0)}"))
    return text, problems


_MODEL_CACHE_SIZE = 128
_model_cache: OrderedDict[tuple[str, str], Model] = OrderedDict()
_model_cache_lock = threading.Lock()


def build_model(template: Template, requested: Mapping[str, Any],
                budget: ModelBudget = DEFAULT_BUDGET) -> Model:
    """Resolve parameters, substitute, and validate everything; raises with all problems.
    A model larger than `budget` is refused (413) before it is compiled or evaluated.

    Models are immutable, so the last few (by template content and request) are reused:
    repeated scenarios skip substitution, validation and YAML rendering.
    """
    try:
        key = (template.content_hash, canonical_json(dict(requested)), budget)
    except (TypeError, ValueError):
        return _build_model(template, requested, budget)
    with _model_cache_lock:
        cached = _model_cache.get(key)
        if cached is not None:
            _model_cache.move_to_end(key)
            return cached
    model = _build_model(template, requested, budget)
    with _model_cache_lock:
        _model_cache[key] = model
        while len(_model_cache) > _MODEL_CACHE_SIZE:
            _model_cache.popitem(last=False)
    return model


def _check_raw_shape(tree: Any, budget: ModelBudget) -> None:
    """The budget's first check on the substituted tree, where its shape is plain."""
    grid = tree.get("grid") if isinstance(tree, dict) else None
    bins = grid.get("bins") if isinstance(grid, dict) else None
    nodes = tree.get("nodes") if isinstance(tree, dict) else None
    topology = tree.get("topology") if isinstance(tree, dict) else None
    tnodes = topology.get("nodes") if isinstance(topology, dict) else None
    if isinstance(bins, int) and not isinstance(bins, bool) and isinstance(nodes, list):
        budget.check_shape(bins, len(nodes), len(tnodes) if isinstance(tnodes, list) else 0)


def _build_model(template: Template, requested: Mapping[str, Any], budget: ModelBudget
                 ) -> Model:
    from flowtime.domain.modeling.validation import validate_and_plan  # avoid an import cycle

    problems = ProblemCollector()
    values, found = resolve_parameters(template.parameters, requested)
    problems.extend(found)
    failed = {d.name for d in template.parameters} - set(values)
    body = {k: v for k, v in template.tree.items() if k != "parameters"}
    substituted, found = substitute(body, values, failed)
    problems.extend(found)
    if problems:
        raise invalid(problems.problems)
    _check_raw_shape(substituted, budget)  # before the schema walks every node
    problems.extend(schemas.validate("template", substituted))
    problems.raise_if_any()
    definition = convert(substituted, ModelDef)
    budget.check_shape(definition.grid.bins, len(definition.nodes),
                       len(definition.topology.nodes))
    checked = validate_and_plan(definition)
    problems.extend(checked.problems)
    problems.raise_if_any()
    assert checked.plan is not None
    budget.check_plan(definition.grid.bins, len(checked.plan.node_ids),
                      sum(len(v) for v in checked.plan.class_series.values()))
    start = parse_utc(definition.window.start or definition.grid.start or "")
    assert start is not None and checked.plan is not None  # validation checked both
    grid = TimeGrid(definition.grid.bins, definition.grid.bin_size, definition.grid.bin_unit, start)
    return Model(definition, grid, dump_yaml(substituted), values, checked.plan,
                 warnings=tuple(checked.warnings))
