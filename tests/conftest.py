"""Shared fixtures: real floe hosts on loopback ports, stopped by PID after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.host import FloeHost
from tests.support.moto import MotoServer, aws_test_env, running_moto

HostFactory = Callable[..., FloeHost]


@pytest.fixture
def floe_host(tmp_path: Path) -> Iterator[HostFactory]:
    """Start hosts with `floe_host(config_text, name=..., tags=...)`; all are stopped at the end."""
    started: list[FloeHost] = []

    def make(config: str, **kw: object) -> FloeHost:
        name = str(kw.get("name", "h1"))
        host = FloeHost(tmp_path / name, config, **kw)  # type: ignore[arg-type]
        started.append(host)
        return host.start()

    yield make
    for h in started:
        h.stop()
        for client in (h.http, *h.extra_clients):
            client.close()


@pytest.fixture
def moto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A moto S3 server of this test only (`pause()` / `resume()` make outages), with fake AWS
    credentials in the environment."""
    aws_test_env(monkeypatch, tmp_path)
    with running_moto(tmp_path / "moto") as server:
        yield server
