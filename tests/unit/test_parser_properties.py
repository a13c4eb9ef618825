"""Property tests: valid expressions round-trip; garbage only ever raises ExpressionError."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from flowtime.domain.expressions.ast import BinOp, Call, Neg, Num, Ref, to_source
from flowtime.domain.expressions.functions import FUNCTIONS
from flowtime.domain.expressions.parser import ExpressionError, parse_expression

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: n.upper() not in FUNCTIONS)
numbers = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
leaves = st.one_of(numbers.map(Num), names.map(Ref))


def _extend(children):
    return st.one_of(
        children.map(Neg),
        st.tuples(st.sampled_from("+-*/"), children, children).map(lambda t: BinOp(*t)),
        st.tuples(children, st.integers(0, 5)).map(
            lambda t: Call("SHIFT", (t[0], Num(float(t[1]))))),
        st.lists(children, min_size=2, max_size=4).map(lambda a: Call("MAX", tuple(a))),
        st.tuples(children, children, children).map(lambda t: Call("CLAMP", t)),
        children.map(lambda c: Call("ROUND", (c,))),
    )


expressions = st.recursive(leaves, _extend, max_leaves=12)


@given(expressions)
@settings(max_examples=300, deadline=None)
def test_valid_expressions_round_trip_through_source(tree):
    assert parse_expression(to_source(tree)) == tree


@given(st.text(alphabet="abcXYZ_019.,+-*/()[] eE$#", max_size=40))
@settings(max_examples=500, deadline=None)
def test_garbage_never_raises_anything_but_the_domain_error(text):
    try:
        parse_expression(text)
    except ExpressionError as exc:
        assert exc.column >= 1


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_arbitrary_unicode_never_crashes_the_parser(text):
    with contextlib.suppress(ExpressionError):
        parse_expression(text)
