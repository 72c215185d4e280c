"""Reloading the host config from its source (file, git or http), on SIGHUP or the API's request."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import signal
import tempfile
from collections.abc import Callable
from typing import Any

from floe.config import ConfigError, HostConfig, Problem
from floe.config.common import Common
from floe.config.sources import SourceFlowFiles, redact
from floe.model.errors import BadRequest

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
    "store_url": "store-url",
    "secrets": "secrets",  # resolved once at start: a new secret needs a restart
}


class ReloadError(BadRequest):
    """The new config was not applied (the running one is kept); `problems` says why (a 400)."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message, problems=problems)
        self.problems = problems


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


class Reloader:
    """Reloads the running config: reads it again through `reader` (its git and http caches),
    hands it to `apply` (the hub's `use_config`) and then to each of `listeners` (the triggers).
    One reload at a time; built by the composition root."""

    def __init__(
        self,
        current: Callable[[], HostConfig],
        apply: Callable[[HostConfig], None],
        reader: SourceFlowFiles,
        listeners: tuple[Callable[[], None], ...] = (),
    ) -> None:
        self.current, self.apply, self.reader, self.listeners = current, apply, reader, listeners
        self._lock = asyncio.Lock()

    async def reload(self, source: str | None = None) -> HostConfig:
        """Read the config again from `source` (default: where the running one came from) and
        make it the running one. A config with errors raises ReloadError and the running one
        stays. Runs keep their own flow snapshots; triggers are restarted where they changed.
        `common` settings that need a restart keep their running values and come back as warnings
        of the returned config."""
        source = source or self.current().source
        async with self._lock:
            try:
                loaded = await self.reader.load_config(source)
            except ConfigError as e:
                problems = [str(p) for p in e.problems]
                log.warning(
                    "config reload from %s rejected, the running config is kept:\n%s", redact(source), e
                )
                raise ReloadError("the new config has errors; the running config is kept", problems) from e
            new = _keep_fixed(self.current().common, loaded)
            self.apply(new)
            self.reader.git_key = new.common.git_key
            for listener in self.listeners:
                listener()
        for w in new.warnings:
            log.warning("%s", w)
        log.info("config reloaded from %s: %d flows", redact(source), len(new.flows))
        return new

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except ReloadError:
            pass  # logged by reload
        except Exception:
            log.exception("config reload failed")

    def install_sighup(self) -> Callable[[], None]:
        """Reload the config on SIGHUP (call on the host's running loop); returns the uninstaller."""
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()

        def on_hup() -> None:
            log.info("SIGHUP: reloading the config")
            task = loop.create_task(self._reload_logged())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        loop.add_signal_handler(signal.SIGHUP, on_hup)

        def remove() -> None:
            loop.remove_signal_handler(signal.SIGHUP)
            for task in tasks:
                task.cancel()

        return remove
