"""Per-node random streams derived from (seed, node id).

Each PMF node draws from its own stream, so adding a node never changes another node's
samples. `pcg64` uses numpy's PCG64 with a SeedSequence keyed by the node id; `pcg32` is
the standard PCG32 XSH-RR generator (accepted from reference templates).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

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


PCG32_PART_VALUES = 2_000_000


def pcg32_uniforms(keys: Sequence[bytes], count: int) -> np.ndarray:
    """`Pcg32(initstate, initseq).uniforms(count)` for each node key (initstate and initseq
    its first two little-endian 64-bit words), all rows and bins at once: the LCG's k-th
    state is M^k·s0 + inc·(M^(k-1) + … + 1) mod 2^64, so every state is one vectorised
    multiply-add (uint64 arithmetic wraps mod 2^64) instead of a Python step per draw."""
    words = np.frombuffer(b"".join(k[:16] for k in keys), dtype="<u8").reshape(len(keys), 2)
    initstate, initseq = words[:, 0].astype(np.uint64), words[:, 1].astype(np.uint64)
    one, mult = np.uint64(1), np.uint64(_PCG_MULT)
    inc = (initseq << one) | one
    start = (inc + initstate) * mult + inc  # the state after seeding (two steps)
    steps = 2 * count
    powers = np.empty(steps, dtype=np.uint64)  # M^k
    sums = np.empty(steps, dtype=np.uint64)  # M^(k-1) + … + 1
    if steps:
        powers[0], sums[0] = 1, 0
        powers[1:] = mult
        np.cumprod(powers, out=powers)
        np.cumsum(powers[:-1], out=sums[1:])
    old = powers[None, :] * start[:, None] + inc[:, None] * sums[None, :]
    xorshifted = (((old >> np.uint64(18)) ^ old) >> np.uint64(27)) & np.uint64(0xFFFFFFFF)
    rot = old >> np.uint64(59)
    left = (np.uint64(32) - rot) & np.uint64(31)
    draws = ((xorshifted >> rot) | (xorshifted << left)) & np.uint64(0xFFFFFFFF)
    high = (draws[:, 0::2] >> np.uint64(5)).astype(np.float64)
    low = (draws[:, 1::2] >> np.uint64(6)).astype(np.float64)
    return (high * 67108864.0 + low) / 9007199254740992.0


def _spawn_words(key: bytes) -> tuple[int, ...]:
    return tuple(int.from_bytes(key[i : i + 4], "little") for i in range(0, 16, 4))


def node_uniforms(kind: str, seed: int, node_id: str, count: int) -> np.ndarray:
    """Uniform [0, 1) draws for one node's stream."""
    key = _node_key(seed, node_id)
    if kind == "pcg32":
        return pcg32_uniforms([key], count)[0]
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=_spawn_words(key))
    return np.random.Generator(np.random.PCG64(sequence)).random(count)


def batch_uniforms(kind: str, seeds: Sequence[int], node_id: str, count: int) -> np.ndarray:
    """`node_uniforms` for many seeds at once: one row per seed, row i bit-identical to
    `node_uniforms(kind, seeds[i], node_id, count)`.

    Building numpy's SeedSequence and PCG64 costs ~20 µs per seed, more than drawing a
    day of values; here the SeedSequence mixing runs as uint32 array arithmetic over all
    seeds at once, the PCG64 seeding step in Python integers, and one generator is re-pointed
    at each derived state (`tests/unit/test_random.py` checks the derivation against numpy's
    own classes)."""
    if kind == "pcg32":  # in parts: the LCG states of a part are rows × 2·count uint64s
        keys = [_node_key(int(s), node_id) for s in seeds]
        step = max(1, PCG32_PART_VALUES // max(1, 2 * count))
        return np.concatenate([pcg32_uniforms(keys[i:i + step], count)
                               for i in range(0, len(keys), step)] or [np.empty((0, count))])
    out = np.empty((len(seeds), count))
    if not all(0 <= int(s) < 1 << 128 for s in seeds):  # rare: per seed, the plain way
        for i, seed in enumerate(seeds):
            out[i] = node_uniforms(kind, int(seed), node_id, count)
        return out
    digests = b"".join(_node_key(int(s), node_id) for s in seeds)
    keys = np.frombuffer(digests, dtype="<u4").reshape(len(seeds), 8)[:, :4]
    if all(int(s) < 1 << 64 for s in seeds):
        as_u64 = np.array([int(s) for s in seeds], dtype=np.uint64)
        seed_words = np.zeros((len(seeds), 4), dtype=np.uint32)
        seed_words[:, 0] = as_u64 & np.uint64(0xFFFFFFFF)
        seed_words[:, 1] = as_u64 >> np.uint64(32)
    else:
        seed_words = np.array([[(int(s) >> (32 * k)) & 0xFFFFFFFF for k in range(4)]
                               for s in seeds], dtype=np.uint32)
    words = _seed_sequence_state(np.concatenate([seed_words, keys.astype(np.uint32)], axis=1))
    bit_generator = np.random.PCG64(0)
    generator = np.random.Generator(bit_generator)
    for i, row in enumerate(words.tolist()):
        state, inc = _pcg64_seeded((row[0] << 64) | row[1], (row[2] << 64) | row[3])
        bit_generator.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc},
                               "has_uint32": 0, "uinteger": 0}
        out[i] = generator.random(count)
    return out


# numpy's SeedSequence (pool of 4 uint32 words; O'Neill's seed_seq mixing)
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _M32 = 0xCA01F9DD, 0x4973F715, 0xFFFFFFFF
_PCG128_MULT = (2549297995355413924 << 64) + 4865540595714422341
_M128 = (1 << 128) - 1


def _seed_sequence_state(entropy: np.ndarray) -> np.ndarray:
    """SeedSequence(entropy=seed, spawn_key=key).generate_state(4, uint64) for each row of
    `entropy` (the seed's 4 little-endian uint32 words, then the 4 key words): rows × 4."""
    rows, length = entropy.shape
    hash_const = _INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal hash_const
        value = value ^ np.uint32(hash_const)
        hash_const = (hash_const * _MULT_A) & _M32
        value = value * np.uint32(hash_const)
        return value ^ (value >> np.uint32(16))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
        return result ^ (result >> np.uint32(16))

    pool = [hashmix(entropy[:, i]) for i in range(4)]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(4, length):
        for dst in range(4):
            pool[dst] = mix(pool[dst], hashmix(entropy[:, src]))
    state = np.empty((rows, 8), dtype=np.uint32)
    const = _INIT_B
    for k in range(8):
        value = pool[k % 4] ^ np.uint32(const)
        const = (const * _MULT_B) & _M32
        value = value * np.uint32(const)
        state[:, k] = value ^ (value >> np.uint32(16))
    low, high = state[:, 0::2].astype(np.uint64), state[:, 1::2].astype(np.uint64)
    return low | (high << np.uint64(32))


def _pcg64_seeded(initstate: int, initseq: int) -> tuple[int, int]:
    """PCG64's (state, increment) after seeding (pcg_setseq_128_srandom_r)."""
    inc = ((initseq << 1) | 1) & _M128
    state = inc  # 0 × multiplier + inc
    state = (state + initstate) & _M128
    return (state * _PCG128_MULT + inc) & _M128, inc


def sample_pmf(
    values: list[float], probabilities: list[float], uniforms: np.ndarray
) -> np.ndarray:
    """Inverse-CDF sampling: one independent draw per bin (the first value whose
    cumulative probability exceeds the draw)."""
    cumulative = np.cumsum(np.asarray(probabilities, dtype=float))
    cumulative /= cumulative[-1]
    if len(values) <= 8:  # a few comparisons beat a binary search per draw
        # how many of the first n − 1 cumulative bounds are ≤ u: the same index as
        # searchsorted(side="right") capped at n − 1
        index = np.zeros(uniforms.shape, dtype=np.intp)
        for bound in cumulative[:-1].tolist():
            index += uniforms >= bound
    else:
        index = np.searchsorted(cumulative, uniforms, side="right")
        np.minimum(index, len(values) - 1, out=index)
    return np.asarray(values, dtype=float).take(index)
