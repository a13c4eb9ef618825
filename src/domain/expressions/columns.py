"""Feedback loops for a batch of samples: bin by bin, every sample at once.

A Monte Carlo batch (`batch.py`) gives each feedback group a (samples × bins) input per
hoisted sub-expression. Running the group's compiled loop once per sample costs a Python
step per sample, bin and operation; here the loop runs once over bins and each operation is
one numpy call over the column of all samples in that bin. For 1,000 samples that is
hundreds of times fewer interpreted steps.

The program is built once per group shape from the same ASTs the loop compiler reads: the
same maximal sub-expressions that do not touch the group are hoisted (and looked up in the
loop's own hoisted list, so both paths read identical inputs), members are computed in the
same order, SHIFT reads the member's earlier bins (or its initial value), CONV sums its
terms in kernel order from 0.0, PULSE decides per bin. Element-wise functions run their
vectorised implementation (`functions.FUNCTIONS[...].vector`), which the property tests
hold equal to the loop's scalar code, NaN and ±inf included. A function this module does
not know to be element-wise makes `compile_columns` return None and the caller runs the
loop per sample instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import msgspec
import numpy as np

from flowtime.domain.expressions.ast import BinOp, Call, Expr, Neg, Num, Ref, references
from flowtime.domain.expressions.functions import FUNCTIONS, kernel_of, pulse_literals
from flowtime.domain.expressions.vector import divide

# Functions whose value in a bin depends only on their arguments in that bin.
ELEMENTWISE = frozenset({"MIN", "MAX", "CLAMP", "ABS", "FLOOR", "CEIL", "ROUND", "MOD",
                         "STEP", "SAFE", "IF"})

Column = np.ndarray | float
# (frame, bin) -> the value for every sample in that bin
Op = Callable[["Frame", int], Column]


class Unsupported(Exception):
    """The group uses something the column program does not evaluate."""


class Frame(msgspec.Struct):
    """One evaluation: hoisted inputs and member buffers, both bins-major (row t is the
    column of samples at bin t, contiguous)."""

    hoisted: list[np.ndarray]  # (bins × samples) or (bins,) per hoisted expression
    buffers: list[np.ndarray]  # (pad + bins) × samples per member, padding = initial value
    samples: int


class ColumnProgram(msgspec.Struct, frozen=True):
    members: tuple[str, ...]
    ops: tuple[Op, ...]  # one per member, in evaluation order
    pad: int

    def run(self, hoisted: Sequence[np.ndarray], initials: Sequence[float], bins: int,
            samples: int) -> dict[str, np.ndarray]:
        """`hoisted` in the loop's order, each (samples × bins) or (bins,)."""
        columns = [np.ascontiguousarray(h.T) if h.ndim == 2 else h for h in hoisted]
        buffers = []
        for start in initials:
            buffer = np.empty((self.pad + bins, samples))
            buffer[: self.pad] = start
            buffers.append(buffer)
        frame = Frame(columns, buffers, samples)
        pad = self.pad
        pairs = list(zip(self.ops, buffers, strict=True))
        for t in range(bins):
            row = pad + t
            for op, buffer in pairs:
                buffer[row] = op(frame, t)
        return {m: np.ascontiguousarray(b[pad:].T)
                for m, b in zip(self.members, buffers, strict=True)}


def compile_columns(members: Sequence[str], asts: Mapping[str, Expr], bins: int,
                    initial: Mapping[str, float], hoisted: Sequence[Expr]
                    ) -> ColumnProgram | None:
    """The column program for a group, or None when it uses a function not known here."""
    builder = _Builder(list(members), initial, bins, {e: k for k, e in enumerate(hoisted)})
    try:
        ops = tuple(builder.build(asts[m]) for m in members)
    except Unsupported:
        return None
    return ColumnProgram(tuple(members), ops, builder.pad)


class _Builder:
    def __init__(self, members: list[str], initial: Mapping[str, float], bins: int,
                 hoisted_at: Mapping[Expr, int]):
        self.slot = {m: k for k, m in enumerate(members)}
        self.initial = initial
        self.bins = bins
        self.hoisted_at = hoisted_at
        self.pad = 0

    def uses_group(self, node: Expr) -> bool:
        return any(r.name in self.slot for r in references(node))

    def build(self, node: Expr) -> Op:
        if isinstance(node, Num):
            value = node.value
            return lambda frame, t: value
        if not self.uses_group(node):
            k = self.hoisted_at.get(node)
            if k is None:
                raise Unsupported(f"no hoisted input for {node!r}")
            return lambda frame, t: frame.hoisted[k][t]
        if isinstance(node, Ref):
            return self.current(node)
        if isinstance(node, Neg):
            operand = self.build(node.operand)
            return lambda frame, t: -operand(frame, t)
        if isinstance(node, BinOp):
            return self.binary(node)
        assert isinstance(node, Call)
        return self.call(node)

    def current(self, ref: Ref) -> Op:
        """The member's value in this bin (members are computed in dependency order)."""
        slot = self.slot[ref.name]
        return lambda frame, t: frame.buffers[slot][self.pad + t]

    def past(self, ref: Ref, lag: int) -> Op:
        if not lag:
            return self.build(ref)
        if lag >= self.bins:
            value = float(self.initial.get(ref.name, 0.0))
            return lambda frame, t: value
        self.pad = max(self.pad, lag)
        slot = self.slot[ref.name]
        return lambda frame, t: frame.buffers[slot][self.pad + t - lag]

    def binary(self, node: BinOp) -> Op:
        left, right = self.build(node.left), self.build(node.right)
        if node.op == "+":
            return lambda frame, t: left(frame, t) + right(frame, t)
        if node.op == "-":
            return lambda frame, t: left(frame, t) - right(frame, t)
        if node.op == "*":
            return lambda frame, t: left(frame, t) * right(frame, t)
        return lambda frame, t: divide(left(frame, t), right(frame, t), frame.samples)

    def call(self, node: Call) -> Op:
        if node.name == "SHIFT":
            target, lag = node.args[0], int(node.args[1].value)  # type: ignore[union-attr]
            if not lag:
                return self.build(target)
            if not isinstance(target, Ref):
                raise Unsupported("SHIFT of an expression inside a loop")
            return self.past(target, lag)
        if node.name == "CONV":
            return self.conv(node)
        if node.name == "PULSE":
            return self.pulse(node)
        if node.name not in ELEMENTWISE:
            raise Unsupported(node.name)
        if node.name in ("MIN", "MAX", "CLAMP", "FLOOR", "CEIL"):
            return self.signed_zero_exact(node)
        spec = FUNCTIONS[node.name]
        args = [self.build(a) if spec.literal(i) is None else (lambda frame, t: 0.0)
                for i, a in enumerate(node.args)]
        vector, initial = spec.vector, self.initial

        def op(frame: Frame, t: int) -> Column:
            return vector(node, lambda i: args[i](frame, t), frame.samples, initial)

        return op

    def signed_zero_exact(self, node: Call) -> Op:
        """The functions whose numpy form differs from the loop's scalar code in the sign of
        a zero (np.maximum(-0.0, 0.0) is 0.0, the loop's MAX keeps its first argument on a
        tie; np.floor(-0.0) is -0.0, math.floor gives 0): written here as the loop's code."""
        args = [self.build(a) for a in node.args]
        if node.name in ("FLOOR", "CEIL"):
            rounding, (x,) = (np.floor if node.name == "FLOOR" else np.ceil), args
            return lambda frame, t: rounding(x(frame, t)) + 0.0  # -0.0 + 0.0 is 0.0
        if node.name == "CLAMP":
            v, lo, hi = args
            return lambda frame, t: _pick(lo(frame, t), _pick(hi(frame, t), v(frame, t),
                                                              True), False)
        smaller = node.name == "MIN"

        def op(frame: Frame, t: int) -> Column:
            result = args[0](frame, t)
            for arg in args[1:]:
                result = _pick(result, arg(frame, t), smaller)
            return result

        return op

    def conv(self, node: Call) -> Op:
        target = node.args[0]
        if not isinstance(target, Ref):
            raise Unsupported("CONV of an expression inside a loop")
        slot = self.slot[target.name]
        now = self.build(target)
        terms = list(enumerate(kernel_of(node.args[1])))

        def op(frame: Frame, t: int) -> Column:
            total: Column = 0.0
            for j, k in terms:  # the loop's order: ((0.0 + k0·x[t]) + k1·x[t−1]) + …
                if j == 0:
                    total = total + k * now(frame, t)
                else:
                    total = total + k * (frame.buffers[slot][self.pad + t - j]
                                         if t >= j else 0.0)
            return total

        return op

    def pulse(self, node: Call) -> Op:
        period, phase = pulse_literals(node, self.bins)
        amplitude = self.build(node.args[2]) if len(node.args) > 2 else (lambda frame, t: 1.0)

        def op(frame: Frame, t: int) -> Column:
            value = amplitude(frame, t)  # evaluated every bin, as the loop does
            return value if t >= phase and (t - phase) % period == 0 else 0.0

        return op


def _pick(x: Column, y: Column, smaller: bool) -> Column:
    """The loop's NaN-propagating MIN/MAX of two values: x on a tie, NaN as x + y."""
    if smaller:
        return np.where(x <= y, x, np.where(y <= x, y, np.add(x, y)))
    return np.where(x >= y, x, np.where(y >= x, y, np.add(x, y)))
