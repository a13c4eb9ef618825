"""Series CSV text: every value exactly as Python's repr writes it (integral values as
ints), whatever fast path writes the file."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from flowtime.domain.artifacts.bundle import series_csv


def _oracle(values: list[float]) -> bytes:
    """Row by row with Python's own formatting."""
    rows = ["t,value"]
    for t, v in enumerate(values):
        if math.isnan(v):
            text = "NaN"
        elif math.isinf(v):
            text = "Infinity" if v > 0 else "-Infinity"
        elif v == int(v) and abs(v) < 1e16:
            text = str(int(v))
        else:
            text = repr(v)
        rows.append(f"{t},{text}")
    return ("\n".join(rows) + "\n").encode()


EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-4, 9.99e-5, 1e-05, -1e-05, 2.5e-07, 5e-324, 1e15 + 0.5,
         9999999999999998.0, 1e16, -1e16, 1.5e300, 123.456, 0.1, 0.30000000000000004, 1e22,
         12345678.9, 2**53 + 2.0, 1e-4 + 1e-20]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(EDGES), st.floats(allow_nan=False,
                                                               allow_infinity=False),
                          st.integers(-10**6, 10**6).map(float)), min_size=1, max_size=40),
       st.booleans())
def test_every_value_is_written_as_repr_writes_it(values, with_special):
    if with_special:
        values = [*values, math.nan, math.inf, -math.inf]
    assert series_csv(np.asarray(values, dtype=np.float64)) == _oracle(values)


def test_edges_all_integral_and_long_series():
    assert series_csv(np.asarray(EDGES)) == _oracle(EDGES)
    whole = np.arange(10_000, dtype=np.float64) - 5000
    assert series_csv(whole) == _oracle(whole.tolist())
    mixed = np.random.default_rng(3).uniform(-1e3, 1e3, 5000)
    assert series_csv(mixed) == _oracle(mixed.tolist())
