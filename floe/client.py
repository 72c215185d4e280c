"""`floe run FLOW`: trigger a run on a host over its public API, and with --follow stream it to the end."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect

ADMIN_VAR = "FLOE_ADMIN"  # the variable the host reads too (floe.hub.credentials.ADMIN_VAR)
DEFAULT_TOKEN_FILE = "~/.floe/admin-token"  # where a host without -admin writes the one it generated
GOOD, BAD, OTHER = 0, 1, 2  # exit statuses, as `gh run watch --exit-status`
EXIT = {"good": GOOD, "bad": BAD}
UNAUTHORIZED = 4401  # the host's close code for a missing or bad credential
UNREADABLE = 1011  # the host cannot read the run's stored record or events (the reason says why)
RECONNECT_FOR = 120.0  # seconds the stream may stay unreachable (a host restart) before giving up
MAX_BACKOFF = 5.0


class ClientError(Exception):
    """A failure to tell the user in one line (exit status 2)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="floe run",
        description="Trigger a data trigger of FLOW on a host. With --follow, stream the run's node "
        "starts, finishes and log lines (prefixed with the node id) until it ends.",
        epilog="Exit status: 0 started (or, with --follow, ended good); 1 ended bad; 2 cancelled, "
        "refused (a bad value, a bad token) or the host unreachable.",
    )
    p.add_argument("flow", metavar="FLOW", help="the flow id")
    p.add_argument(
        "-v",
        "--value",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a value of the trigger's form (a string; the host checks and converts it); repeatable",
    )
    p.add_argument("--host", default="http://127.0.0.1:8080", help="the host's address (default %(default)s)")
    p.add_argument("--base", default="/build/api", help="the host's common.base-url (default %(default)s)")
    p.add_argument("--trigger", default="", metavar="ID", help="the data trigger (default: the flow's first)")
    p.add_argument("--ver", type=int, default=0, help="the flow version (default: the highest)")
    p.add_argument("--admin", default="", help=f"the admin token (or {ADMIN_VAR}, --admin-file)")
    p.add_argument(
        "--admin-file", default="", help=f"a file holding the admin token (default {DEFAULT_TOKEN_FILE})"
    )
    p.add_argument("-f", "--follow", action="store_true", help="stream the run until it ends")
    return p


def values(pairs: Sequence[str]) -> dict[str, str]:
    """`{key: value}` of `key=value` arguments (the value may hold `=`, and may be empty)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ClientError(f"-v {pair!r} is not KEY=VALUE")
        out[key] = value
    return out


def admin_token(arg: str, file: str, env: str) -> str:
    """The token: --admin-file if given, else --admin, else $FLOE_ADMIN, else ~/.floe/admin-token."""
    if arg and not file:
        return arg
    if env and not file:
        return env
    path = Path(file or DEFAULT_TOKEN_FILE).expanduser()
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ClientError(
            f"no admin token: give --admin, {ADMIN_VAR} or --admin-file ({path}: "
            f"{getattr(e, 'strerror', None) or e})"
        ) from e
    if not token:
        raise ClientError(f"the admin token file {path} is empty")
    return token


def _refused(resp: httpx.Response) -> ClientError:
    try:
        doc = resp.json()
    except ValueError:
        doc = {}
    error = doc.get("error") if isinstance(doc, dict) else None
    field = doc.get("field") if isinstance(doc, dict) else None
    text = str(error or resp.reason_phrase or "refused")
    return ClientError(f"{resp.status_code}: " + (f"{field}: {text}" if field else text))


def trigger(http: httpx.Client, base: str, flow: str, ver: int, trig: str, vals: dict[str, str]) -> str:
    """POST {base}/push/data; the new run's id, or ClientError with the host's answer."""
    body = {"Ref": {"ID": flow, "Ver": ver}, "Form": {"ID": trig, "Values": vals}}
    try:
        resp = http.post(base.rstrip("/") + "/push/data", json=body)
    except httpx.HTTPError as e:
        raise ClientError(f"cannot reach {http.base_url}: {e}") from e
    if resp.status_code != 202:
        raise _refused(resp)
    run_id: str = resp.json()["run_id"]
    return run_id


def _ws_url(host: str, run_id: str, after: int) -> str:
    parts = urlsplit(host)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/ws?run={quote(run_id)}&after={after}"


def events(host: str, token: str, run_id: str) -> Iterator[dict[str, Any]]:
    """The run's events, in order and each once, until `sys.end.all`: the host replays those after
    the last seq seen on every reconnect (after a 4408 "too slow", a move to another host, a host
    restart); ClientError once the stream stays unreachable for RECONNECT_FOR seconds."""
    after, backoff, since = 0, 0.1, time.monotonic()
    while True:
        try:
            with connect(
                _ws_url(host, run_id, after), additional_headers={"X-Floe-Auth": token}, open_timeout=10
            ) as ws:
                backoff, since = 0.1, time.monotonic()
                for frame in ws:
                    e = json.loads(frame)
                    if e["seq"] <= after:
                        continue
                    after = e["seq"]
                    yield e
                    if e["tag"] == "sys.end.all":
                        return
        except ConnectionClosed as e:
            if e.rcvd is not None and e.rcvd.code == UNAUTHORIZED:
                raise ClientError("the host refused the admin token (4401)") from e
            if e.rcvd is not None and e.rcvd.code == UNREADABLE:
                raise ClientError(f"the host cannot read run {run_id}: {e.rcvd.reason}") from e
        except (OSError, InvalidHandshake, TimeoutError) as e:
            if time.monotonic() - since > RECONNECT_FOR:
                raise ClientError(f"lost the event stream of {run_id}: {e}") from e
        except InvalidURI as e:
            raise ClientError(f"bad --host {host!r}: {e}") from e
        time.sleep(backoff)  # a backoff between reconnects, not a synchronisation
        backoff = min(MAX_BACKOFF, backoff * 2)


def line(e: dict[str, Any]) -> str | None:
    """How an event shows in the terminal, or None for one that does not."""
    tag, node, opts = e["tag"], e["source_node"], e.get("opts") or {}
    if tag == "sys.node.update" and isinstance(opts.get("lines"), list):
        return "\n".join(f"{node} | {text}" for text in opts["lines"]) or None
    if tag == "sys.node.update" and isinstance(opts.get("line"), str):
        return f"{node} | {opts['line']}"
    if tag == "sys.node.update" and "retry" in opts:
        return f"{node} will retry: {opts.get('reason', '')}".rstrip(": ")
    if tag == "sys.node.start":
        return f"--> {node} started"
    if tag == "sys.data.required":
        missing = ", ".join(str(m) for m in opts.get("missing") or [])
        return f"--- {node} waits for input" + (f": {missing}" if missing else "")
    if tag.startswith("task."):
        exit_status = opts.get("exit_status")
        result = tag.rsplit(".", 1)[-1]
        return f"<-- {node} {result}" + ("" if exit_status is None else f" (exit {exit_status})")
    if tag == "sys.end.all":
        reason = opts.get("reason") or ""
        return f"run {e['run_id']} {opts.get('status', '?')}" + (f": {reason}" if reason else "")
    return None


def follow(host: str, token: str, run_id: str, out: TextIO) -> int:
    """Print the run's events until it ends; its exit status (0 good, 1 bad, 2 cancelled or other)."""
    for e in events(host, token, run_id):
        shown = line(e)
        if shown is not None:
            print(shown, file=out, flush=True)
        if e["tag"] == "sys.end.all":
            return EXIT.get(str((e.get("opts") or {}).get("status")), OTHER)
    return OTHER


def main(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    ns = _parser().parse_args(argv)
    try:
        token = admin_token(ns.admin, ns.admin_file, os.environ.get(ADMIN_VAR, ""))
        vals = values(ns.value)
        with httpx.Client(base_url=ns.host, headers={"X-Floe-Auth": token}, timeout=30) as http:
            run_id = trigger(http, ns.base, ns.flow, ns.ver, ns.trigger, vals)
        print(run_id if not ns.follow else f"run {run_id} of {ns.flow} created", file=out, flush=True)
        return follow(ns.host, token, run_id, out) if ns.follow else GOOD
    except ClientError as e:
        print(f"floe run: {e}", file=sys.stderr)
        return OTHER
    except KeyboardInterrupt:
        return 130
