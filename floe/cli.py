"""The `floe` command: serve a host (floe's flags verbatim, or --long-names), or `floe lint FILE...`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from floe import __version__

if TYPE_CHECKING:
    from floe.config import HostConfig

# Each subcommand imports what it needs when it runs: `floe lint` never loads the host's stack
# (the server, the stores, httpx), so it starts in a fraction of the time a host takes.

log = logging.getLogger("floe")
DEFAULT_CONF = "default.yml"
PR_SET_DUMPABLE = 4  # prctl(2)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="floe",
        description="Serve a floe host. floe's single-dash flags (-tags=linux,go) work as well as --tags.",
        epilog="Also: floe lint FILE... (validate configs and flow files), floe hash-password (a hash for "
        "common.users), floe run FLOW [-v KEY=VALUE]... [--follow] (trigger a run, stream it), "
        "floe keys list|rotate [--reencrypt] (the store's encryption keys), "
        "floe store migrate [--conf CONF] [--from STORE_ROOT] (local history into PostgreSQL).",
    )

    def opt(name: str, help: str, default: str) -> None:
        alias = name.replace("_", "-")
        p.add_argument(
            f"-{name}", f"--{alias}", dest=name, default=default, help=help + f" (default {default!r})"
        )

    opt(
        "conf",
        "host config: a path, git+URL#path@ref or an http(s) URL (default.yml: the demo)",
        DEFAULT_CONF,
    )
    opt("host_name", "this host's short id, used in run ids", "h1")
    opt("admin", "admin token for the API and host-to-host calls; or FLOE_ADMIN, or --admin-file", "")
    opt("admin_file", "a file holding the admin token (kept out of the process list and environment)", "")
    opt("tags", "comma-separated host tags", "")
    opt("pub_bind", "address to serve on", "127.0.0.1:8080")
    opt("pub_cert", "TLS certificate file (serve https)", "")
    opt("pub_key", "TLS key file", "")
    opt(
        "max_runs",
        "the most runs this host takes at once, runs waiting on a data gate aside (0: any number; "
        "when not given: common.max-runs)",
        "",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-version", "--version", action="version", version=f"floe {__version__}")
    return p


def _lint_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="floe lint",
        description="Check host configs and flow-file documents: print each flow's graph levels and "
        "every problem as FILE:LINE: key: message (a YAML syntax error with its column and line).",
        epilog="Exit status 1 when any file has an error; warnings alone exit 0.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="a host config or a flow-file document")
    return p


def _admin_token(arg: str, file: str, env_token: str, config: HostConfig) -> str:
    """The admin token: the flag, the file, FLOE_ADMIN, or one generated once in the store root."""
    if file:
        try:
            token = Path(file).expanduser().read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            sys.exit(f"floe: cannot read --admin-file {file}: {getattr(e, 'strerror', None) or e}")
        if not token:
            sys.exit(f"floe: --admin-file {file} is empty")
        return token
    if arg or env_token:
        return arg or env_token
    path = Path(config.common.store_root) / "admin-token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24))
        log.warning("no -admin token given: generated one in %s", path)
    return path.read_text().strip()


def _hide_credentials(args: Sequence[str], token: str) -> None:
    """Keep the admin token from other processes of this user, tasks first: out of the process
    list (the argv area is overwritten, the token shown as `***`), out of this process's
    environment (so no child inherits FLOE_ADMIN), and out of /proc/<pid>/environ and mem (the
    process is made non-dumpable; a process running as root still reads everything)."""
    import setproctitle

    from floe.hub.credentials import ADMIN_VAR

    shown = [arg.replace(token, "***") if token else arg for arg in args]
    setproctitle.setproctitle(shlex.join(["floe", *shown]))
    os.environ.pop(ADMIN_VAR, None)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        log.warning("cannot make the process non-dumpable: %s", os.strerror(ctypes.get_errno()))


def _hash_password() -> int:
    """Read a password (twice at a terminal, once from a pipe) and print its hash for `users`."""
    import getpass

    from floe.server.passwords import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if password != getpass.getpass("again: "):
            print("floe: the two passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("floe: an empty password is not allowed", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["lint"]:
        from floe.config.lint import lint

        sys.exit(lint(_lint_parser().parse_args(args[1:]).files, sys.stdout))
    if args[:1] == ["hash-password"]:
        sys.exit(_hash_password())
    if args[:1] == ["run"]:
        from floe.client import main as run_main

        sys.exit(run_main(args[1:]))
    if args[:1] == ["keys"]:
        from floe.cli_keys import main as keys_main

        sys.exit(keys_main(args[1:]))
    if args[:1] == ["store"]:
        from floe.migrate import main as store_main

        sys.exit(store_main(args[1:]))
    _serve(args)


def _serve(args: list[str]) -> None:
    """Serve a host with the command line `args` until it is stopped."""
    from floe.config import ConfigError
    from floe.config.sources import load_config_source_sync
    from floe.host import HostError, Settings, serve
    from floe.host_secrets import SecretError, mask_logging, resolve_secrets
    from floe.hub.credentials import ADMIN_VAR, masked_values
    from floe.model.ids import valid_id
    from floe.model.mask import Masker
    from floe.store.errors import StoreError

    ns = _parser().parse_args(args)
    env_token = os.environ.get(ADMIN_VAR, "")
    if ns.max_runs and not ns.max_runs.isdigit():
        sys.exit(f"floe: -max_runs {ns.max_runs!r} must be a whole number (0: any number)")
    if not valid_id(ns.host_name):
        sys.exit(f"floe: host name {ns.host_name!r} must be 1-128 characters, none a space, dot or slash")
    logging.basicConfig(
        level=logging.DEBUG if ns.verbose else logging.INFO,
        format="%(asctime)s %(levelname).1s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per host-to-host call is noise
    _hide_credentials(args, ns.admin)
    conf = ns.conf
    if conf == DEFAULT_CONF and not Path(conf).exists():
        conf = str(Path(__file__).with_name(DEFAULT_CONF))  # the embedded demo
    try:
        config = load_config_source_sync(conf)
    except ConfigError as e:
        sys.exit("floe: bad config:\n" + "\n".join(p.shown() for p in e.problems))
    except OSError as e:
        sys.exit(f"floe: cannot read config {ns.conf}: {e.strerror}")
    try:
        secrets = resolve_secrets(config.common.secrets)
    except SecretError as e:
        sys.exit(f"floe: cannot read secrets:\n{e}")
    admin_token = _admin_token(ns.admin, ns.admin_file, env_token, config)
    mask_logging(Masker(masked_values(secrets, admin_token, config.common)))  # before anything is logged
    for w in config.warnings:
        log.warning("%s", w)
    settings = Settings(
        host_id=ns.host_name,
        tags=frozenset(t.strip() for t in ns.tags.split(",") if t.strip()),
        admin_token=admin_token,
        bind=ns.pub_bind,
        cert=ns.pub_cert,
        key=ns.pub_key,
        max_runs=int(ns.max_runs) if ns.max_runs else None,
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config, settings, secrets))
    except* (StoreError, HostError) as group:  # raised in the host's task groups (nested), or before them
        sys.exit(f"floe: {_first(group)}")


def _first(group: BaseExceptionGroup[Exception]) -> BaseException:
    """The first error of a (nested) exception group: one line for the user, not the group's."""
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first
