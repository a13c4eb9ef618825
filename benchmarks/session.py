"""What-if sessions (issue 19): re-evaluating a compiled 50-node × 288-bin model when a
knob moves, against creating a run of the same model in process (memory store: evaluate,
check, build and validate the bundle), measured in the same run. (Our `dryRun` stops
before evaluating, and models are cached by parameters, so a dry run costs ~0.1 ms and
says nothing about evaluation.)"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import Row, median, repeat
from benchmarks.models import service_template
from flowtime.adapters.stores.memory import MemoryArtifactStore
from flowtime.container import Settings, build_container
from flowtime.domain.runs import RunRequest
from flowtime.domain.services.session import WhatIfSession

TARGET_MS = 10.0


def run(quick: bool = False) -> list[Row]:
    nodes, bins, count = (10, 24, 20) if quick else (50, 288, 200)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "templates").mkdir()
        (root / "templates" / "bench.yaml").write_text(service_template(nodes, bins))
        container = build_container(Settings.from_env({
            "FLOWTIME_DATA_DIR": str(root / "data"),
            "FLOWTIME_TEMPLATES_DIR": str(root / "templates")}), store=MemoryArtifactStore())
        service = container.orchestration()
        values = iter(range(10**9))
        dry = repeat(lambda: service.create_run(RunRequest(
            "bench-services", seed=next(values))), count, 3)
        session = WhatIfSession.open(container.analysis(), {"templateId": "bench-services"})
        series = ["q0", "v0", f"q{nodes // 5 - 1}"]
        moves = iter(range(10**9))
        moved = repeat(lambda: session.set(
            {"set": {"k0": 18 + next(moves) % 8}, "series": series}), count, 3)
    p50, baseline = median(moved), median(dry)
    return [Row("session", f"set p50 ms ({nodes} nodes × {bins} bins)", p50, baseline,
                f"≤ {TARGET_MS:g} ms", p50 <= TARGET_MS,
                "baseline: create_run of the same model, memory store")]
