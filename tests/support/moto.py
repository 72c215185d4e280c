"""A real `moto_server` S3 endpoint on a free loopback port (path-style), paused and stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.host import free_port

MOTO_SERVER = Path(sys.executable).parent / "moto_server"


class MotoServer:
    """`moto_server -H 127.0.0.1 -p <port>` as a subprocess; keeps its data in memory only."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 30.0) -> MotoServer:
        for _ in range(3):  # another process may take the free port before moto binds it
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            if self._wait_ready(wait):
                return self
            self.stop()
        raise RuntimeError(f"moto_server did not start:\n{self.log()}")

    def _wait_ready(self, wait: float) -> bool:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1) as r,
            ):
                if r.status == 200:
                    return True
            time.sleep(0.05)  # polling a process we cannot get an event from
        return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def reset(self) -> None:
        """Empty every bucket (`POST /moto-api/reset`)."""
        req = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a hung endpoint)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            if self.paused:
                self.resume()
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def running_moto(log_dir: Path) -> Iterator[MotoServer]:
    """A started moto server, always stopped (and resumed first if paused) on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    server = MotoServer(log_dir / "moto.log").start()
    try:
        yield server
    finally:
        server.stop()


def aws_test_env(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    """Fake credentials and no shared AWS config, so boto3 never reads the machine's own."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testtest")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp / "aws-config-absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "aws-credentials-absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
