"""Per-node random streams derived from (seed, node id).

Each PMF node draws from its own stream, so adding a node never changes another node's
samples. `pcg64` uses numpy's PCG64 with a SeedSequence keyed by the node id; `pcg32` is
the standard PCG32 XSH-RR generator (accepted from reference templates).
"""

from __future__ import annotations

import hashlib

import numpy as np

_MASK64 = (1 << 64) - 1
_PCG_MULT = 6364136223846793005


def _node_key(seed: int, node_id: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{node_id}".encode()).digest()


class Pcg32:
    """PCG32 XSH-RR: 64-bit LCG state, 32-bit output."""

    def __init__(self, initstate: int, initseq: int):
        self.state = 0
        self.inc = ((initseq << 1) | 1) & _MASK64
        self.next_u32()
        self.state = (self.state + initstate) & _MASK64
        self.next_u32()

    def next_u32(self) -> int:
        old = self.state
        self.state = (old * _PCG_MULT + self.inc) & _MASK64
        xorshifted = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((xorshifted >> rot) | (xorshifted << ((-rot) & 31))) & 0xFFFFFFFF

    def uniforms(self, count: int) -> np.ndarray:
        """`count` doubles in [0, 1) with 53 random bits each."""
        out = np.empty(count)
        for i in range(count):
            a = self.next_u32() >> 5
            b = self.next_u32() >> 6
            out[i] = (a * 67108864.0 + b) / 9007199254740992.0
        return out


def node_uniforms(kind: str, seed: int, node_id: str, count: int) -> np.ndarray:
    """Uniform [0, 1) draws for one node's stream."""
    key = _node_key(seed, node_id)
    if kind == "pcg32":
        initstate = int.from_bytes(key[:8], "little")
        initseq = int.from_bytes(key[8:16], "little")
        return Pcg32(initstate, initseq).uniforms(count)
    words = tuple(int.from_bytes(key[i : i + 4], "little") for i in range(0, 16, 4))
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=words)
    return np.random.Generator(np.random.PCG64(sequence)).random(count)


def sample_pmf(
    values: list[float], probabilities: list[float], uniforms: np.ndarray
) -> np.ndarray:
    """Inverse-CDF sampling: one independent draw per bin."""
    cumulative = np.cumsum(np.asarray(probabilities, dtype=float))
    cumulative /= cumulative[-1]
    index = np.searchsorted(cumulative, uniforms, side="right")
    np.minimum(index, len(values) - 1, out=index)
    return np.asarray(values, dtype=float)[index]
