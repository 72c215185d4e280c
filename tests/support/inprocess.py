"""A floe host in the test's own process: built by floe's composition root, served in a thread."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import traceback
from pathlib import Path

from floe.config.sources import load_config_source
from floe.host import Host, Settings, open_host
from floe.host_secrets import resolve_secrets
from floe.hub.credentials import masked_values
from floe.model.mask import Masker
from tests.support.host import FloeHost

START_TIMEOUT = 30.0


class _HostLog(logging.Filter):
    """What goes to one host's log file: the records made on its thread (its event loop), with
    its secrets and token masked as `floe.host_secrets.mask_logging` masks a host process's records."""

    def __init__(self, thread: threading.Thread) -> None:
        super().__init__()
        self.thread = thread
        self.masker = Masker(())

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread.ident:
            return False
        record.msg, record.args = self.masker.mask(record.getMessage()), None
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text, record.exc_info = self.masker.mask(text), None
        return True


class InProcessHost(FloeHost):
    """The same API as FloeHost, with no process start-up: `floe.host.open_host` builds the host
    from the config file, as the `floe` command does, and its event loop runs in a thread of the
    test. What needs a process of its own (kill -9, signals, its argv or environment, the CLI's
    flags in `extra`) uses FloeHost."""

    def __init__(self, root: Path, config: str, **kw: object) -> None:
        super().__init__(root, config, **kw)  # type: ignore[arg-type]
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._host: Host | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._handler: logging.Handler | None = None
        self._log: _HostLog | None = None

    def start(self, wait: float = START_TIMEOUT) -> InProcessHost:
        self._ready.clear()
        self._failed = None
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._serve()),
            name=f"floe host {self.name}",
            daemon=True,
        )
        self._handler = logging.FileHandler(self.log_path)
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname).1s %(name)s: %(message)s"))
        self._log = _HostLog(self._thread)
        self._handler.addFilter(self._log)
        logging.getLogger().addHandler(self._handler)
        logging.getLogger("floe").setLevel(logging.INFO)
        self._thread.start()
        if not self._ready.wait(wait):
            raise RuntimeError(f"host {self.name} not ready after {wait}s:\n{self.log()}")
        if self._failed is not None:
            self.stop()  # raises what failed
        return self

    async def _serve(self) -> None:
        """What `floe -conf=... -host_name=... -admin=... -tags=... -pub_bind=...` does, on this loop."""
        try:
            config = await load_config_source(str(self.conf))
            secrets = resolve_secrets(config.common.secrets)
            tags = frozenset(t.strip() for t in self.tags.split(",") if t.strip())
            settings = Settings(self.name, tags, self.token, f"127.0.0.1:{self.port}")
            assert self._log is not None
            self._log.masker = Masker(masked_values(secrets, self.token, config.common))
            async with open_host(config, settings, secrets) as (host, listener):
                self._loop, self._host = asyncio.get_running_loop(), host
                serving = asyncio.create_task(host.run(listener, owns_process=False))
                ready = asyncio.create_task(self._until_ready(host))
                await asyncio.wait([serving, ready], return_when=asyncio.FIRST_COMPLETED)
                await serving
        except Exception as e:  # reported by start() or stop(), in the test's thread
            self._failed = e
        finally:
            self._ready.set()

    async def _until_ready(self, host: Host) -> None:
        """As the host's /healthz: runs recovered and every peer asked once."""
        await host.hub.ready.wait()
        await host.cluster.beaten.wait()
        self._ready.set()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop serving, then the hub (its runs' tasks killed), then close the store, as SIGTERM
        does to a host process; other signals need a FloeHost."""
        if sig != signal.SIGTERM:
            raise NotImplementedError(f"an in-process host takes no signal {sig}: use FloeHost")
        thread, loop, host = self._thread, self._loop, self._host
        if thread is not None and loop is not None and host is not None and thread.is_alive():
            loop.call_soon_threadsafe(host.stop)
        if thread is not None:
            thread.join(30)
            assert not thread.is_alive(), f"host {self.name} did not stop in 30s"
        self._thread = self._loop = self._host = None
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler.close()
            self._handler = None
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise RuntimeError(f"host {self.name} failed: {failed!r}\n{self.log()[-3000:]}") from failed
