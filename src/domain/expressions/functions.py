"""The expression language's functions, one `FunctionSpec` each.

The parser (arity, literal arguments), validation (which functions read the past), the
vectorised evaluator, the feedback-loop compiler and the docs all read this table, so a
function is added in one place.

NaN and infinities follow numpy's propagation in both evaluators: an arithmetic result
involving NaN is NaN, `MIN`/`MAX`/`CLAMP` return NaN when any argument is NaN, rounding
keeps ±inf, `STEP(NaN, t)` is 0 (the comparison is false), and `CONV` multiplies every
coefficient, zeros included, summing in kernel order (so `0 × NaN` is NaN). Division and
`MOD` by exactly zero give 0 (the reference system's rule); by NaN they give NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from flowtime.domain.expressions.ast import ArrayLit, Call, Expr, Num, Ref

if TYPE_CHECKING:
    from flowtime.domain.expressions.scalar import LoopCompiler

Value = np.ndarray | float
Evaluate = Callable[[int], Value]  # evaluates argument i vectorised


class LiteralRule(msgspec.Struct, frozen=True):
    """Argument `index` must be a literal: a whole number ≥ `minimum`, or (kernel) an
    array literal or a number."""

    index: int
    what: str  # "lag", "period", "phase", "kernel", "default"
    minimum: int | None = 0  # None: any number literal

    def accepts(self, node: Expr) -> bool:
        if self.what == "kernel":
            return isinstance(node, ArrayLit | Num)
        if self.minimum is None:
            return isinstance(node, Num)
        return isinstance(node, Num) and node.value.is_integer() and node.value >= self.minimum

    def message(self, function: str) -> str:
        if self.what == "kernel":
            return f"{function} kernel must be an array literal like [0.5, 0.25] or a number"
        if self.minimum is None:
            return f"{function} {self.what} must be a number literal"
        bound = "non-negative" if self.minimum == 0 else "positive"
        return f"{function} {self.what} must be a {bound} integer literal"


class FunctionSpec(msgspec.Struct, frozen=True):
    name: str
    min_args: int
    max_args: int | None  # None: any number
    doc: str
    example: str
    # (call, evaluate argument i, bins, initial values) -> series or scalar
    vector: Callable[[Call, Evaluate, int, Mapping[str, float]], Value]
    # (call, loop compiler) -> Python source for one bin
    loop: Callable[[Call, LoopCompiler], str]
    literals: tuple[LiteralRule, ...] = ()
    reads_past: bool = False  # reads earlier bins of its first argument (SHIFT, CONV)
    array_arg: int | None = None  # the argument that may be an array literal

    def literal(self, index: int) -> LiteralRule | None:
        return next((r for r in self.literals if r.index == index), None)

    @property
    def arity_text(self) -> str:
        if self.max_args is None:
            return f"at least {self.min_args}"
        if self.min_args == self.max_args:
            return str(self.min_args)
        return f"{self.min_args} to {self.max_args}"


def _int(node: Expr) -> int:
    assert isinstance(node, Num)
    return int(node.value)


def _lag(node: Expr, bins: int) -> int:
    return min(_int(node), bins)  # a lag of the grid's length or more: all initial values


def kernel_of(node: Expr) -> tuple[float, ...]:
    if isinstance(node, ArrayLit):
        return node.values
    assert isinstance(node, Num)
    return (node.value,)


# -- vectorised implementations (numpy) ---------------------------------------------------

def _array(value: Value, bins: int) -> np.ndarray:
    return value if isinstance(value, np.ndarray) else np.full(bins, float(value))


def shift_series(x: Value, lag: int, bins: int, initial: float) -> Value:
    """x from `lag` bins earlier along the last axis (a batch of samples keeps its rows)."""
    if lag == 0:
        return x
    batch = x.shape[:-1] if isinstance(x, np.ndarray) else ()
    out = np.empty((*batch, bins))
    k = min(lag, bins)
    out[..., :k] = initial
    out[..., k:] = x[..., : bins - k] if isinstance(x, np.ndarray) else float(x)
    return out


def _v_shift(call: Call, ev: Evaluate, bins: int, initial: Mapping[str, float]) -> Value:
    target = call.args[0]
    start = initial.get(target.name, 0.0) if isinstance(target, Ref) else 0.0
    return shift_series(ev(0), _lag(call.args[1], bins), bins, start)


def _v_reduce(ufunc: np.ufunc) -> Callable[[Call, Evaluate, int, Mapping[str, float]], Value]:
    def impl(call: Call, ev: Evaluate, bins: int, initial: Mapping[str, float]) -> Value:
        result = ev(0)
        for i in range(1, len(call.args)):
            result = ufunc(result, ev(i))
        return float(result) if isinstance(result, np.floating) else result

    return impl


def _v_clamp(call: Call, ev: Evaluate, bins: int, initial: Mapping[str, float]) -> Value:
    result = np.maximum(ev(1), np.minimum(ev(2), ev(0)))
    return float(result) if isinstance(result, np.floating) else result


def _v_unary(fn: Callable[[Any], Any]) -> Callable[[Call, Evaluate, int, Mapping[str, float]], Value]:
    def impl(call: Call, ev: Evaluate, bins: int, initial: Mapping[str, float]) -> Value:
        result = fn(ev(0))
        return result if isinstance(result, np.ndarray) else float(result)

    return impl


def round_half_away(x: Any) -> Any:
    whole = np.trunc(x)
    bump = np.where(np.abs(np.asarray(x) - whole) >= 0.5, np.sign(x), 0.0)
    return whole + bump


def euclid_mod(a: Value, b: Value, bins: int) -> Value:
    if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        return _mod(float(a), float(b))
    a_arr, b_arr = _array(a, bins), _array(b, bins)
    divisor = np.where(b_arr == 0, 1.0, np.abs(b_arr))
    with np.errstate(invalid="ignore"):
        return np.where(b_arr == 0, 0.0, np.mod(a_arr, divisor))


def _v_mod(call: Call, ev: Evaluate, bins: int, initial: Mapping[str, float]) -> Value:
    return euclid_mod(ev(0), ev(1), bins)


def _v_step(call: Call, ev: Evaluate, bins: int, initial: Mapping[str, float]) -> Value:
    x, threshold = ev(0), ev(1)
    if not isinstance(x, np.ndarray) and not isinstance(threshold, np.ndarray):
        return 1.0 if x >= threshold else 0.0
    return np.where(np.asarray(x) >= threshold, 1.0, 0.0)


def _v_safe(call: Call, ev: Evaluate, bins: int, initial: Mapping[str, float]) -> Value:
    x = ev(0)
    default = float(call.args[1].value) if len(call.args) > 1 else 0.0  # type: ignore[union-attr]
    if not isinstance(x, np.ndarray):
        return x if math.isfinite(x) else default
    return np.where(np.isfinite(x), x, default)


def _v_if(call: Call, ev: Evaluate, bins: int, initial: Mapping[str, float]) -> Value:
    cond, a, b = ev(0), ev(1), ev(2)
    if not any(isinstance(v, np.ndarray) for v in (cond, a, b)):
        return a if cond > 0 else b
    return np.where(np.asarray(cond) > 0, a, b)


def pulse_literals(call: Call, bins: int) -> tuple[int, int]:
    """Period and phase, clamped to the grid: a period beyond it fires once, at the phase,
    as `bins` does; a phase beyond it never fires, as `bins` does (so huge literals stay
    small integers)."""
    period = min(_int(call.args[0]), bins)
    phase = min(_int(call.args[1]), bins) if len(call.args) > 1 else 0
    return max(period, 1), phase


def _v_pulse(call: Call, ev: Evaluate, bins: int, initial: Mapping[str, float]) -> Value:
    period, phase = pulse_literals(call, bins)
    amplitude = ev(2) if len(call.args) > 2 else 1.0
    t = np.arange(bins)
    return np.where((t >= phase) & ((t - phase) % period == 0), amplitude, 0.0)


def _v_conv(call: Call, ev: Evaluate, bins: int, initial: Mapping[str, float]) -> Value:
    x = _array(ev(0), bins)
    out = np.zeros(bins)
    for j, k in enumerate(kernel_of(call.args[1])):
        # Same terms in the same order as the loop evaluator (k0·x[t] + k1·x[t−1] + …).
        out = out + k * shift_series(x, j, bins, 0.0)
    return out


# -- bin-by-bin implementations (Python source for the compiled loop) ---------------------

def _div(a: float, b: float) -> float:
    return a / b if b != 0 else 0.0


def _mod(a: float, b: float) -> float:
    if b == 0:
        return 0.0
    if a != a or b != b or math.isinf(a):
        return math.nan
    return a % abs(b)


def _floor(x: float) -> float:
    return float(math.floor(x)) if math.isfinite(x) else x


def _ceil(x: float) -> float:
    return float(math.ceil(x)) if math.isfinite(x) else x


def _round(x: float) -> float:
    if not math.isfinite(x):
        return x
    whole = float(math.trunc(x))
    if abs(x - whole) >= 0.5:
        whole += math.copysign(1.0, x)
    return whole


def _abs(x: float) -> float:
    return abs(x)


# Helpers the generated loop code calls by name.
LOOP_HELPERS: dict[str, Callable[..., float]] = {
    "_div": _div, "_mod": _mod, "_floor": _floor, "_ceil": _ceil,
    "_round": _round, "_abs": _abs,
}


def _l_helper(helper: str) -> Callable[[Call, LoopCompiler], str]:
    def emit(call: Call, compiler: LoopCompiler) -> str:
        return f"{helper}({', '.join(compiler.emit(a) for a in call.args)})"

    return emit


def _l_shift(call: Call, compiler: LoopCompiler) -> str:
    target, lag = call.args[0], _int(call.args[1])
    if lag == 0:
        return compiler.emit(target)
    assert isinstance(target, Ref)  # validation guarantees this inside a loop
    return compiler.past(target, lag)


def _pick(compiler: LoopCompiler, a: str, b: str, smaller: bool) -> str:
    """Inline NaN-propagating MIN/MAX of two values (each evaluated once): faster than a
    call, and, unlike Python's `min`, NaN in either argument gives NaN as numpy does."""
    if compiler.functional:
        return f"{'_min2' if smaller else '_max2'}({a}, {b})"
    x, y = compiler.temp(), compiler.temp()
    op = "<=" if smaller else ">="
    return f"({x} if ({x} := {a}) {op} ({y} := {b}) else ({y} if {y} {op} {x} else {x} + {y}))"


def _l_reduce(smaller: bool) -> Callable[[Call, LoopCompiler], str]:
    def emit(call: Call, compiler: LoopCompiler) -> str:
        parts = [compiler.emit(a) for a in call.args]
        result = parts[0]
        for part in parts[1:]:
            result = _pick(compiler, result, part, smaller)
        return result

    return emit


def _l_clamp(call: Call, compiler: LoopCompiler) -> str:
    v, lo, hi = (compiler.emit(a) for a in call.args)
    return _pick(compiler, lo, _pick(compiler, hi, v, smaller=True), smaller=False)


def _l_step(call: Call, compiler: LoopCompiler) -> str:
    x, threshold = (compiler.emit(a) for a in call.args)
    return f"(1.0 if {x} >= {threshold} else 0.0)"


def _l_safe(call: Call, compiler: LoopCompiler) -> str:
    default = float(call.args[1].value) if len(call.args) > 1 else 0.0  # type: ignore[union-attr]
    fallback = compiler.emit(Num(default))
    if compiler.functional:
        return f"_safe({compiler.emit(call.args[0])}, {fallback})"
    x = compiler.temp()
    # x - x == 0 exactly when x is finite (NaN and ±inf give NaN).
    return f"({x} if ({x} := {compiler.emit(call.args[0])}) - {x} == 0 else {fallback})"


def _l_if(call: Call, compiler: LoopCompiler) -> str:
    cond, a, b = (compiler.emit(arg) for arg in call.args)
    return f"({a} if {cond} > 0 else {b})"


def _l_pulse(call: Call, compiler: LoopCompiler) -> str:
    period, phase = pulse_literals(call, compiler.bins)
    amplitude = compiler.emit(call.args[2]) if len(call.args) > 2 else "1.0"
    return f"({amplitude} if t >= {phase} and (t - {phase}) % {period} == 0 else 0.0)"


def _l_conv(call: Call, compiler: LoopCompiler) -> str:
    target = call.args[0]
    assert isinstance(target, Ref)  # validation guarantees this inside a loop
    terms = [f"{k!r} * {compiler.past_or_zero(target, j)}"
             for j, k in enumerate(kernel_of(call.args[1]))]
    return "(0.0 + " + " + ".join(terms) + ")"


FUNCTIONS: dict[str, FunctionSpec] = {spec.name: spec for spec in (
    FunctionSpec(
        "SHIFT", 2, 2, "x from k bins earlier; before the grid, x's initial condition (else 0).",
        "SHIFT(backlog, 1)", _v_shift, _l_shift,
        literals=(LiteralRule(1, "lag"),), reads_past=True),
    FunctionSpec("MIN", 2, None, "The smallest argument, bin by bin (NaN if any is NaN).",
                 "MIN(demand, capacity)", _v_reduce(np.minimum), _l_reduce(smaller=True)),
    FunctionSpec("MAX", 2, None, "The largest argument, bin by bin (NaN if any is NaN).",
                 "MAX(0, backlog - served)", _v_reduce(np.maximum), _l_reduce(smaller=False)),
    FunctionSpec("CLAMP", 3, 3, "v limited to [lo, hi]: MAX(lo, MIN(hi, v)).",
                 "CLAMP(ratio, 0, 1)", _v_clamp, _l_clamp),
    FunctionSpec("ABS", 1, 1, "Absolute value.", "ABS(delta)", _v_unary(np.abs),
                 _l_helper("_abs")),
    FunctionSpec("FLOOR", 1, 1, "Round down to a whole number.", "FLOOR(orders / 10)",
                 _v_unary(np.floor), _l_helper("_floor")),
    FunctionSpec("CEIL", 1, 1, "Round up to a whole number.", "CEIL(orders / 10)",
                 _v_unary(np.ceil), _l_helper("_ceil")),
    FunctionSpec("ROUND", 1, 1, "Round to the nearest whole number, halves away from zero.",
                 "ROUND(demand * 0.02)", _v_unary(round_half_away), _l_helper("_round")),
    FunctionSpec("MOD", 2, 2, "Euclidean remainder (≥ 0 for b > 0); MOD(a, 0) is 0.",
                 "MOD(t_index, 7)", _v_mod, _l_helper("_mod")),
    FunctionSpec("STEP", 2, 2, "1 where x ≥ threshold, else 0.", "STEP(backlog, 50)",
                 _v_step, _l_step),
    FunctionSpec("SAFE", 1, 2, "x where it is a finite number, else the default (0).",
                 "SAFE(arrivals)", _v_safe, _l_safe, literals=(LiteralRule(1, "default", None),)),
    FunctionSpec("IF", 3, 3, "a where cond > 0, else b (NaN counts as not > 0).",
                 "IF(backlog - 50, capacity * 2, capacity)", _v_if, _l_if),
    FunctionSpec(
        "PULSE", 1, 3, "amplitude (default 1) in bins t ≥ phase with (t − phase) mod period = 0, "
        "else 0.", "PULSE(6, 2, 30)", _v_pulse, _l_pulse,
        literals=(LiteralRule(0, "period", 1), LiteralRule(1, "phase"))),
    FunctionSpec(
        "CONV", 2, 2, "Causal convolution: Σ_j k_j · x[t − j] over j ≤ t (kernel: array literal "
        "or number).", "CONV(shipped, [0, 0.5, 0.5])", _v_conv, _l_conv,
        literals=(LiteralRule(1, "kernel"),), reads_past=True, array_arg=1),
)}
