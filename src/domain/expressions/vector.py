"""Vectorised evaluation of an expression over the whole grid with numpy.

Values are float64 arrays of length `bins`; literals stay Python floats and broadcast.
Division by zero yields 0 (the reference system's behaviour), as does MOD by zero.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from flowtime.domain.expressions.ast import ArrayLit, BinOp, Call, Expr, Neg, Num, Ref

Value = np.ndarray | float


def _array(value: Value, bins: int) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    return np.full(bins, float(value))


def divide(a: Value, b: Value, bins: int) -> Value:
    if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        return a / b if b != 0 else 0.0
    a_arr, b_arr = _array(a, bins), _array(b, bins)
    out = np.zeros(bins)
    np.divide(a_arr, b_arr, out=out, where=b_arr != 0)
    return out


def round_half_away(x: Value) -> Value:
    whole = np.trunc(x)
    frac = np.asarray(x) - whole
    bump = np.where(np.abs(frac) >= 0.5, np.sign(x), 0.0)
    result = whole + bump
    return result if isinstance(x, np.ndarray) else float(result)


def euclid_mod(a: Value, b: Value, bins: int) -> Value:
    if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        return float(a % abs(b)) if b != 0 else 0.0
    a_arr, b_arr = _array(a, bins), _array(b, bins)
    divisor = np.where(b_arr == 0, 1.0, np.abs(b_arr))
    return np.where(b_arr == 0, 0.0, np.mod(a_arr, divisor))


def shift(x: Value, lag: int, bins: int, initial: float) -> Value:
    if lag == 0 or not isinstance(x, np.ndarray):
        return x if lag == 0 else _shift_scalar(x, lag, bins, initial)
    out = np.empty(bins)
    k = min(lag, bins)
    out[:k] = initial
    out[k:] = x[: bins - k]
    return out


def _shift_scalar(x: float, lag: int, bins: int, initial: float) -> np.ndarray:
    out = np.full(bins, float(x))
    out[: min(lag, bins)] = initial
    return out


def pulse(period: int, phase: int, amplitude: Value, bins: int) -> np.ndarray:
    t = np.arange(bins)
    mask = (t >= phase) & ((t - phase) % period == 0)
    return np.where(mask, amplitude, 0.0)


def convolve(x: Value, kernel: tuple[float, ...], bins: int) -> np.ndarray:
    return np.convolve(_array(x, bins), np.asarray(kernel, dtype=float))[:bins]


def kernel_of(node: Expr) -> tuple[float, ...]:
    if isinstance(node, ArrayLit):
        return node.values
    assert isinstance(node, Num)
    return (node.value,)


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
    name, args = node.name, node.args

    def ev(i: int) -> Value:
        return evaluate(args[i], env, bins, initial)

    if name == "SHIFT":
        target = args[0]
        init = initial.get(target.name, 0.0) if isinstance(target, Ref) else 0.0
        return shift(ev(0), int(args[1].value), bins, init)  # type: ignore[union-attr]
    if name in ("MIN", "MAX"):
        reduce = np.minimum if name == "MIN" else np.maximum
        result = ev(0)
        for i in range(1, len(args)):
            result = reduce(result, ev(i))
        return result
    if name == "CLAMP":
        return np.maximum(ev(1), np.minimum(ev(2), ev(0)))
    if name == "ABS":
        return np.abs(ev(0))
    if name == "FLOOR":
        return np.floor(ev(0))
    if name == "CEIL":
        return np.ceil(ev(0))
    if name == "ROUND":
        return round_half_away(ev(0))
    if name == "MOD":
        return euclid_mod(ev(0), ev(1), bins)
    if name == "STEP":
        return np.where(np.asarray(ev(0)) >= ev(1), 1.0, 0.0)
    if name == "PULSE":
        period = int(args[0].value)  # type: ignore[union-attr]
        phase = int(args[1].value) if len(args) > 1 else 0  # type: ignore[union-attr]
        amplitude = ev(2) if len(args) > 2 else 1.0
        return pulse(period, phase, amplitude, bins)
    if name == "CONV":
        return convolve(ev(0), kernel_of(args[1]), bins)
    raise AssertionError(f"unhandled function {name}")  # the parser rejects unknown names


def as_series(value: Value, bins: int) -> np.ndarray:
    """A float64 array of length `bins`, never a view of another node's array."""
    if isinstance(value, np.ndarray):
        return np.array(np.broadcast_to(value, (bins,)), dtype=np.float64)
    return np.full(bins, float(value))
