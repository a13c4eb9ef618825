"""Where the domain gets randomness it does not derive from a seed (random run ids and
seeds of non-deterministic runs), so tests can pin it."""

from __future__ import annotations

from typing import Protocol


class RandomSource(Protocol):
    def seed(self) -> int:
        """A fresh seed in [0, 2**31)."""
        ...

    def token(self) -> str:
        """8 lower-case hex digits for a random run id."""
        ...
