"""The `fetch` task: download over http(s) into the host-wide cache, verify the checksum, link into place."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import shutil
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

import httpx

from floe.model.opts import OptError, opt_str
from floe.nodes import paths
from floe.nodes.base import NodeContext, NodeError, Outcome

ALGOS = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}  # hex digits
PROGRESS_EVERY = 0.5  # seconds between progress lines
CHUNK = 256 * 1024
TIMEOUT = httpx.Timeout(30.0, connect=10.0)  # per network operation, not for the whole download


@dataclass(frozen=True, slots=True)
class Spec:
    """What to fetch, how to verify it (`checksum` "" for no verification), and where to put it."""

    url: str
    algo: str
    checksum: str
    location: Path


def parse_checksum(opts: Mapping[str, Any]) -> tuple[str, str]:
    """(algo, lower-case hex) from `checksum` (a bare digest or a `sha256sum` line) and `checksum-algo`.

    Without `checksum-algo` the algorithm follows from the digest's length (sha256 when none fits).
    """
    words = opt_str(opts, "checksum").split()
    checksum = words[0].lower() if words else ""
    algo = opt_str(opts, "checksum-algo").lower().replace("-", "")
    if algo and algo not in ALGOS:
        raise OptError(f"checksum-algo {algo!r} is not one of {', '.join(ALGOS)}")
    if not checksum:
        return algo or "sha256", ""
    try:
        bytes.fromhex(checksum)
    except ValueError:
        raise OptError(f"checksum {checksum!r} is not hex") from None
    if not algo:
        algo = next((a for a, n in ALGOS.items() if n == len(checksum)), "sha256")
    if len(checksum) != ALGOS[algo]:
        raise OptError(f"checksum has {len(checksum)} hex digits, {algo} needs {ALGOS[algo]}")
    return algo, checksum


def file_name(url: str) -> str:
    """The last segment of the URL's path, as a safe file name ("download" when there is none)."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name.replace("\0", "_")
    return name if name not in ("", ".", "..") else "download"


def parse(ctx: NodeContext) -> Spec:
    """Validate the opts; `location` defaults to `<ws>/<file name>`, a trailing `/` or an existing
    directory gets the file name appended, and the result must be inside the workspace."""
    try:
        url = opt_str(ctx.opts, "url", required=True)
        algo, checksum = parse_checksum(ctx.opts)
        location = opt_str(ctx.opts, "location")
    except OptError as exc:
        raise NodeError(str(exc)) from exc
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NodeError(f"fetch url must be http:// or https://, got {url!r}")
    name = file_name(url)
    if not location or location.endswith("/"):
        location += name
    dest = paths.inside(ctx.workspace, location, what="location")
    if dest.is_dir():
        dest = dest / name
    return Spec(url, algo, checksum, dest)


def cache_path(cache_dir: Path, spec: Spec) -> Path:
    """The cache entry of a URL and checksum (so a changed checksum is a new entry)."""
    key = hashlib.sha256(f"{spec.algo}:{spec.checksum}\n{spec.url}".encode()).hexdigest()[:32]
    return cache_dir / f"{key}-{file_name(spec.url)[:80]}"


def _digest_file(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _open_part(cache_dir: Path) -> tuple[BinaryIO, Path]:
    fd, name = tempfile.mkstemp(dir=cache_dir, prefix=".part-")
    os.fchmod(fd, 0o644)
    return os.fdopen(fd, "wb"), Path(name)


def _place(src: Path, dest: Path) -> None:
    """Hard-link `src` to `dest` (replacing it), or copy it when linking is not possible."""
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context, built once (loading the CA bundle takes tens of milliseconds)."""
    return httpx.create_ssl_context()


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


async def _stream(ctx: NodeContext, url: str, algo: str, out: BinaryIO) -> str:
    """GET `url` into `out`, logging progress; the hex digest of what was received."""
    loop = asyncio.get_running_loop()
    h = hashlib.new(algo)
    got = 0
    started = last = loop.time()
    headers = {"Accept-Encoding": "identity"}  # the bytes as served, like curl
    async with (
        httpx.AsyncClient(follow_redirects=True, timeout=TIMEOUT, headers=headers, verify=_tls()) as client,
        client.stream("GET", url) as resp,
    ):
        if not resp.is_success:
            raise NodeError(f"GET {url}: {resp.status_code} {resp.reason_phrase}")
        length = resp.headers.get("content-length", "")
        total = int(length) if length.isdigit() else 0
        async for chunk in resp.aiter_raw(CHUNK):
            out.write(chunk)
            h.update(chunk)
            got += len(chunk)
            if loop.time() - last >= PROGRESS_EVERY:
                last = loop.time()
                share = f" of {_size(total)} ({100 * got // total}%)" if total else ""
                ctx.log(f"downloaded {_size(got)}{share}")
    ctx.log(f"downloaded {_size(got)} in {loop.time() - started:.1f}s")
    return h.hexdigest()


async def download(ctx: NodeContext, spec: Spec) -> Path:
    """Download into a new temp file in the cache directory and verify it; the caller owns the file.

    Error handling: NodeError for an HTTP error status ("GET <url>: 404 Not Found"), a network
    failure (with its reason) and a checksum mismatch; the temp file is then removed.
    """
    ctx.log(f"fetching {spec.url}")
    out, part = _open_part(ctx.cache_dir)
    try:
        with out:
            digest = await _stream(ctx, spec.url, spec.algo, out)
        if spec.checksum and digest != spec.checksum:
            raise NodeError(f"checksum mismatch: expected {spec.checksum} got {digest}")
    except httpx.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise NodeError(f"GET {spec.url}: {str(exc) or type(exc).__name__}") from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return part


async def _cached(ctx: NodeContext, spec: Spec) -> Path:
    """The verified cache entry of `spec`, downloaded unless a good copy is there already."""
    entry = cache_path(ctx.cache_dir, spec)
    if entry.is_file():
        digest = await asyncio.to_thread(_digest_file, entry, spec.algo)
        if digest == spec.checksum:
            ctx.log(f"using cached {spec.url}")
            return entry
        ctx.log(f"cached copy does not match its checksum ({digest}): fetching again")
    (await download(ctx, spec)).replace(entry)
    return entry


async def execute(ctx: NodeContext) -> Outcome:
    """Fetch `url` to `location`; with a checksum through the cache, without one freshly each time."""
    spec = parse(ctx)
    ctx.cache_dir.mkdir(parents=True, exist_ok=True)
    if spec.checksum:
        await asyncio.to_thread(_place, await _cached(ctx, spec), spec.location)
    else:
        ctx.log("warning: no checksum given: the download is not verified (nor cached)")
        fresh = await download(ctx, spec)
        try:
            await asyncio.to_thread(_place, fresh, spec.location)
        finally:
            fresh.unlink(missing_ok=True)
    ctx.log(f"saved {spec.location}")
    return Outcome(0)
