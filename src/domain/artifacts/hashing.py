"""Canonical JSON, sha256 content hashes and run ids."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text: the input of every scenario hash."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def sha256_canonical(value: Any) -> str:
    return sha256_bytes(canonical_json(value).encode("utf-8"))


def random_run_id(now: datetime, token: str) -> str:
    return f"run_{now.strftime('%Y%m%dT%H%M%SZ')}_{token}"


def deterministic_run_id(scenario_hash: str) -> str:
    return f"run_deterministic_{scenario_hash.removeprefix('sha256:')[:16]}"


def is_valid_run_id(run_id: str) -> bool:
    return bool(RUN_ID_PATTERN.fullmatch(run_id))


def seed_from_hash(scenario_hash: str) -> int:
    """A 31-bit seed derived from a scenario hash (deterministic mode without a seed)."""
    return int(scenario_hash.removeprefix("sha256:")[:8], 16) & 0x7FFFFFFF
