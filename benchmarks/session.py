"""What-if sessions (issue 19): re-evaluating a compiled 50-node × 288-bin model when a
knob moves, against creating a run of the same model in process (memory store: evaluate,
check, build and validate the bundle), measured in the same run. (Our `dryRun` stops
before evaluating, and models are cached by parameters, so a dry run costs ~0.1 ms and
says nothing about evaluation.)"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import Row, median, percentile, repeat
from benchmarks.models import service_template, session_template
from benchmarks.server import running_server
from flowtime.adapters.http.sessions import set_request
from flowtime.adapters.stores.memory import MemoryArtifactStore
from flowtime.container import Settings, build_container
from flowtime.domain.runs import RunRequest
from flowtime.domain.services.analysis_service import StudySource
from flowtime.domain.services.session import WhatIfSession

TARGET_MS = 10.0
# Issue 36: the reference system's session round trip on the same 51 × 288 model with 5
# feedback queues (one knob per message, one series back) was 0.7–0.9 ms on this machine
REFERENCE_ROUND_TRIP_MS = 0.7


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
        session = WhatIfSession.open(container.analysis(), StudySource("bench-services"))
        series = ["q0", "v0", f"q{nodes // 5 - 1}"]
        moves = iter(range(10**9))
        moved = repeat(lambda: session.set({"k0": 18 + next(moves) % 8}, series), count, 3)
    p50, baseline = median(moved), median(dry)
    rows = [Row("session", f"set p50 ms ({nodes} nodes × {bins} bins)", p50, baseline,
                f"≤ {TARGET_MS:g} ms", p50 <= TARGET_MS,
                "baseline: create_run of the same model, memory store")]
    return rows + feedback_session(quick)


def feedback_session(quick: bool = False) -> list[Row]:
    """Issue 36's model (`session_template`): in process, incremental against a full
    re-evaluation in the same run, and the WebSocket round trip on a real server."""
    import asyncio
    import gc

    count = 40 if quick else 400
    text = session_template(51, 5, 288)
    moves = iter(range(10**9))
    message = lambda: {"set": {"k0": 20 + next(moves) % 9}, "series": ["q0"]}  # noqa: E731
    with tempfile.TemporaryDirectory() as folder:
        # the round trip first, from a client process that holds little (a large heap
        # makes the client's own garbage collection part of the figure)
        with running_server({"FLOWTIME_DATA_DIR": folder}) as base:
            gc.collect()
            gc.freeze()  # what the process already holds is not the client's to scan
            try:
                trips = asyncio.run(_round_trips(base.replace("http", "ws", 1), text,
                                                 message, count))
            finally:
                gc.unfreeze()
        container = build_container(Settings.from_env({"FLOWTIME_DATA_DIR": folder}),
                                    store=MemoryArtifactStore())
        session = WhatIfSession.open(container.analysis(), StudySource(None, text))
        incremental = repeat(lambda: session.set(*set_request(message())), count, 20)
        full = repeat(lambda: session.study.evaluate({"k0": 20 + next(moves) % 9}), count, 20)
    return [
        Row("session feedback set in process (51 × 288, 5 loops)", "p50 ms",
            median(incremental), median(full), "≤ 0.5× a full evaluation",
            median(incremental) <= 0.5 * median(full),
            "baseline: evaluating the whole model"),
        Row("session feedback round trip over WebSocket", "p50 ms", median(trips),
            REFERENCE_ROUND_TRIP_MS, f"≤ {REFERENCE_ROUND_TRIP_MS} ms (the reference's)",
            median(trips) <= REFERENCE_ROUND_TRIP_MS,
            f"p99 {percentile(trips, 99):.2f} ms; baseline: the reference session (issue 36)"),
    ]


async def _round_trips(base: str, text: str, message, count: int) -> list[float]:
    """Milliseconds per `set` → reply over one session, from an event-loop client (as a
    browser is: no thread hop inside the client); 20 unmeasured first."""
    import json
    import time

    from websockets.asyncio.client import connect

    async with connect(base + "/v1/sessions") as socket:
        await socket.send(json.dumps({"template": text}))
        assert json.loads(await socket.recv())["ready"]
        samples = []
        for i in range(count + 20):
            start = time.perf_counter()
            await socket.send(json.dumps(message()))
            await socket.recv()
            if i >= 20:
                samples.append((time.perf_counter() - start) * 1000.0)
    return samples
