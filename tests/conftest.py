"""Shared fixtures: real floe hosts on loopback ports (in-process or processes), stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.host import FloeHost
from tests.support.inprocess import InProcessHost
from tests.support.moto import MotoServer, aws_test_env, running_moto
from tests.support.postgres import PgServer, running_postgres
from tests.support.postgres import unavailable as postgres_unavailable

HostFactory = Callable[..., FloeHost]


PROCESS_ONLY = {"extra", "env", "command", "token_arg"}  # options only a host process has


@pytest.fixture
def floe_host(tmp_path: Path) -> Iterator[HostFactory]:
    """Start hosts with `floe_host(config_text, name=..., tags=...)`; all are stopped at the end.
    A host runs in the test's process (InProcessHost) unless the test needs a process of its own:
    `process=True` (kill -9, signals, /proc) or an option only a process has (PROCESS_ONLY)."""
    started: list[FloeHost] = []

    def make(config: str, *, process: bool = False, **kw: object) -> FloeHost:
        name = str(kw.get("name", "h1"))
        kind = FloeHost if process or PROCESS_ONLY & set(kw) else InProcessHost
        host = kind(tmp_path / name, config, **kw)  # type: ignore[arg-type]
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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway PostgreSQL 15 of the test session (skipped only when not root and no binaries)."""
    if why := postgres_unavailable():
        pytest.skip(why)
    with running_postgres() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a fresh, empty database of this test."""
    return pg_server.database()
