"""Reloading the host config from its source (file, git or http): `POST {base}/config/reload` and SIGHUP."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import signal
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from floe.config import ConfigError, HostConfig, Problem
from floe.config.common import Common
from floe.config.sources import SourceFlowFiles, redact
from floe.hub.hub import Hub
from floe.server.context import Context
from floe.triggers.service import config_changed

log = logging.getLogger(__name__)

# `common` settings a running host cannot change: a reload keeps the running value and warns
FIXED = {
    "hosts": "hosts",
    "base_url": "base-url",
    "workspace_root": "workspace-root",
    "store_type": "store-type",
    "store_root": "store-root",
    "s3_bucket": "s3-bucket",
    "s3_prefix": "s3-prefix",
    "s3_endpoint": "s3-endpoint",
    "s3_region": "s3-region",
    "secrets": "secrets",  # resolved once at start: a new secret needs a restart
}

_LOCKS: weakref.WeakKeyDictionary[Hub, asyncio.Lock] = weakref.WeakKeyDictionary()


class ReloadError(Exception):
    """The new config was not applied (the running one is kept); `problems` says why."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


def _lock(hub: Hub) -> asyncio.Lock:
    lock = _LOCKS.get(hub)
    if lock is None:
        lock = _LOCKS[hub] = asyncio.Lock()
    return lock


def _fresh_tmp(path: str) -> bool:
    """A `%tmp` directory, which every load names anew."""
    return re.fullmatch(re.escape(tempfile.gettempdir()) + r"/floe-[0-9a-f]{8}(/.*)?", path) is not None


def _same(old: object, new: object) -> bool:
    if old == new:
        return True
    return isinstance(old, str) and isinstance(new, str) and _fresh_tmp(old) and _fresh_tmp(new)


def _keep_fixed(old: Common, new: HostConfig) -> HostConfig:
    kept: dict[str, Any] = {}
    notes: list[Problem] = []
    for attr, key in FIXED.items():
        was, now = getattr(old, attr), getattr(new.common, attr)
        if not _same(was, now):
            notes.append(
                Problem(
                    redact(new.source), 0, f"common.{key}", "changed: restart the host to apply it", "warning"
                )
            )
        kept[attr] = was
    return dataclasses.replace(
        new, common=dataclasses.replace(new.common, **kept), warnings=(*notes, *new.warnings)
    )


def reader_of(hub: Hub) -> SourceFlowFiles:
    """The hub's source reader (its git and http caches), or a new one on its store root."""
    if isinstance(hub.flow_files, SourceFlowFiles):
        return hub.flow_files
    return SourceFlowFiles(Path(hub.config.common.store_root) / "flow_cache", hub.config.common.git_key)


async def reload_config(hub: Hub, source: str | None = None) -> HostConfig:
    """Read the config again from `source` (default: where the running one came from) and make it
    the hub's. A config with errors raises ReloadError and the running one stays. Runs keep their
    own flow snapshots; triggers are restarted where they changed. `common` settings that need a
    restart keep their running values and come back as warnings of the returned config."""
    source = source or hub.config.source
    async with _lock(hub):
        reader = reader_of(hub)
        try:
            loaded = await reader.load_config(source)
        except ConfigError as e:
            problems = [str(p) for p in e.problems]
            log.warning("config reload from %s rejected, the running config is kept:\n%s", redact(source), e)
            raise ReloadError("the new config has errors; the running config is kept", problems) from e
        new = _keep_fixed(hub.config.common, loaded)
        hub.use_config(new)
        reader.git_key = new.common.git_key
        config_changed(hub)
    for w in new.warnings:
        log.warning("%s", w)
    log.info("config reloaded from %s: %d flows", redact(source), len(new.flows))
    return new


async def endpoint(request: Request) -> Response:
    """`POST {base}/config/reload`: 200 `{"flows": [ids], "warnings": [...]}`, or 400 `{"error",
    "problems": [...]}` with the running config kept."""
    c: Context = request.app.state.floe
    try:
        new = await reload_config(c.hub)
    except ReloadError as e:
        return JSONResponse({"error": str(e), "problems": e.problems}, status_code=400)
    flows = list(dict.fromkeys(f.id for f in new.flows))
    return JSONResponse({"flows": flows, "warnings": [str(w) for w in new.warnings]})


async def _reload_logged(hub: Hub) -> None:
    try:
        await reload_config(hub)
    except ReloadError:
        pass  # logged by reload_config
    except Exception:
        log.exception("config reload failed")


def install_sighup(hub: Hub) -> Callable[[], None]:
    """Reload the config on SIGHUP (call on the hub's running loop); returns the uninstaller."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def on_hup() -> None:
        log.info("SIGHUP: reloading the config")
        task = loop.create_task(_reload_logged(hub))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)

    def remove() -> None:
        loop.remove_signal_handler(signal.SIGHUP)
        for task in tasks:
            task.cancel()

    return remove
