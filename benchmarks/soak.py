"""`make soak` / `python -m benchmarks.soak [--minutes N] [--clients C]`: does a server's
memory stay flat under steady mixed load?

A real `flowtime serve --workers 2` on loopback; C client threads send, for N minutes,
40 % creates of new runs, 20 % deterministic re-creates, 20 % listings and 20 % state
windows of three fixed runs. The servers' RSS (the uvicorn parent and its workers) is
sampled every 10 s and printed as a table with the runs created so far; the summary gives
the growth over the second half and per 1,000 runs created.
Target (issue 42): growth over the second half of a 10-minute soak < 10 MB.

A benchmark, not a unit test: it takes minutes and its numbers depend on the machine.
Every request loop is bounded in time and stops by itself; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field

import httpx

from benchmarks.server import rss_bytes, server_process

MB = 1024 * 1024
TARGET_MB = 10.0


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == pid:
                found.append(int(entry))
    return found


def total_rss(pid: int) -> int:
    total = 0
    for process in [pid, *_children(pid)]:
        with contextlib.suppress(OSError):  # a worker that just exited
            total += rss_bytes(process)
    return total


@dataclass
class Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    errors: int = 0
    created: int = 0

    def add(self, ok: bool, created: bool = False) -> None:
        with self.lock:
            self.requests += 1
            self.errors += 0 if ok else 1
            self.created += 1 if created and ok else 0


def _client_loop(base: str, fixed: list[str], stop: float, counts: Counters, seed: int) -> None:
    rng = random.Random(seed)
    serial = itertools.count()
    with httpx.Client(base_url=base, timeout=30) as client:
        while time.monotonic() < stop:
            roll = rng.random()
            try:
                if roll < 0.4:  # a new run each time (a new seed)
                    answer = client.post("/v1/runs", json={
                        "templateId": "it-system",
                        "options": {"seed": seed * 1_000_000 + next(serial)}})
                    counts.add(answer.status_code == 201, created=True)
                elif roll < 0.6:  # the same deterministic run again (reused)
                    answer = client.post("/v1/runs", json={
                        "templateId": "it-system", "options": {"deterministicRunId": True}})
                    counts.add(answer.status_code in (200, 201))
                elif roll < 0.8:
                    answer = client.get("/v1/runs", params={"pageSize": 20})
                    counts.add(answer.status_code == 200)
                else:
                    answer = client.get(f"/v1/runs/{rng.choice(fixed)}/state_window",
                                        params={"startBin": 0, "endBin": 11})
                    counts.add(answer.status_code == 200)
            except httpx.HTTPError:
                counts.add(False)


def soak(minutes: float, clients: int, data: str, interval: float = 10.0) -> dict[str, float]:
    """Load a server whose data folder is `data` (the caller removes it: ~100,000 runs take
    minutes to delete, and the summary should not wait for that)."""
    env = {"FLOWTIME_DATA_DIR": data, "FLOWTIME_FSYNC": "0", "FLOWTIME_LOG_LEVEL": "ERROR"}
    with server_process(env, workers=2) as (base, process):
        fixed = []
        for template in ("it-system", "supply-chain", "transport-hub"):
            answer = httpx.post(base + "/v1/runs", json={"templateId": template},
                                timeout=60)
            fixed.append(answer.json()["metadata"]["runId"])
        counts = Counters()
        started = time.monotonic()
        stop = started + minutes * 60
        threads = [threading.Thread(target=_client_loop,
                                    args=(base, fixed, stop, counts, 1 + i), daemon=True)
                   for i in range(clients)]
        for thread in threads:
            thread.start()
        samples: list[tuple[float, int, int]] = []
        print(f"{'seconds':>8} {'rss MB':>8} {'runs created':>13} {'requests':>9} "
              f"{'errors':>7}")
        while True:
            now = time.monotonic()
            rss = total_rss(process.pid)
            with counts.lock:
                samples.append((now - started, rss, counts.created))
                print(f"{now - started:8.0f} {rss / MB:8.1f} {counts.created:13d} "
                      f"{counts.requests:9d} {counts.errors:7d}", flush=True)
            if now >= stop:
                break
            time.sleep(min(interval, max(0.0, stop - now)))
        for thread in threads:
            thread.join(timeout=60)
    half = samples[len(samples) // 2]
    last = samples[-1]
    growth = (last[1] - half[1]) / MB
    runs = max(1, last[2] - half[2])
    return {"second_half_growth_mb": growth, "per_1000_runs_mb": growth / runs * 1000,
            "requests": counts.requests, "errors": counts.errors,
            "runs_created": counts.created}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="flowtime-soak-")
    try:
        result = soak(args.minutes, args.clients, data, args.interval)
        verdict = "pass" if result["second_half_growth_mb"] < TARGET_MB else "FAIL"
        print(f"\nrequests {result['requests']:.0f}, errors {result['errors']:.0f}, "
              f"runs created {result['runs_created']:.0f}")
        print(f"RSS growth over the second half: {result['second_half_growth_mb']:.1f} MB "
              f"({result['per_1000_runs_mb']:.2f} MB per 1,000 runs); target < "
              f"{TARGET_MB:g} MB: {verdict}")
        print(f"removing the soak's data ({data})…", flush=True)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    if verdict != "pass" or result["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
