"""Per-node random streams: the batch derivation (`batch_uniforms`) must give, row for row,
the very draws numpy's own SeedSequence + PCG64 give a single run."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowtime.domain.evaluate.random import batch_uniforms, node_uniforms

EDGE_SEEDS = [0, 1, 2, 7, 42, 123456789, 2**31, 2**32 - 1, 2**32, 2**40 + 3, 2**63,
              2**64 - 1, 2**64 + 5, 2**96 + 11, 2**127 + 9, 2**128 - 1]


def _numpy_reference(seed: int, node_id: str, count: int) -> np.ndarray:
    """Written from numpy's public classes only, independent of flowtime's derivation."""
    import hashlib

    key = hashlib.sha256(f"{seed}\x00{node_id}".encode()).digest()
    words = tuple(int.from_bytes(key[i:i + 4], "little") for i in range(0, 16, 4))
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=words)
    return np.random.Generator(np.random.PCG64(sequence)).random(count)


@pytest.mark.parametrize("node_id", ["a", "arrivals", "node-with-ünïcode", "p0"])
def test_batch_rows_equal_numpy_streams_at_edge_seeds(node_id: str) -> None:
    rows = batch_uniforms("pcg64", EDGE_SEEDS, node_id, 7)
    assert rows.shape == (len(EDGE_SEEDS), 7)
    for row, seed in zip(rows, EDGE_SEEDS, strict=True):
        np.testing.assert_array_equal(row, _numpy_reference(seed, node_id, 7))
        np.testing.assert_array_equal(row, node_uniforms("pcg64", seed, node_id, 7))


def test_seeds_beyond_128_bits_and_pcg32_take_the_plain_path() -> None:
    seeds = [3, 2**130 + 1]
    rows = batch_uniforms("pcg64", seeds, "n", 4)
    for row, seed in zip(rows, seeds, strict=True):
        np.testing.assert_array_equal(row, _numpy_reference(seed, "n", 4))
    rows = batch_uniforms("pcg32", [1, 2], "n", 4)
    np.testing.assert_array_equal(rows[1], node_uniforms("pcg32", 2, "n", 4))
    assert not np.array_equal(rows[0], rows[1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**128 - 1), min_size=1, max_size=12),
       st.text(min_size=1, max_size=12), st.integers(min_value=0, max_value=40))
def test_any_seeds_any_node(seeds: list[int], node_id: str, count: int) -> None:
    rows = batch_uniforms("pcg64", seeds, node_id, count)
    for row, seed in zip(rows, seeds, strict=True):
        np.testing.assert_array_equal(row, _numpy_reference(seed, node_id, count))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**70), min_size=1, max_size=6),
       st.text(min_size=1, max_size=8), st.integers(min_value=0, max_value=60))
def test_vectorised_pcg32_equals_the_step_by_step_generator(seeds: list[int], node_id: str,
                                                            count: int) -> None:
    import hashlib
    import warnings

    from flowtime.domain.evaluate.random import Pcg32

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # uint64 wrap-around must not warn
        rows = batch_uniforms("pcg32", seeds, node_id, count)
    for row, seed in zip(rows, seeds, strict=True):
        key = hashlib.sha256(f"{seed}\x00{node_id}".encode()).digest()
        stepped = Pcg32(int.from_bytes(key[:8], "little"),
                        int.from_bytes(key[8:16], "little")).uniforms(count)
        np.testing.assert_array_equal(row, stepped)
        np.testing.assert_array_equal(row, node_uniforms("pcg32", seed, node_id, count))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=1, max_size=12)
       .filter(lambda p: sum(p) > 0),
       st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.999999, 0.4]) |
                st.floats(0.0, 1.0, exclude_max=True), min_size=0, max_size=50))
def test_pmf_sampling_is_the_inverse_cdf(probabilities: list[float], draws: list[float]) -> None:
    """Small PMFs count bounds, large ones binary-search: both are the first value whose
    cumulative probability exceeds the draw (written here as a plain loop)."""
    from flowtime.domain.evaluate.random import sample_pmf

    values = [float(10 * i + 1) for i in range(len(probabilities))]
    cumulative = np.cumsum(np.asarray(probabilities, dtype=float))
    cumulative /= cumulative[-1]
    expected = []
    for u in draws:
        k = 0
        while k < len(values) - 1 and cumulative[k] <= u:
            k += 1
        expected.append(values[k])
    got = sample_pmf(values, probabilities, np.asarray(draws, dtype=float))
    assert got.tolist() == expected


def test_pcg32_batches_are_drawn_in_bounded_parts(monkeypatch):
    from flowtime.domain.evaluate import random as random_module

    seeds = list(range(9))
    whole = batch_uniforms("pcg32", seeds, "n", 25)
    monkeypatch.setattr(random_module, "PCG32_PART_VALUES", 100)  # 2 seeds a part
    parts = batch_uniforms("pcg32", seeds, "n", 25)
    np.testing.assert_array_equal(parts, whole)
    assert batch_uniforms("pcg32", [], "n", 5).shape == (0, 5)
