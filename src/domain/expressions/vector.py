"""Vectorised evaluation of an expression over the whole grid with numpy.

Values are float64 arrays of length `bins`; literals stay Python floats and broadcast.
Division by zero yields 0 (the reference system's behaviour), as does MOD by zero.
Functions are implemented in `functions.FUNCTIONS`, with their NaN/±inf semantics.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from flowtime.domain.expressions.ast import BinOp, Call, Expr, Neg, Num, Ref
from flowtime.domain.expressions.functions import FUNCTIONS, Value


def _array(value: Value, bins: int) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    return np.full(bins, float(value))


def divide(a: Value, b: Value, bins: int) -> Value:
    if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        return a / b if b != 0 else 0.0
    a_arr, b_arr = _array(a, bins), _array(b, bins)
    out = np.zeros(np.broadcast_shapes(a_arr.shape, b_arr.shape))
    np.divide(a_arr, b_arr, out=out, where=b_arr != 0)
    return out


def evaluate(
    node: Expr, env: Mapping[str, np.ndarray], bins: int, initial: Mapping[str, float]
) -> Value:
    """Evaluate `node` with every referenced series already in `env`."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Ref):
        return env[node.name]
    if isinstance(node, Neg):
        return -evaluate(node.operand, env, bins, initial)
    if isinstance(node, BinOp):
        a = evaluate(node.left, env, bins, initial)
        b = evaluate(node.right, env, bins, initial)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        return divide(a, b, bins)
    assert isinstance(node, Call)
    return _call(node, env, bins, initial)


def _call(node: Call, env: Mapping[str, np.ndarray], bins: int, initial: Mapping[str, float]):
    def ev(i: int) -> Value:
        return evaluate(node.args[i], env, bins, initial)

    return FUNCTIONS[node.name].vector(node, ev, bins, initial)


def as_series(value: Value, bins: int) -> np.ndarray:
    """A float64 array of length `bins` (or samples × bins for a batch, `batch.py`),
    never a view of another node's array."""
    if isinstance(value, np.ndarray):
        if value.ndim == 2:
            return np.array(value, dtype=np.float64)
        return np.array(np.broadcast_to(value, (bins,)), dtype=np.float64)
    return np.full(bins, float(value))
