"""Safe YAML reading and deterministic YAML writing.

Templates are plain data: anchors/aliases (the usual vehicle for "billion laughs"),
duplicate keys and implicit timestamps are refused or kept as text, and every syntax
error reports its line and column.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from flowtime.domain.errors import Problem, invalid

MAX_DOCUMENT_BYTES = 1_048_576


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases, duplicate keys or timestamp conversion."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(
                None, None, "aliases (*name) are not allowed in templates", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                raise yaml.MarkedYAMLError(
                    None, None, "mapping keys must be plain scalars", key_node.start_mark
                ) from None
            if duplicate:
                raise yaml.MarkedYAMLError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return yaml.constructor.SafeConstructor.construct_mapping(self, node, deep=deep)


MAX_INT_DIGITS = 4000  # Python refuses to convert more than 4,300 digits


def _checked_int(loader: Any, node: yaml.ScalarNode) -> int:
    """An integer of at most MAX_INT_DIGITS characters (a longer one is a located error, not
    Python's conversion limit surfacing as a crash)."""
    if len(node.value) > MAX_INT_DIGITS:
        raise yaml.MarkedYAMLError(None, None, f"an integer of {len(node.value)} characters "
                                   f"(at most {MAX_INT_DIGITS})", node.start_mark)
    return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _checked_int)

_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_CLoader = getattr(yaml, "CSafeLoader", None)
if _CLoader is not None:
    class _FastStrictLoader(_CLoader):  # type: ignore[valid-type,misc]
        """libyaml's parser (~10× faster than the pure-Python one) with the same rules:
        the node graph is checked for aliases before anything is constructed."""

        construct_mapping = _StrictLoader.construct_mapping
        yaml_implicit_resolvers = _StrictLoader.yaml_implicit_resolvers

    _FastStrictLoader.add_constructor("tag:yaml.org,2002:int", _checked_int)


def _refuse_aliases(root: yaml.Node) -> None:
    """An alias makes a node reachable twice: refuse the first such node."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise yaml.MarkedYAMLError(None, None, "aliases (*name) are not allowed in "
                                       "templates", node.start_mark)
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((value, key))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))


def _parse(text: str) -> Any:
    if _CLoader is None:
        return yaml.load(text, Loader=_StrictLoader)
    loader = _FastStrictLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError:
            # a syntax error: the pure-Python parser words it (and places it) as before
            return yaml.load(text, Loader=_StrictLoader)
        if node is None:
            return None
        _refuse_aliases(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def decode_document(text: str | bytes, loc: str = "template") -> str:
    """The document as text: at most MAX_DOCUMENT_BYTES, valid UTF-8."""
    if isinstance(text, bytes):
        if len(text) > MAX_DOCUMENT_BYTES:
            raise invalid([Problem(loc, f"document is larger than {MAX_DOCUMENT_BYTES} bytes")])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise invalid([Problem(loc, f"not valid UTF-8 at byte {exc.start}")]) from None
    if len(text) > MAX_DOCUMENT_BYTES:
        raise invalid([Problem(loc, f"document is larger than {MAX_DOCUMENT_BYTES} bytes")])
    return text


def load_yaml(text: str | bytes, loc: str = "template") -> Any:
    """Parse one YAML document; syntax errors become an invalid error with line/column."""
    text = decode_document(text, loc)
    if len(text) > MAX_DOCUMENT_BYTES:
        raise invalid([Problem(loc, f"document is larger than {MAX_DOCUMENT_BYTES} bytes")])
    try:
        return _parse(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        raise invalid([Problem(loc, f"{where}{what}")], "malformed YAML") from None
    except yaml.YAMLError as exc:
        raise invalid([Problem(loc, f"invalid YAML: {exc}")], "malformed YAML") from None
    except RecursionError:
        raise invalid([Problem(loc, "YAML is nested too deeply")], "malformed YAML") from None


# libyaml's emitter when present (several times faster); same output as the Python one.
_DumperBase = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_DumperBase):  # type: ignore[valid-type,misc]
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_float(dumper: Any, value: float) -> yaml.ScalarNode:
    if math.isnan(value):
        text = ".nan"
    elif math.isinf(value):
        text = ".inf" if value > 0 else "-.inf"
    else:
        text = repr(value)
    return dumper.represent_scalar("tag:yaml.org,2002:float", text)


_Dumper.add_representer(float, _represent_float)


def dump_yaml(tree: Any) -> str:
    """Deterministic YAML: insertion order kept, no aliases, unicode as is."""
    return yaml.dump(
        tree, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=None,
        width=100,
    )
