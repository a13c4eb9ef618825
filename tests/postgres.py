"""A real PostgreSQL server for tests: Debian's `postgresql` package, started in a temporary
data directory on a free loopback port (as the `postgres` user when we are root: the
server refuses to run as root) and stopped by pid."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path


def pg_bin(tool: str) -> str | None:
    """A PostgreSQL program from Debian's versioned folder (newest first), else PATH."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True,
                         key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0):
        candidate = Path(folder, tool)
        if candidate.exists():
            return str(candidate)
    return shutil.which(tool)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner else command


@dataclass
class PostgresServer:
    host: str
    port: int
    folder: Path
    pid: int
    command: list[str]  # pg_ctl … start, as the owner

    def start(self) -> None:
        """Start it again after `stop` (same folder, same port)."""
        _run(self.command, 65)
        self.pid = int((self.folder / "data" / "postmaster.pid").read_text().split()[0])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            os.kill(self.pid, signal.SIGINT)  # "fast" shutdown: roll back, close, exit
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)


def _run(command: list[str], timeout: float) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])}… failed: {done.stderr or done.stdout}")


def start_postgres(folder: Path, timeout: float = 60.0) -> PostgresServer:
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError("PostgreSQL is missing: apt-get install postgresql "
                           "(scripts/install-test-tools.sh does it)")
    owner = "postgres" if os.geteuid() == 0 else None
    data = folder / "data"
    sockets = folder / "sockets"
    for path in (folder, sockets):
        path.mkdir(parents=True, exist_ok=True)
    if owner:
        shutil.chown(folder, owner)
        shutil.chown(sockets, owner)
    _run(_as_owner([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync",
                    "-E", "UTF8", "--locale=C"], owner), timeout)
    port = _free_port()
    options = (f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    command = _as_owner([pg_ctl, "-D", str(data), "-o", options, "-l",
                         str(folder / "server.log"), "-w", "-t", str(int(timeout)), "start"], owner)
    _run(command, timeout + 5)
    pid = int((data / "postmaster.pid").read_text().split()[0])
    return PostgresServer("127.0.0.1", port, folder, pid, command)
