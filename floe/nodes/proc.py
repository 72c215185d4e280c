"""The one subprocess runner: own process group, output line by line, TERM → grace → KILL, always reaped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from floe.nodes.base import NodeError

MAX_LINE = 64 * 1024  # a longer line is passed on in pieces of this many bytes
DRAIN = 1.0  # seconds to wait for the output pipe to close once the process group is gone

_BREAK = re.compile(rb"\r\n|\n|\r")


class _LineReader(asyncio.Protocol):
    """Splits the output pipe into lines (`\\n`, `\\r\\n`, or `\\r` as progress bars use) for `on_line`."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self._on_line = on_line
        self._buf = b""
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        if self.closed.done():
            return
        self._buf += data
        start = 0
        for m in _BREAK.finditer(self._buf):
            if m.group() == b"\r" and m.end() == len(self._buf):
                break  # maybe the first half of "\r\n": wait for more
            line = self._buf[start : m.start()]
            if line or m.group() != b"\r":  # "\r" alone after nothing is no line
                self._emit(line)
            start = m.end()
        self._buf = self._buf[start:]
        while len(self._buf) > MAX_LINE:
            self._emit(self._buf[:MAX_LINE])
            self._buf = self._buf[MAX_LINE:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish()

    def finish(self) -> None:
        """Pass on a last unterminated line; nothing reaches `on_line` after this."""
        if self.closed.done():
            return
        rest = self._buf.rstrip(b"\r")
        if rest:
            self._emit(rest)
        self._buf = b""
        self.closed.set_result(None)

    def _emit(self, line: bytes) -> None:
        for start in range(0, max(len(line), 1), MAX_LINE):
            self._on_line(line[start : start + MAX_LINE].decode("utf-8", errors="replace"))


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal the process group; False when no process is left in it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # only a reused id of someone else's group can do this
        return False
    return True


def exit_status(returncode: int) -> int:
    """A shell's view of an exit: killed by signal N → 128+N."""
    return 128 - returncode if returncode < 0 else returncode


def _output_pipe() -> tuple[IO[bytes], int]:
    """A pipe for the child's stdout and stderr: our (unbuffered) read end, and its write fd."""
    read_fd, write_fd = os.pipe()
    return open(read_fd, "rb", buffering=0), write_fd


async def _spawn(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], out: int
) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        if exc.filename is not None and str(exc.filename) == str(cwd):
            raise NodeError(f"working directory not found: {cwd}") from exc
        raise NodeError(f"program not found: {argv[0]}") from exc
    except OSError as exc:
        raise NodeError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc


async def _wait_closed(reader: _LineReader, seconds: float) -> None:
    await asyncio.wait([reader.closed], timeout=seconds)


async def _stop(proc: asyncio.subprocess.Process, reader: _LineReader, grace: float) -> None:
    """SIGTERM the group, give it `grace` seconds to exit and close the pipe, then SIGKILL the rest."""
    _signal_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(grace):
            await proc.wait()
            await asyncio.wait([reader.closed])
    _signal_group(proc.pid, signal.SIGKILL)
    await proc.wait()
    await _wait_closed(reader, DRAIN)


async def _uninterrupted(step: Awaitable[None]) -> None:
    """Run `step` to its end even if cancelled again meanwhile, then re-raise that cancellation."""
    task = asyncio.ensure_future(step)
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


async def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    grace: float = 5.0,
) -> int:
    """Run `argv` in a new session, pass each output line (stdout+stderr) to `on_line`, return its status.

    The status is the exit code, or 128+N when killed by signal N. Processes the program leaves
    behind in its group get SIGTERM when it exits, and SIGKILL once the output pipe closes or after
    `grace` seconds, so a backgrounded child can neither outlive the node nor hold it open.

    Timeouts: wrap the call in `asyncio.timeout()`; expiry is a cancellation like any other.

    Error handling: a missing program, or one that cannot be executed, raises NodeError before
    anything runs. On cancellation the whole group gets SIGTERM, then SIGKILL after `grace`
    seconds, and the process is always reaped before the cancellation propagates. `on_line` must
    not raise.
    """
    loop = asyncio.get_running_loop()
    pipe, out_w = _output_pipe()
    try:
        proc = await _spawn(argv, cwd, env, out_w)
    except BaseException:
        pipe.close()
        raise
    finally:
        os.close(out_w)
    reader = _LineReader(on_line)
    transport: asyncio.BaseTransport | None = None
    try:
        transport, _ = await loop.connect_read_pipe(lambda: reader, pipe)
        returncode = await proc.wait()
        if _signal_group(proc.pid, signal.SIGTERM):  # leftovers of the program
            await _wait_closed(reader, grace)
            _signal_group(proc.pid, signal.SIGKILL)
        await _wait_closed(reader, DRAIN)
        return exit_status(returncode)
    except BaseException:
        if transport is None:
            reader.finish()  # no pipe to wait for
        await _uninterrupted(_stop(proc, reader, grace))
        raise
    finally:
        reader.finish()
        if transport is None:
            pipe.close()
        else:
            transport.close()
