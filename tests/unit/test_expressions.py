"""The expression language, evaluated exactly as SPEC §3 describes."""

from __future__ import annotations

import numpy as np
import pytest

from flowtime.domain.expressions.ast import Call, Num, Ref
from flowtime.domain.expressions.parser import ExpressionError, parse_expression
from flowtime.domain.expressions.scalar import evaluate_feedback_group
from flowtime.domain.expressions.vector import as_series, evaluate


def ev(text: str, bins: int = 3, initial: dict[str, float] | None = None, **series):
    env = {k: np.asarray(v, dtype=float) for k, v in series.items()}
    return as_series(evaluate(parse_expression(text), env, bins, initial or {}), bins).tolist()


def test_shift_by_one_takes_zero_before_the_lag():
    assert ev("SHIFT(demand, 1)", demand=[1, 2, 3]) == [0, 1, 2]


def test_shift_uses_initial_condition_when_the_node_has_one():
    assert ev("SHIFT(q, 2)", initial={"q": 7}, q=[1, 2, 3]) == [7, 7, 1]


def test_shift_zero_is_identity():
    assert ev("SHIFT(a, 0)", a=[4, 5, 6]) == [4, 5, 6]


def test_clamp_bounds_each_bin():
    assert ev("CLAMP(v, 0, 1)", v=[-0.5, 0.25, 3]) == [0, 0.25, 1]


def test_arithmetic_with_precedence_and_shift():
    got = ev("(a + b) * 2 + SHIFT(c, 1)", a=[1, 2, 3], b=[1, 1, 1], c=[10, 20, 30])
    assert got == [4, 16, 28]


def test_division_by_zero_yields_zero():
    assert ev("a / 0", a=[1, 2, 3]) == [0, 0, 0]
    assert ev("a / b", a=[1, 2, 3], b=[0, 2, 0]) == [0, 1, 0]


def test_unary_minus_and_exponent_literals():
    assert ev("-a", a=[1, -2, 0]) == [-1, 2, 0]
    assert ev("a * 1e-3 + .5", a=[1000, 2000, 0]) == [1.5, 2.5, 0.5]


def test_min_and_max_take_many_arguments():
    assert ev("MIN(a, b, c)", a=[1, 5, 9], b=[3, 2, 8], c=[2, 4, 7]) == [1, 2, 7]
    assert ev("max(a, b, c)", a=[1, 5, 9], b=[3, 2, 8], c=[2, 4, 7]) == [3, 5, 9]


def test_round_halves_away_from_zero():
    assert ev("ROUND(2.5)", bins=1) == [3]
    assert ev("ROUND(-2.5)", bins=1) == [-3]
    assert ev("ROUND(a)", a=[0.49999999999999994, 1.5, -1.4]) == [0, 2, -1]


def test_mod_is_euclidean():
    assert ev("MOD(-5, 4)", bins=1) == [3]
    assert ev("MOD(a, 4)", a=[-5, 5, 8]) == [3, 1, 0]
    assert ev("MOD(a, 0)", a=[1, 2, 3]) == [0, 0, 0]


def test_floor_ceil_abs_step():
    assert ev("FLOOR(a)", a=[1.7, -1.2, 2]) == [1, -2, 2]
    assert ev("CEIL(a)", a=[1.2, -1.7, 2]) == [2, -1, 2]
    assert ev("ABS(a)", a=[-1, 0, 2]) == [1, 0, 2]
    assert ev("STEP(a, 2)", a=[1, 2, 3]) == [0, 1, 1]


def test_pulse_with_period_phase_and_amplitude():
    assert ev("PULSE(2, 1, a)", bins=6, a=[10, 20, 30, 40, 50, 60]) == [0, 20, 0, 40, 0, 60]
    assert ev("PULSE(3)", bins=7) == [1, 0, 0, 1, 0, 0, 1]


def test_conv_is_causal():
    assert ev("CONV(a, [0.5, 0.25])", a=[4, 8, 12]) == [2, 5, 8]
    assert ev("CONV(a, 2)", a=[1, 2, 3]) == [2, 4, 6]


def test_backlog_recurrence_matches_a_hand_computation():
    # backlog[t] = max(0, backlog[t-1] + arrivals[t] - served[t]), backlog[-1] = 5
    arrivals = [10, 4, 0, 12, 3, 8]
    served = [6, 9, 7, 5, 10, 2]
    expected = [9, 4, 0, 7, 0, 6]
    asts = {"backlog": parse_expression("MAX(0, SHIFT(backlog, 1) + arrivals - served)")}
    env = {"arrivals": np.array(arrivals, float), "served": np.array(served, float)}

    def hoist(node):
        return as_series(evaluate(node, env, 6, {}), 6)

    out = evaluate_feedback_group(["backlog"], asts, 6, {"backlog": 5.0}, hoist)
    assert out["backlog"].tolist() == expected


def test_parser_builds_calls_with_upper_case_names():
    assert parse_expression("shift(a, 2)") == Call("SHIFT", (Ref("a"), Num(2.0)))


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("FOO(a)", 1, "unknown function 'FOO'"),
        ("a + SHIFT(b)", 5, "SHIFT takes 2 arguments, got 1"),
        ("MIN(a)", 1, "MIN takes at least 2 arguments"),
        ("SHIFT(a, b)", 10, "lag must be a non-negative integer literal"),
        ("SHIFT(a, 1.5)", 10, "lag must be a non-negative integer literal"),
        ("PULSE(a)", 7, "period must be a positive integer literal"),
        ("PULSE(2, x)", 10, "phase must be a non-negative integer literal"),
        ("CONV(a, b)", 9, "kernel must be an array literal"),
        ("a + [1, 2]", 5, "does not accept an array literal"),
        ("a + ", 5, "expected a number, node id or '('"),
        ("(a + b", 7, "expected ')'"),
        ("a $ b", 3, "unexpected character '$'"),
        ("a b", 3, "unexpected 'b'"),
        ("", 1, "expression is empty"),
        ("CLAMP(a, 1)", 1, "CLAMP takes 3 arguments, got 2"),
    ],
)
def test_every_error_kind_reports_its_column(text: str, column: int, fragment: str):
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    assert info.value.column == column
    assert fragment in info.value.message


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse_expression("(" * 3000 + "a" + ")" * 3000)
