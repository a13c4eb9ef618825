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
from flowtime.domain.expressions.functions import FUNCTIONS, LOOP_HELPERS


def literal(value: float) -> str:
    """Python source for a float, ±inf and NaN included (the flow compiler builds them)."""
    return repr(value) if math.isfinite(value) else f"float({str(value)!r})"


class LoopCompiler:
    def __init__(
        self,
        members: list[str],
        initial: Mapping[str, float],
        hoist: Callable[[Expr], np.ndarray | float],
        bins: int,
    ):
        self.bins = bins
        self.slot = {name: f"m{i}" for i, name in enumerate(members)}
        self.initial = initial
        self.hoist = hoist
        self.hoisted: list[np.ndarray] = []
        self.loads: dict[str, str] = {}  # local name -> expression loaded once per bin
        # Lists are padded in front by the largest SHIFT lag, pre-filled with each member's
        # initial value, so the loop body reads `m[i - k]` with no bounds test.
        self.pad = 0
        self._temps = 0

    def temp(self) -> str:
        """A fresh local name for a value the generated code must not compute twice."""
        self._temps += 1
        return f"t_{self._temps}"

    def uses_group(self, node: Expr) -> bool:
        return any(r.name in self.slot for r in references(node))

    def emit(self, node: Expr) -> str:
        if isinstance(node, Num):
            return literal(node.value)
        if not self.uses_group(node):
            value = self.hoist(node)
            if not isinstance(value, np.ndarray):
                return literal(float(value))
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
        if lag >= self.bins:  # always before the grid: the initial value (no giant padding)
            return literal(float(self.initial.get(ref.name, 0.0)))
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
        return FUNCTIONS[node.name].loop(node, self)


@lru_cache(maxsize=256)
def _compiled(source: str) -> Callable[..., tuple[list[float], ...]]:
    """Compile generated source once; groups of the same shape share the function."""
    namespace: dict[str, object] = dict(LOOP_HELPERS)
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
    compiler = LoopCompiler(members, initial, hoist, bins)
    body: list[str] = []
    for m in members:
        slot = compiler.slot[m]
        body.append(f"        v{slot[1:]} = {compiler.emit(asts[m])}")
        body.append(f"        {slot}[i] = v{slot[1:]}")
    body = [f"        {name} = {expr}" for name, expr in compiler.loads.items()] + body
    pad = compiler.pad
    hoisted = "".join(f", h{k}" for k in range(len(compiler.hoisted)))
    slots = [compiler.slot[m] for m in members]
    helpers = ", ".join(f"{name}={name}" for name in LOOP_HELPERS)  # bound as fast locals
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
