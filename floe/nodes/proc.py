"""The one subprocess runner: own process group, output line by line, TERM → grace → KILL, always reaped."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import signal
import subprocess
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from floe.nodes.base import NodeError

MAX_LINE = 64 * 1024  # a longer line is passed on in pieces of this many bytes
DRAIN = 1.0  # seconds to wait for the output pipe to close once the process group is gone
READ_SIZE = 64 * 1024

_BREAK = re.compile(rb"\r\n|\n|\r")


class _LineReader:
    """Reads the output pipe as the loop finds it readable and splits it into lines (`\\n`, `\\r\\n`,
    or `\\r` as progress bars use) for `on_line`; `closed` resolves at end of file."""

    def __init__(self, fd: int, on_line: Callable[[str], None]) -> None:
        self._fd, self._on_line = fd, on_line
        self._buf = b""
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._feed(data)
        else:
            self.finish()

    def _feed(self, data: bytes) -> None:
        self._buf += data
        if b"\r" not in self._buf:  # the common case: split at "\n" alone, in C
            *lines, self._buf = self._buf.split(b"\n")
            for line in lines:
                self._emit(line)
        else:
            self._split()
        while len(self._buf) > MAX_LINE:
            self._emit(self._buf[:MAX_LINE])
            self._buf = self._buf[MAX_LINE:]

    def _split(self) -> None:
        start = 0
        for m in _BREAK.finditer(self._buf):
            if m.group() == b"\r" and m.end() == len(self._buf):
                break  # maybe the first half of "\r\n": wait for more
            line = self._buf[start : m.start()]
            if line or m.group() != b"\r":  # "\r" alone after nothing is no line
                self._emit(line)
            start = m.end()
        self._buf = self._buf[start:]

    def finish(self) -> None:
        """Pass on a last unterminated line and close the pipe; nothing reaches `on_line` after this."""
        if self.closed.done():
            return
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        rest = self._buf.rstrip(b"\r")
        if rest:
            self._emit(rest)
        self._buf = b""
        self.closed.set_result(None)

    def _emit(self, line: bytes) -> None:
        if len(line) <= MAX_LINE:
            self._on_line(line.decode("utf-8", errors="replace"))
            return
        for start in range(0, len(line), MAX_LINE):
            self._on_line(line[start : start + MAX_LINE].decode("utf-8", errors="replace"))


def _exit_of(child: subprocess.Popen[bytes]) -> asyncio.Future[int]:
    """The child's return code once it exits (it is reaped then), watched by a pidfd on the loop;
    a thread waits for it where the kernel has no pidfds."""
    loop = asyncio.get_running_loop()
    try:
        pidfd = os.pidfd_open(child.pid)
    except (AttributeError, OSError):  # no pidfd_open (not Linux ≥ 5.3)
        return _exit_by_thread(child)
    exited: asyncio.Future[int] = loop.create_future()

    def readable() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        exited.set_result(child.wait())  # it has exited: this reaps it without blocking

    loop.add_reader(pidfd, readable)
    return exited


def _exit_by_thread(child: subprocess.Popen[bytes]) -> asyncio.Future[int]:
    """The child's return code, from a thread that waits for it (where there are no pidfds)."""
    return asyncio.ensure_future(asyncio.to_thread(child.wait))


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


@functools.cache
def _devnull() -> int:
    """/dev/null, opened once for every task's stdin (subprocess.DEVNULL opens it for each)."""
    return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)


def _spawn(argv: Sequence[str], cwd: Path, env: Mapping[str, str], out: int) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session (its own process group) with `out` as stdout and stderr.

    Like asyncio's subprocess transport, this forks (vfork) in the loop's thread; it returns once
    the program is executing, so a missing program is known here."""
    try:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=_devnull(),
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
    if not reader.closed.done():
        await asyncio.wait([reader.closed], timeout=seconds)


async def _stop(pgid: int, exited: asyncio.Future[int], reader: _LineReader, grace: float) -> None:
    """SIGTERM the group, give it `grace` seconds to exit and close the pipe, then SIGKILL the rest."""
    _signal_group(pgid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(grace):
            both: list[asyncio.Future[Any]] = [exited, reader.closed]
            await asyncio.wait(both)
    _signal_group(pgid, signal.SIGKILL)
    await exited
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
    read_fd, write_fd = os.pipe()
    try:
        child = _spawn(argv, cwd, env, write_fd)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    reader = _LineReader(read_fd, on_line)
    exited = _exit_of(child)
    try:
        returncode = await asyncio.shield(exited)  # a cancellation here must still reap it in _stop
        if _signal_group(child.pid, signal.SIGTERM):  # leftovers of the program
            await _wait_closed(reader, grace)
            _signal_group(child.pid, signal.SIGKILL)
        await _wait_closed(reader, DRAIN)
        return exit_status(returncode)
    except BaseException:
        await _uninterrupted(_stop(child.pid, exited, reader, grace))
        raise
    finally:
        reader.finish()
