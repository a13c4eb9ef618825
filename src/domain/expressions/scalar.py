"""Bin-by-bin evaluation of feedback groups, compiled to a tight Python loop.

Nodes on a delayed feedback loop (e.g. a queue's backlog) depend on their own past, so
they cannot be computed as whole arrays. Each group is turned into Python source once:
a loop over bins writing into preallocated lists. Sub-expressions that do not touch the
group are evaluated vectorised beforehand and indexed, so only the loop's own arithmetic
runs per bin. Generated code only contains numbers, fixed helper names and local
variable names we choose; node ids never appear in it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import lru_cache

import numpy as np

from flowtime.domain.expressions.ast import BinOp, Call, Expr, Neg, Num, Ref, references
from flowtime.domain.expressions.vector import kernel_of


def _div(a: float, b: float) -> float:
    return a / b if b != 0 else 0.0


def _mod(a: float, b: float) -> float:
    return a % abs(b) if b != 0 else 0.0


def _floor(x: float) -> float:
    return float(math.floor(x)) if math.isfinite(x) else x


def _ceil(x: float) -> float:
    return float(math.ceil(x)) if math.isfinite(x) else x


def _round(x: float) -> float:
    if not math.isfinite(x):
        return x
    whole = float(math.trunc(x))
    frac = x - whole
    if abs(frac) >= 0.5:
        whole += math.copysign(1.0, x)
    return whole


_HELPERS = {"_div": _div, "_mod": _mod, "_floor": _floor, "_ceil": _ceil, "_round": _round,
            "_min": min, "_max": max}


class _Compiler:
    def __init__(
        self,
        members: list[str],
        initial: Mapping[str, float],
        hoist: Callable[[Expr], np.ndarray | float],
    ):
        self.slot = {name: f"m{i}" for i, name in enumerate(members)}
        self.initial = initial
        self.hoist = hoist
        self.hoisted: list[np.ndarray] = []
        self.loads: dict[str, str] = {}  # local name -> expression loaded once per bin
        # Lists are padded in front by the largest SHIFT lag, pre-filled with each member's
        # initial value, so the loop body reads `m[i - k]` with no bounds test.
        self.pad = 0

    def uses_group(self, node: Expr) -> bool:
        return any(r.name in self.slot for r in references(node))

    def emit(self, node: Expr) -> str:
        if isinstance(node, Num):
            return repr(node.value)
        if not self.uses_group(node):
            value = self.hoist(node)
            if not isinstance(value, np.ndarray):
                return repr(float(value))
            self.hoisted.append(value)
            k = len(self.hoisted) - 1
            self.loads[f"a{k}"] = f"h{k}[i]"
            return f"a{k}"
        if isinstance(node, Ref):
            return "v" + self.slot[node.name][1:]  # computed earlier in this bin
        if isinstance(node, Neg):
            return f"(-{self.emit(node.operand)})"
        if isinstance(node, BinOp):
            left, right = self.emit(node.left), self.emit(node.right)
            return f"_div({left}, {right})" if node.op == "/" else f"({left} {node.op} {right})"
        assert isinstance(node, Call)
        return self.call(node)

    def past(self, ref: Ref, lag: int) -> str:
        """Value `lag` bins ago; the padding supplies the initial condition."""
        if not lag:
            return self.emit(ref)
        self.pad = max(self.pad, lag)
        slot = self.slot[ref.name]
        name = f"p{slot[1:]}_{lag}"
        # Lag 1 is the member's value from the previous bin, still in its local.
        self.loads[name] = f"v{slot[1:]}" if lag == 1 else f"{slot}[i - {lag}]"
        return name

    def past_or_zero(self, ref: Ref, lag: int) -> str:
        """Value `lag` bins ago, 0 before the grid starts (CONV ignores initial values)."""
        if not lag:
            return self.emit(ref)
        return f"({self.slot[ref.name]}[i - {lag}] if t >= {lag} else 0.0)"

    def call(self, node: Call) -> str:
        name, args = node.name, node.args
        if name == "SHIFT":
            target, lag = args[0], int(args[1].value)  # type: ignore[union-attr]
            if lag == 0:
                return self.emit(target)
            assert isinstance(target, Ref)  # validation guarantees this inside a loop
            return self.past(target, lag)
        if name == "CONV":
            target = args[0]
            assert isinstance(target, Ref)
            terms = [f"{k!r} * {self.past_or_zero(target, j)}" for j, k in
                     enumerate(kernel_of(args[1])) if k != 0]
            return "(" + " + ".join(terms) + ")" if terms else "0.0"
        parts = [self.emit(a) for a in args]
        if name in ("MIN", "MAX"):
            return f"_{name.lower()}({', '.join(parts)})"
        if name == "CLAMP":
            return f"_max({parts[1]}, _min({parts[2]}, {parts[0]}))"
        if name == "ABS":
            return f"abs({parts[0]})"
        if name in ("FLOOR", "CEIL", "ROUND"):
            return f"_{name.lower()}({parts[0]})"
        if name == "MOD":
            return f"_mod({parts[0]}, {parts[1]})"
        if name == "STEP":
            return f"(1.0 if {parts[0]} >= {parts[1]} else 0.0)"
        if name == "PULSE":
            period = int(args[0].value)  # type: ignore[union-attr]
            phase = int(args[1].value) if len(args) > 1 else 0  # type: ignore[union-attr]
            amplitude = parts[2] if len(args) > 2 else "1.0"
            return f"({amplitude} if t >= {phase} and (t - {phase}) % {period} == 0 else 0.0)"
        raise AssertionError(f"unhandled function {name}")


@lru_cache(maxsize=256)
def _compiled(source: str) -> Callable[..., tuple[list[float], ...]]:
    """Compile generated source once; groups of the same shape share the function."""
    namespace: dict[str, object] = dict(_HELPERS)
    exec(compile(source, "<feedback-group>", "exec"), namespace)
    return namespace["_group"]  # type: ignore[return-value]


def evaluate_feedback_group(
    members: list[str],
    asts: Mapping[str, Expr],
    bins: int,
    initial: Mapping[str, float],
    hoist: Callable[[Expr], np.ndarray | float],
) -> dict[str, np.ndarray]:
    """Evaluate `members` (in instantaneous-dependency order) bin by bin."""
    compiler = _Compiler(members, initial, hoist)
    body: list[str] = []
    for m in members:
        slot = compiler.slot[m]
        body.append(f"        v{slot[1:]} = {compiler.emit(asts[m])}")
        body.append(f"        {slot}[i] = v{slot[1:]}")
    body = [f"        {name} = {expr}" for name, expr in compiler.loads.items()] + body
    pad = compiler.pad
    hoisted = "".join(f", h{k}" for k in range(len(compiler.hoisted)))
    slots = [compiler.slot[m] for m in members]
    helpers = ", ".join(f"{name}={name}" for name in _HELPERS)  # bound as fast locals
    needs_t = any("t >=" in line for line in body)
    lines = [
        f"def _group(bins, initials{hoisted}, {helpers}):",
        *[f"    {slot} = [initials[{k}]] * {pad} + [0.0] * bins" for k, slot in enumerate(slots)],
        *[f"    v{slot[1:]} = initials[{k}]" for k, slot in enumerate(slots)],
        f"    for i in range({pad}, {pad} + bins):",
        *([f"        t = i - {pad}"] if needs_t else []),
        *body,
        "    return (" + "".join(f"{slot}[{pad}:], " for slot in slots) + ")",
    ]
    function = _compiled("\n".join(lines))
    lists = [[0.0] * pad + h.tolist() for h in compiler.hoisted]
    initials = [float(initial.get(m, 0.0)) for m in members]
    results = function(bins, initials, *lists)
    return {m: np.asarray(r, dtype=np.float64) for m, r in zip(members, results, strict=True)}
