"""The stop file: while `<store-root>/STOP` exists, this host dispatches nothing (for when the API
cannot be reached). Its first line, if any, is the reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

from floe.hub.hub import Hub
from floe.model.host import STOP_FILE


def _read(path: Path) -> str | None:
    try:
        text = path.read_text(errors="replace").strip()
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"stop file {path} (unreadable: {e.strerror})"
    first = text.splitlines()[0] if text else ""
    return f"stop file {path}" + (f": {first}" if first else "")


async def watch_stop_file(hub: Hub, path: Path, every: float = 1.0) -> None:
    """Check the file every `every` seconds until cancelled; stop or resume dispatch on change."""
    while True:
        reason = await asyncio.to_thread(_read, path)
        if reason is not None and hub.switch.stopped.get(STOP_FILE) != reason:
            hub.switch.stop(STOP_FILE, reason)
        elif reason is None and STOP_FILE in hub.switch.stopped:
            hub.switch.go(STOP_FILE)
        await asyncio.sleep(every)
