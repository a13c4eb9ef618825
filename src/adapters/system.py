"""The real clock and the operating system's randomness."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.perf_counter()


class SystemRandom:
    def seed(self) -> int:
        return secrets.randbits(31)

    def token(self) -> str:
        return secrets.token_hex(4)
