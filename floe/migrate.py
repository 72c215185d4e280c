"""`floe store migrate`: move a host's local (SQLite) history into the cluster's PostgreSQL store."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from floe.config import ConfigError, load_config
from floe.host_secrets import SecretError, resolve_secrets
from floe.hub.credentials import store_password
from floe.store.crypto import KEYS_FILE, load_cipher
from floe.store.errors import StoreError
from floe.store.pg_migrate import migrate_local
from floe.store.postgres import PgStore

DEFAULT_CONF = "default.yml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="floe store migrate",
        description="Copy the runs, events and logs, run counters, audit trail and trigger state of "
        "a host's local store into the PostgreSQL store of the config (common.store-url). Stop the "
        "host first. Running it again adds nothing twice.",
    )
    p.add_argument("--conf", "-conf", default=DEFAULT_CONF, help="host config with store-type: postgres")
    p.add_argument(
        "--from", dest="source", default="", help="the local store root (default: the config's store-root)"
    )
    return p


async def _migrate(root: Path, url: str, password: str | None, out: TextIO) -> None:
    keys = root / KEYS_FILE
    cipher = load_cipher(keys, create=False) if keys.exists() else None
    target = PgStore(url, password=password)
    await target.open()
    try:
        moved = await migrate_local(root / "store", target, cipher)
    finally:
        await target.close()
    print(
        f"moved {moved.runs} runs, {moved.events} events, {moved.kv} keys and {moved.audit} audit "
        f"entries from {root / 'store'} to {target.where}",
        file=out,
    )


def main(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Run `floe store ARGS`; returns the exit status (errors are printed to stderr)."""
    args = list(argv)
    if args[:1] != ["migrate"]:
        print("floe store: the only command is `floe store migrate`", file=sys.stderr)
        return 2
    ns = _parser().parse_args(args[1:])
    try:
        config = load_config(ns.conf)
        common = config.common
        if common.store_type != "postgres":
            print(
                f"floe store migrate: {ns.conf} has store-type {common.store_type}, not postgres",
                file=sys.stderr,
            )
            return 1
        password = store_password(os.environ, resolve_secrets(common.secrets))
        root = Path(ns.source).expanduser() if ns.source else Path(common.store_root)
        asyncio.run(_migrate(root, common.store_url, password, out))
    except ConfigError as e:
        print("floe store migrate: bad config:\n" + "\n".join(p.shown() for p in e.problems), file=sys.stderr)
        return 1
    except (StoreError, SecretError, OSError) as e:
        print(f"floe store migrate: {e}", file=sys.stderr)
        return 1
    return 0
