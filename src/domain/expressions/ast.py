"""Expression syntax tree. Columns are 1-based and ignored by equality."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Num:
    value: float
    col: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Ref:
    name: str
    col: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr
    col: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str  # one of + - * /
    left: Expr
    right: Expr
    col: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class ArrayLit:
    values: tuple[float, ...]
    col: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # upper-case function name
    args: tuple[Expr, ...]
    col: int = field(default=0, compare=False)


Expr = Num | Ref | Neg | BinOp | ArrayLit | Call


def children(node: Expr) -> tuple[Expr, ...]:
    if isinstance(node, Neg):
        return (node.operand,)
    if isinstance(node, BinOp):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


@dataclass(frozen=True, slots=True)
class Reference:
    """A node id used by an expression; `delayed` when only seen through SHIFT(…, k≥1)."""

    name: str
    delayed: bool
    col: int


def references(node: Expr, delayed: bool = False) -> list[Reference]:
    """Every node reference with whether it is read through a delay."""
    if isinstance(node, Ref):
        return [Reference(node.name, delayed, node.col)]
    if isinstance(node, Call) and node.name == "SHIFT":
        lag = node.args[1]
        lagged = delayed or (isinstance(lag, Num) and lag.value >= 1)
        return references(node.args[0], lagged)
    found: list[Reference] = []
    for child in children(node):
        found.extend(references(child, delayed))
    return found


def _num(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def to_source(node: Expr) -> str:
    """Render back to expression text (fully parenthesised binary operations)."""
    if isinstance(node, Num):
        return _num(node.value)
    if isinstance(node, Ref):
        return node.name
    if isinstance(node, Neg):
        return f"-({to_source(node.operand)})"
    if isinstance(node, BinOp):
        return f"({to_source(node.left)} {node.op} {to_source(node.right)})"
    if isinstance(node, ArrayLit):
        return "[" + ", ".join(_num(v) for v in node.values) + "]"
    return f"{node.name}(" + ", ".join(to_source(a) for a in node.args) + ")"
