"""A real `flowtime serve` process on a free loopback port (benchmarks and tests share it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(env: dict[str, str], workers: int = 1, timeout: float = 30) -> Iterator[str]:
    """Start the server with `env` on top of this process's environment (FLOWTIME_STORE is
    dropped unless given), wait for /healthz, yield the base URL, stop it afterwards."""
    with server_process(env, workers, timeout) as (base, _):
        yield base


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc), in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@contextmanager
def server_process(env: dict[str, str], workers: int = 1, timeout: float = 30
                   ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """As `running_server`, also yielding the server process (its pid, for RSS)."""
    port = free_port()
    full_env = {**os.environ, "FLOWTIME_LOG_LEVEL": "WARNING"}
    full_env.pop("FLOWTIME_STORE", None)
    full_env.pop("FLOWTIME_API_KEY", None)
    full_env.update(env)
    process = subprocess.Popen(
        [sys.executable, "-m", "flowtime.adapters.cli.main", "serve", "--port", str(port),
         "--log-level", "warning", "--workers", str(workers)],
        env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("flowtime server did not start")
            time.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
