"""A digest of every bundle file of every shipped template, run with fixed seeds, a fixed
clock and deterministic ids: `python scripts/bundle_digests.py` prints them as JSON;
`--check FILE` compares with a stored set and exits 1 naming what changed. A refactor that
must keep bundles byte-identical (issue 34) runs `--check tests/golden/bundle-digests.json`;
tests/unit/test_bundle_digests.py does the same in CI. A deliberate change of output
rewrites the file (`--write FILE`) in the same commit, so the change is visible."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flowtime.adapters.stores.memory import MemoryArtifactStore
from flowtime.adapters.templates.directory import DirectoryTemplateSource, shipped_templates_dir
from flowtime.domain.artifacts.hashing import sha256_bytes
from flowtime.domain.runs import RunRequest
from flowtime.domain.services.orchestration import RunOrchestrationService


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def monotonic(self) -> float:
        return (self.now() - datetime(2026, 1, 1, tzinfo=UTC) + timedelta()).total_seconds()


class FixedRandom:
    def seed(self) -> int:
        return 42

    def token(self) -> str:
        return "00000000"


def digests() -> dict[str, dict[str, str]]:
    source = DirectoryTemplateSource(shipped_templates_dir())
    found: dict[str, dict[str, str]] = {}
    for path in sorted(shipped_templates_dir().glob("*.yaml")):
        store = MemoryArtifactStore()
        service = RunOrchestrationService(source, store, FixedClock(), random=FixedRandom())
        result = service.create_run(RunRequest(template_id=path.stem, seed=7,
                                               deterministic_run_id=True))
        assert result.record is not None
        run_id = result.record.run_id
        found[path.stem] = {name: sha256_bytes(store.read(run_id, name))[7:23]
                            for name in sorted(store.list_files(run_id))}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", type=Path, help="compare with this file")
    group.add_argument("--write", type=Path, help="write the digests to this file")
    args = parser.parse_args()
    now = digests()
    if args.write:
        args.write.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        return
    if args.check:
        before = json.loads(args.check.read_text())
        changed = [f"{t}/{f}" for t in sorted(set(before) | set(now))
                   for f in sorted(set(before.get(t, {})) | set(now.get(t, {})))
                   if before.get(t, {}).get(f) != now.get(t, {}).get(f)]
        for item in changed:
            print(f"changed: {item}")
        sys.exit(1 if changed else 0)
    print(json.dumps(now, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
