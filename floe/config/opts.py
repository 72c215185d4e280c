"""Type checks of the options each node type reads (other keys in `opts` stay free; data forms: forms.py)."""

from __future__ import annotations

import posixpath
import re
import shlex
import zoneinfo
from collections.abc import Callable

from floe.config.cron import cron_problem
from floe.config.keys import CHECKSUM_ALGOS, HTTP_METHODS
from floe.config.reader import Section
from floe.model.flow import NodeClass
from floe.model.gate import RANK
from floe.model.opts import OptError, opt_statuses


def check_opts(opts: Section, cls: NodeClass, node_type: str) -> None:
    """Report wrongly typed or missing options of a node of `cls` and (canonical) `node_type`."""
    check = _TRIGGER.get(node_type) if cls is NodeClass.TRIGGER else _TASK.get(node_type)
    if check is not None and cls is not NodeClass.MERGE:
        check(opts)


def _exec(o: Section) -> None:
    cmd = o.string("cmd")
    if cmd:
        try:
            shlex.split(cmd)
        except ValueError as exc:  # floe split on spaces, so floe's file still loads
            o.warn(
                "cmd",
                f"{cmd!r}: {str(exc).lower()}; the task fails when it runs (cmd is split as a shell would)",
            )
    o.string("shell")
    o.strings("args")
    _sub_dir(o)
    env = o.strings("env")
    for entry in env or ():
        if "=" not in entry:
            o.error("env", f"entry {entry!r} must be KEY=value")
    if o.has("cmd") and o.has("shell"):
        o.warn("shell", "both cmd and shell are set; cmd is used")
    elif not o.has("cmd") and not o.has("shell"):
        o.warn("cmd", "exec task has neither cmd nor shell; the triggering event must supply one")


def _fetch(o: Section) -> None:
    if o.string("url") is None and not o.has("url"):
        o.error("url", "fetch needs a url")
    o.string("checksum")
    o.choice("checksum-algo", CHECKSUM_ALGOS)
    location = o.string("location")
    if location and not posixpath.isabs(location) and ".." in location.replace("\\", "/").split("/"):
        o.error("location", f"{location!r} must stay inside the workspace")


def _git_checkout(o: Section) -> None:
    for key in ("url", "branch", "hash"):
        o.string(key)
    _sub_dir(o)


def _git_merge(o: Section) -> None:
    for key in ("url", "branch", "from-branch"):
        o.string(key)


def _http(o: Section) -> None:
    if o.string("url") is None and not o.has("url"):
        o.error("url", "an http task needs a url")
    method = o.string("method")
    if method is not None and method.upper() not in HTTP_METHODS:
        o.error("method", f"{method!r} is not one of: {', '.join(sorted(HTTP_METHODS))}")
    headers = o.section("headers")
    for key in headers.raw if headers is not None else ():
        headers.string(key)  # type: ignore[union-attr]
    o.string("body")
    if o.has("body") and o.has("json"):
        o.error("json", "an http task has either body or json, not both")
    o.number("timeout", durations=True, positive=True)
    o.boolean("follow-redirects")
    try:
        opt_statuses({"expect": o.value("expect")}, "expect")
    except OptError as e:
        o.error("expect", str(e).removeprefix("opt expect: "))


def _data_task(o: Section) -> None:
    """A gate's `resolvers` (users, role), and `decide` naming one of its form's fields."""
    resolvers = o.section("resolvers")
    if resolvers is not None:
        resolvers.check_keys(("users", "role"), "resolvers")
        resolvers.strings("users")
        resolvers.choice("role", RANK)
    elif o.has("resolvers"):
        o.error("resolvers", "must be a mapping with users and/or role")
    decide = o.string("decide")
    o.strings("approve")
    form = o.raw.get("form")
    fields = form.get("fields") if isinstance(form, dict) else None
    ids = [f.get("id") for f in fields or () if isinstance(f, dict)]
    if decide is not None and decide not in ids:
        o.error(
            "decide", f"{decide!r} is not a field of this gate's form ({', '.join(map(str, ids)) or 'none'})"
        )


def _timer_task(o: Section) -> None:
    o.number("period")


def _timer_trigger(o: Section) -> None:
    period = o.integer("period", minimum=1)
    cron = o.string("cron")
    if cron is not None:
        problem = cron_problem(cron)
        if problem:
            o.error("cron", f"{cron!r}: {problem}")
        elif period is not None:
            o.error("cron", "a timer has either period or cron, not both")
    tz = o.string("tz")
    if tz is not None:
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            o.error("tz", f"{tz!r} is not a known time zone")


def _poll_git(o: Section) -> None:
    if o.string("url") is None and not o.has("url"):
        o.error("url", "poll-git needs a url")
    o.string("refs")
    for key in ("exclude", "exclude-refs"):
        pattern = o.string(key)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                o.error(key, f"bad regular expression: {exc}")
    o.integer("period", minimum=1)


def _webhook(o: Section) -> None:
    o.string("secret")
    o.strings("branches", allow_single=True)
    o.string("url")


def _sub_dir(o: Section) -> None:
    sub = o.string("sub-dir")
    if sub and (posixpath.isabs(sub) or ".." in sub.replace("\\", "/").split("/")):
        o.error("sub-dir", f"{sub!r} must be a relative path inside the workspace")


_TRIGGER: dict[str, Callable[[Section], None]] = {
    "timer": _timer_trigger,
    "poll-git": _poll_git,
    "webhook": _webhook,
}
_TASK: dict[str, Callable[[Section], None]] = {
    "exec": _exec,
    "fetch": _fetch,
    "git-checkout": _git_checkout,
    "git-merge": _git_merge,
    "http": _http,
    "data": _data_task,
    "timer": _timer_task,
}
