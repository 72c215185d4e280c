"""`floe keys`: list, rotate and re-encrypt with the keys that encrypt the store at rest."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from floe.config import ConfigError, load_config
from floe.store.crypto import KEYS_FILE, add_key, load_cipher, read_keys
from floe.store.errors import StoreError
from floe.store.local_keys import reencrypt
from floe.store.local_schema import DB_NAME

DEFAULT_CONF = "default.yml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="floe keys",
        description="The keys that encrypt run records at rest: <store-root>/keys, one "
        "'<key-id> <base64 key>' a line; the last one encrypts, all of them decrypt.",
    )
    p.add_argument("--conf", "-conf", default=DEFAULT_CONF, help="host config naming store-root")
    p.add_argument("--store-root", default="", help="the store root itself (instead of --conf)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the key ids, oldest first, and which one is active")
    rotate = sub.add_parser("rotate", help="add a new key, used for new records once the host restarts")
    rotate.add_argument(
        "--reencrypt",
        action="store_true",
        help="also rewrite every stored record with the new key (the host must be stopped)",
    )
    sub.add_parser(
        "reencrypt",
        help="rewrite every record not encrypted with the active key (plain ones too); host stopped",
    )
    return p


def _store_root(ns: argparse.Namespace) -> Path:
    if ns.store_root:
        return Path(ns.store_root).expanduser()
    conf = ns.conf
    if conf == DEFAULT_CONF and not Path(conf).exists():
        conf = str(Path(__file__).with_name(DEFAULT_CONF))  # the embedded demo, as `floe` serves it
    return Path(load_config(conf).common.store_root)


def main(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Run `floe keys ARGS`; returns the exit status (errors are printed to stderr)."""
    ns = _parser().parse_args(list(argv))
    try:
        root = _store_root(ns)
        path = root / KEYS_FILE
        if ns.command == "list":
            keys = read_keys(path)
            for i, (key_id, _) in enumerate(keys):
                print(f"{key_id}{'  (active)' if i == len(keys) - 1 else ''}", file=out)
            return 0
        if ns.command == "rotate":
            key_id = add_key(path)
            print(f"added key {key_id} to {path}: new records use it once the host restarts", file=out)
            if not ns.reencrypt:
                return 0
        if not (root / "store" / DB_NAME).exists():
            print(f"no store under {root}: nothing to re-encrypt", file=out)
            return 0
        runs, events = reencrypt(root / "store", load_cipher(path, create=False))
        active = read_keys(path)[-1][0]
        print(f"re-encrypted {runs} run records and {events} events with key {active}", file=out)
        return 0
    except ConfigError as e:
        print(f"floe keys: bad config:\n{e}", file=sys.stderr)
    except (StoreError, OSError) as e:
        print(f"floe keys: {e}", file=sys.stderr)
    return 1
