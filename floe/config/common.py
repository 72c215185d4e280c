"""The `common` section of a host config: cluster hosts, API base, workspace and store settings."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from floe.config.keys import COMMON_KEYS, STORE_TYPES
from floe.config.reader import Section
from floe.config.retention import parse_retention
from floe.config.secrets import SecretRef, parse_secrets
from floe.config.users import User, parse_users
from floe.model.retention import Retention

DEFAULT_BASE_URL = "/build/api"
DEFAULT_WORKSPACE_ROOT = "~/.floe"
DEFAULT_MAX_BODY = 1 << 20  # bytes an API request body may have (webhooks and host-to-host: 25 MiB)
MIN_MAX_BODY = 1 << 10
DEFAULT_LEASE = 10.0  # seconds a host's lease on the postgres store lasts unrenewed (pg_link.LEASE)
MIN_LEASE = 1.0
DEFAULT_STORE_TIMEOUT = 5.0  # seconds a request waits for a store that cannot write (then 503)
DEFAULT_S3_TIMEOUT = 2.0  # seconds each S3 request may take to connect, and to answer
_ORIGIN = re.compile(r"^https?://[^/?#@\s]+$")


@dataclass(frozen=True, slots=True)
class Common:
    """Settings shared by every host of a cluster (paths expanded, nothing created)."""

    hosts: tuple[str, ...] = ()
    base_url: str = DEFAULT_BASE_URL
    workspace_root: str = ""
    store_type: str = "local"
    store_root: str = ""  # defaults to workspace_root
    git_key: str = ""
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint: str = ""
    s3_region: str = ""
    s3_timeout: float = DEFAULT_S3_TIMEOUT
    store_url: str = ""  # postgres: postgresql://USER@HOST:PORT/DB, never with a password
    secrets: Mapping[str, SecretRef] = field(default_factory=dict)  # name -> where its value comes from
    users: tuple[User, ...] = ()
    posted_flows: str = ""  # "" (off), "operator" or "admin": the least role that may POST /runs
    max_body: int = DEFAULT_MAX_BODY
    max_runs: int = 0  # the most runs a host takes at once, gate-waiting ones aside (0: any number)
    allowed_origins: tuple[str, ...] = ()  # browser origins besides the host's own (reverse proxies)
    lease: float = DEFAULT_LEASE  # postgres: seconds a host's lease lasts unrenewed (then it is taken over)
    store_timeout: float = DEFAULT_STORE_TIMEOUT  # seconds a request waits for a store that cannot write
    retention: Retention = field(
        default_factory=Retention
    )  # host-wide default; a flow's `retention` overrides it key by key


def expand_path(path: str) -> tuple[str, str]:
    """`(expanded, error)` by floe's rules: `~/` is home, a leading `%tmp` a fresh temp dir (not created)."""
    if path.strip() in ("~", "~/"):
        return "", "the home directory itself is not allowed"
    if len(path.strip()) < 2:
        return "", f"path {path!r} is too short"
    if path.startswith("~/"):
        return os.path.expanduser("~") + path[1:], ""
    if path.startswith("%tmp"):
        try:
            tmp = tempfile.gettempdir()
        except OSError as exc:
            return "", f"no temporary directory for %tmp: {exc}"
        fresh = os.path.join(tmp, "floe-" + secrets.token_hex(4))
        rest = path[4:].lstrip("/")
        return (os.path.join(fresh, rest) if rest else fresh), ""
    return path, ""


def parse_common(sec: Section | None) -> Common:
    """The `common` section (defaults when absent); faults go to the section's report."""
    if sec is None:
        root, _ = expand_path(DEFAULT_WORKSPACE_ROOT)
        return Common(workspace_root=root, store_root=root)
    sec.check_keys(COMMON_KEYS, "common")
    hosts = tuple(h.rstrip("/") for h in sec.strings("hosts") or ())
    for host in hosts:
        if not host.startswith(("http://", "https://")):
            sec.error("hosts", f"{host!r} must be an http:// or https:// address")
    base_url = sec.string("base-url") or DEFAULT_BASE_URL
    if not base_url.startswith("/"):
        sec.error("base-url", f"{base_url!r} must start with /")
    workspace_root = _path(sec, "workspace-root", DEFAULT_WORKSPACE_ROOT)
    store_root = _path(sec, "store-root", "") or workspace_root
    store_type = (
        "local" if sec.value("store-type") == "" else sec.choice("store-type", STORE_TYPES) or "local"
    )
    s3_bucket = sec.string("s3-bucket") or ""
    if store_type == "s3" and not s3_bucket:
        sec.error("store-type", "the s3 store needs s3-bucket")
    store_url = _store_url(sec, store_type)
    return Common(
        hosts=hosts,
        base_url=base_url.rstrip("/"),
        workspace_root=workspace_root,
        store_type=store_type,
        store_root=store_root,
        git_key=_git_key(sec),
        s3_bucket=s3_bucket,
        s3_prefix=sec.string("s3-prefix") or "",
        s3_endpoint=sec.string("s3-endpoint") or "",
        s3_region=sec.string("s3-region") or "",
        s3_timeout=sec.number("s3-timeout", durations=True, positive=True) or DEFAULT_S3_TIMEOUT,
        store_url=store_url,
        secrets=parse_secrets(sec),
        users=parse_users(sec),
        posted_flows=sec.choice("posted-flows", ("operator", "admin")) or "",
        max_body=sec.integer("max-body", MIN_MAX_BODY) or DEFAULT_MAX_BODY,
        max_runs=sec.integer("max-runs", 0) or 0,
        allowed_origins=_origins(sec),
        retention=parse_retention(sec),
        lease=_lease(sec),
        store_timeout=sec.number("store-timeout", durations=True, positive=True) or DEFAULT_STORE_TIMEOUT,
    )


def _lease(sec: Section) -> float:
    """`lease`: seconds, at least MIN_LEASE (the default when it is absent or wrong)."""
    lease = sec.number("lease", durations=True, positive=True)
    if lease is not None and lease < MIN_LEASE:
        sec.error("lease", f"must be at least {MIN_LEASE:g}s, not {sec.value('lease')!r}")
        return DEFAULT_LEASE
    return DEFAULT_LEASE if lease is None else lease


def _store_url(sec: Section, store_type: str) -> str:
    """`store-url`: required by the postgres store; a password in it is an error (the password
    comes from the environment or a secret, never from the YAML in plain text)."""
    url = sec.string("store-url") or ""
    if store_type == "postgres" and not url:
        sec.error("store-type", "the postgres store needs store-url: postgresql://USER@HOST:PORT/DB")
        return ""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError as e:
        sec.error("store-url", f"not a URL: {e}")
        return ""
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        sec.error("store-url", "must be postgresql://USER@HOST:PORT/DB")
        return ""
    if parts.password is not None or "password" in parse_qs(parts.query):
        sec.error(
            "store-url",
            "holds a password: remove it, and give it in FLOE_STORE_PASSWORD or PGPASSWORD, "
            "or as the secret store_password of common.secrets",
        )
        return ""
    return url


def _origins(sec: Section) -> tuple[str, ...]:
    origins = tuple(o.rstrip("/") for o in sec.strings("allowed-origins") or ())
    for origin in origins:
        if not _ORIGIN.match(origin):
            sec.error("allowed-origins", f"{origin!r} must be an origin like https://ci.example.com[:port]")
    return origins


def _path(sec: Section, key: str, default: str) -> str:
    raw = sec.string(key)
    if not raw:
        if not default:
            return ""
        raw = default
    path, problem = expand_path(raw)
    if problem:
        sec.error(key, problem)
    return path


def _git_key(sec: Section) -> str:
    raw = sec.string("git-key")
    if not raw:
        return ""
    path, problem = expand_path(raw)
    if problem:
        sec.error("git-key", problem)
    return path
