"""Every shipped template's bundle, byte for byte, is what tests/golden/bundle-digests.json
records (fixed seed, clock and ids): a refactor changes no output by accident. A change of
output on purpose rewrites the file in the same commit:
`python scripts/bundle_digests.py --write tests/golden/bundle-digests.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_bundles_are_byte_identical_to_the_recorded_digests():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import bundle_digests
    finally:
        sys.path.pop(0)
    recorded = json.loads((ROOT / "tests" / "golden" / "bundle-digests.json").read_text())
    now = bundle_digests.digests()
    assert sorted(now) == sorted(recorded)
    changed = [f"{t}/{f}" for t in recorded for f in sorted(set(recorded[t]) | set(now[t]))
               if recorded[t].get(f) != now[t].get(f)]
    assert changed == []
