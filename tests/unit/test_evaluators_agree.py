"""Both evaluators (vectorised numpy, and the compiled bin-by-bin loop used in feedback
groups) give the same series for any well-formed expression, NaN and ±inf included."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from flowtime.domain.expressions.ast import ArrayLit, BinOp, Call, Expr, Neg, Num, Ref, to_source
from flowtime.domain.expressions.functions import FUNCTIONS
from flowtime.domain.expressions.parser import parse_expression
from flowtime.domain.expressions.scalar import evaluate_feedback_group
from flowtime.domain.expressions.vector import as_series, evaluate

BINS = 6
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e300, -1e300, math.inf, -math.inf, math.nan]
values = st.one_of(st.sampled_from(SPECIAL), st.floats(-1e6, 1e6, allow_nan=False))
series = st.lists(values, min_size=BINS, max_size=BINS)
literal = st.one_of(st.sampled_from([0.0, 1.0, 2.0, 0.5, 7.0]),
                    st.floats(-100, 100, allow_nan=False, allow_infinity=False)).map(Num)
refs = st.sampled_from(["a", "b"]).map(Ref)
small_int = st.integers(0, BINS + 1).map(lambda k: Num(float(k)))


def _extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    kernel = st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, -1.0]), min_size=1, max_size=4)
    return st.one_of(
        children.map(Neg),
        st.tuples(st.sampled_from("+-*/"), children, children).map(lambda t: BinOp(*t)),
        st.tuples(refs, small_int).map(lambda t: Call("SHIFT", t)),
        st.tuples(refs, kernel).map(lambda t: Call("CONV", (t[0], ArrayLit(tuple(t[1]))))),
        st.tuples(st.sampled_from(["MIN", "MAX"]), st.lists(children, min_size=2, max_size=3))
        .map(lambda t: Call(t[0], tuple(t[1]))),
        st.tuples(children, children, children).map(lambda t: Call("CLAMP", t)),
        st.tuples(st.sampled_from(["ABS", "FLOOR", "CEIL", "ROUND"]), children)
        .map(lambda t: Call(t[0], (t[1],))),
        st.tuples(st.sampled_from(["MOD", "STEP"]), children, children)
        .map(lambda t: Call(t[0], (t[1], t[2]))),
        st.tuples(children, st.sampled_from([0.0, 7.0, -1.0]))
        .map(lambda t: Call("SAFE", (t[0], Num(t[1]))) if t[1] else Call("SAFE", (t[0],))),
        st.tuples(children, children, children).map(lambda t: Call("IF", t)),
        st.tuples(st.integers(1, 4), st.integers(0, 3), children)
        .map(lambda t: Call("PULSE", (Num(float(t[0])), Num(float(t[1])), t[2]))),
    )


expressions = st.recursive(st.one_of(literal, refs), _extend, max_leaves=10)


def _in_loop(expr: Expr) -> Expr:
    """The same expression over loop members `ga`/`gb` (copies of `a`/`b` made inside the
    group), so every operation runs in the compiled loop instead of being hoisted."""
    if isinstance(expr, Ref):
        return Ref("g" + expr.name)
    if isinstance(expr, Neg):
        return Neg(_in_loop(expr.operand))
    if isinstance(expr, BinOp):
        return BinOp(expr.op, _in_loop(expr.left), _in_loop(expr.right))
    if isinstance(expr, Call):
        return Call(expr.name, tuple(_in_loop(a) if not isinstance(a, ArrayLit) and not (
            FUNCTIONS[expr.name].literal(i)) else a for i, a in enumerate(expr.args)))
    return expr


@given(expressions, series, series, st.sampled_from([0.0, 4.0, math.nan]))
@settings(max_examples=400, deadline=None)
def test_vectorised_and_loop_evaluation_agree(expr, a, b, start):
    text = to_source(expr)
    expr = parse_expression(text)  # well-formed by construction; the parser checks it
    env = {"a": np.array(a), "b": np.array(b)}
    with np.errstate(all="ignore"):
        vector = as_series(evaluate(expr, env, BINS, {"a": start, "b": start}), BINS)

        def hoist(node: Expr):
            value = evaluate(node, env, BINS, {})
            return as_series(value, BINS) if isinstance(value, np.ndarray) else float(value)

        asts = {"ga": Ref("a"), "gb": Ref("b"), "out": _in_loop(expr)}
        loop = evaluate_feedback_group(["ga", "gb", "out"], asts, BINS,
                                       {"ga": start, "gb": start}, hoist)["out"]
    assert np.array_equal(vector, loop, equal_nan=True), (text, vector, loop)


@given(expressions, series, series, st.sampled_from([0.0, 4.0, math.nan]))
@settings(max_examples=25, deadline=None)
def test_the_numba_loop_agrees_bit_for_bit(expr, a, b, start):
    """The third evaluator: the same loop compiled by numba (each new shape compiles, so
    fewer examples; the disk cache goes to a temporary folder)."""
    import os
    import tempfile

    import numba  # noqa: F401 — the test venv has the `fast` extra: fail loudly without it

    from flowtime.domain.expressions import scalar

    text = to_source(expr)
    expr = parse_expression(text)
    env = {"a": np.array(a), "b": np.array(b)}
    asts = {"ga": Ref("a"), "gb": Ref("b"), "out": _in_loop(expr)}

    def hoist(node: Expr):
        value = evaluate(node, env, BINS, {})
        return as_series(value, BINS) if isinstance(value, np.ndarray) else float(value)

    results = {}
    saved = {k: os.environ.get(k) for k in ("FLOWTIME_JIT", "FLOWTIME_JIT_MIN",
                                            "FLOWTIME_CACHE_DIR")}
    try:
        os.environ["FLOWTIME_CACHE_DIR"] = _JIT_CACHE
        for mode, env_value in (("python", "0"), ("numba", "1")):
            os.environ["FLOWTIME_JIT"] = env_value
            os.environ["FLOWTIME_JIT_MIN"] = "0"
            with np.errstate(all="ignore"):
                results[mode] = evaluate_feedback_group(
                    ["ga", "gb", "out"], asts, BINS, {"ga": start, "gb": start}, hoist)["out"]
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert any(p.jit for p in scalar._prepared.values())  # numba really ran
    assert np.array_equal(results["python"], results["numba"], equal_nan=True), (
        text, results)
    del tempfile


_JIT_CACHE = __import__("tempfile").mkdtemp(prefix="flowtime-jit-test-")


def test_min_and_max_propagate_nan_in_both_evaluators():
    env = {"a": np.array([math.nan, 1.0]), "b": np.array([2.0, math.nan])}
    for name in ("MIN", "MAX"):
        expr = parse_expression(f"{name}(a, b)")
        vector = as_series(evaluate(expr, env, 2, {}), 2)
        loop = evaluate_feedback_group(
            ["ga", "gb", "out"], {"ga": Ref("a"), "gb": Ref("b"), "out": _in_loop(expr)}, 2, {},
            lambda node: as_series(evaluate(node, env, 2, {}), 2))["out"]
        assert np.isnan(vector).all() and np.isnan(loop).all()


def test_every_function_is_documented_with_its_example():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "templates.md").read_text()
    for spec in FUNCTIONS.values():
        row = f"| `{spec.name}` | {spec.arity_text} | {spec.doc} | `{spec.example}` |"
        assert row in docs, f"docs/templates.md lacks the row for {spec.name}: {row}"


def test_every_documented_example_parses():
    for spec in FUNCTIONS.values():
        call = parse_expression(spec.example)
        assert isinstance(call, Call) and call.name == spec.name


@given(expressions, series, series, st.sampled_from([0.0, 4.0, math.nan]))
@settings(max_examples=300, deadline=None)
def test_a_batch_of_samples_as_columns_equals_each_sample_alone(expr, a, b, start):
    """The fourth way a loop runs: a Monte Carlo batch evaluates the group once over bins
    with every sample's value per numpy call (columns.py). Each row must be bit for bit
    what that row gives through the compiled loop on its own."""
    from flowtime.domain.expressions import scalar

    text = to_source(expr)
    expr = parse_expression(text)
    rows = scalar.COLUMN_MIN_ROWS + 6
    batch_env = {"a": np.array([np.roll(a, r) for r in range(rows)]),
                 "b": np.array([np.roll(b, -r) * (1 + r % 3) for r in range(rows)])}
    asts = {"ga": Ref("a"), "gb": Ref("b"), "out": _in_loop(expr)}
    initial = {"ga": start, "gb": start}

    def hoist_from(env):
        def hoist(node: Expr):
            value = evaluate(node, env, BINS, {})
            return np.array(value, dtype=np.float64) if isinstance(value, np.ndarray) \
                else float(value)
        return hoist

    with np.errstate(all="ignore"):
        batch = evaluate_feedback_group(["ga", "gb", "out"], asts, BINS, initial,
                                        hoist_from(batch_env))
        assert next(reversed(scalar._columns.values())) is not None  # the column path ran
        for r in range(rows):
            alone = evaluate_feedback_group(
                ["ga", "gb", "out"], asts, BINS, initial,
                hoist_from({k: v[r] for k, v in batch_env.items()}))
            for name in ("ga", "gb", "out"):
                assert _same_bits(batch[name][r], alone[name]), (text, r, name)


def _same_bits(x: np.ndarray, y: np.ndarray) -> bool:
    """Bit for bit (so -0.0 is not 0.0), except that any NaN equals any NaN: which NaN
    payload an operation on two NaNs keeps depends on operand order inside numpy's SIMD
    loops, and no output format tells them apart."""
    nan = np.isnan(x)
    if not np.array_equal(nan, np.isnan(y)):
        return False
    return np.array_equal(x[~nan].view(np.int64), y[~nan].view(np.int64))
