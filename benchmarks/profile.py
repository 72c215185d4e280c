"""py-spy profiles of bench hosts: `scripts/bench --profile DIR` records each host it starts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path

PROFILE_DIR = "FLOE_BENCH_PROFILE"  # environment variable: where profiles go (unset: none taken)


def py_spy() -> str | None:
    """The py-spy beside this Python (the bench setup installs it), else one on PATH."""
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


async def record(pid: int, name: str) -> asyncio.subprocess.Process | None:
    """Start sampling process `pid` into `<dir>/<name>.txt` (collapsed stacks) when profiling is on."""
    where, exe = os.environ.get(PROFILE_DIR), py_spy()
    if not where or exe is None:
        return None
    await asyncio.to_thread(Path(where).mkdir, parents=True, exist_ok=True)
    out = Path(where) / f"{name}.txt"
    return await asyncio.create_subprocess_exec(
        exe, "record", "--pid", str(pid), "--rate", "250", "--nonblocking", "--format", "raw",
        "--output", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


async def finish(proc: asyncio.subprocess.Process | None) -> None:
    """Stop a recording: py-spy writes its file on SIGINT."""
    if proc is None or proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(proc.wait(), 30)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


MAIN = "_run_module_as_main"  # the first frame of the main thread's stacks: the event loop's
IDLE = "EpollSelector.select"  # the loop waiting for something to do


def top_frames(path: Path, n: int = 15) -> list[tuple[str, float]]:
    """The `n` functions most often on top of the event loop thread's stack in a collapsed-stacks
    file, with their share of its busy samples (its idle waits and the other threads left out)."""
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack.startswith(MAIN) or not count.isdigit() or stack.rsplit(";", 1)[-1].startswith(IDLE):
            continue
        own[stack.rsplit(";", 1)[-1].strip()] += int(count)
        total += int(count)
    return [(frame, round(k / total, 3)) for frame, k in own.most_common(n)] if total else []
