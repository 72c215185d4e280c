"""Where host configs and flow-files come from: a local file, a file in a git repository, or a URL."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import posixpath
import re
import secrets
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin, urlsplit

import httpx

from floe.config.errors import ConfigError, FlowFileError, Problem
from floe.config.flowfile import merge_flow_file
from floe.config.load import HostConfig, load_config, load_flow_document, parse_config
from floe.model.errors import Unprocessable
from floe.model.flow import Flow

log = logging.getLogger(__name__)

GIT_TIMEOUT = 120.0  # seconds one git command may take (a fetch of a slow remote)
HTTP_TIMEOUT = 30.0
MAX_BYTES = 8 << 20  # a config or flow-file larger than this is refused

Kind = Literal["file", "git", "http"]
_CREDENTIALS = re.compile(r"(://[^/@\s:]+):[^/@\s]*@")
_SCP = re.compile(r"^[\w.~-]+@[\w.-]+:")  # git@github.com:org/repo.git


class SourceError(Unprocessable):
    """A source could not be read; the message names it (passwords in URLs hidden)."""


def redact(text: str) -> str:
    """Hide the password of any `scheme://user:password@host` in `text`."""
    return _CREDENTIALS.sub(r"\1:***@", text)


_CAUSES = ("fatal:", "error:", "ssh:", "CONFLICT", "! [rejected]", "! [remote rejected]")
_CHATTER = ("Cloning into", "hint:", "remote:", "From ", "Receiving ", "Resolving ", "Unpacking ", "warning:")


def git_cause(lines: Iterable[str]) -> str:
    """The first meaningful line of git's output, passwords hidden: the first line naming a cause
    (`fatal:`, `error:`, `ssh:`, a conflict, a rejected ref), else the first line that is not
    progress or advice; "" when there is none. git's own last line is often only the tail of a
    sentence ("and the repository exists.")."""
    kept = [ln.strip() for ln in lines if ln.strip()]
    said = next((ln for ln in kept if ln.startswith(_CAUSES)), "")
    return redact(said or next((ln for ln in kept if not ln.startswith(_CHATTER)), ""))


@dataclass(frozen=True, slots=True)
class Source:
    """A parsed source. `location` is the file path, the http URL, or the git repository URL; a git
    source also names the file `path` inside the repository and the `ref` to read it at ("" is the
    remote's default branch)."""

    kind: Kind
    location: str
    path: str = ""
    ref: str = ""

    def __str__(self) -> str:
        if self.kind == "git":
            return f"git+{self.location}#{self.path}" + (f"@{self.ref}" if self.ref else "")
        return self.location

    @property
    def shown(self) -> str:
        """For messages and logs: without passwords."""
        return redact(str(self))


def _repo_path(path: str, spec: str) -> str:
    clean = posixpath.normpath("/" + path.strip()).lstrip("/")
    if not clean or clean == "." or path.strip().endswith("/"):
        raise SourceError(f"{redact(spec)}: no file named inside the repository")
    if ".." in posixpath.normpath(path.strip()).split("/"):
        raise SourceError(f"{redact(spec)}: the path {path!r} leaves the repository")
    return clean


def parse_source(spec: str) -> Source:
    """The source `spec` names:

    - `git+<repo-url>#<path>[@<ref>]`, e.g. `git+https://host/org/repo.git#ci/build.yml@main`;
    - floe's `git@host:org/repo.git/path/file.yml` (also `ssh://...repo.git/path`): the repository is
      everything up to `.git`, the file the rest, the ref the remote's default branch;
    - an `http://` or `https://` URL;
    - otherwise a local path (`file://` URLs too; a leading `~/` is the home directory).
    """
    spec = spec.strip()
    if not spec:
        raise SourceError("empty source")
    if spec.startswith("git+"):
        rest = spec[4:]
        url, hash_mark, frag = rest.rpartition("#")
        if not hash_mark or not url:
            raise SourceError(f"{redact(spec)}: a git source is git+<repo-url>#<path>[@<ref>]")
        path, at, ref = frag.rpartition("@")
        if not at:
            path, ref = frag, ""
        if at and not ref:
            raise SourceError(f"{redact(spec)}: empty ref after @")
        if url.startswith("-") or ref.startswith("-"):
            raise SourceError(f"{redact(spec)}: a repository URL or ref may not start with -")
        return Source("git", url, _repo_path(path, spec), ref)
    if spec.startswith(("http://", "https://")):
        return Source("http", spec)
    if _SCP.match(spec) or spec.startswith("ssh://") or ("git@" in spec and "://" not in spec):
        url, dot_git, path = spec.partition(".git/")
        if not dot_git:
            raise SourceError(
                f"{redact(spec)}: cannot tell the repository from the file; write git+<repo-url>#<path>@<ref>"
            )
        return Source("git", url + ".git", _repo_path(path, spec))
    if spec.startswith("file://"):
        return Source("file", urlsplit(spec).path)
    if spec.startswith("~/"):
        return Source("file", os.path.expanduser("~") + spec[1:])
    return Source("file", spec)


def resolve_relative(base: Source | None, spec: str) -> Source:
    """Source `spec` as named from a config read from `base`: a relative local path is relative to
    the config's own place (its directory, the same repository at the same ref, or its URL)."""
    src = parse_source(spec)
    if src.kind != "file" or base is None or posixpath.isabs(src.location) or spec.strip().startswith("~/"):
        return src
    if base.kind == "file":
        return Source("file", str(Path(base.location).parent / src.location))
    if base.kind == "git":
        joined = posixpath.join(posixpath.dirname(base.path), src.location)
        return Source("git", base.location, _repo_path(joined, spec), base.ref)
    return Source("http", urljoin(base.location, src.location))


def git_env(key_file: str = "") -> dict[str, str]:
    """The environment of a git command: no prompts, C messages, and the ssh key when one is set."""
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    if key_file:
        key = shlex.quote(str(Path(key_file).expanduser()))
        env["GIT_SSH_COMMAND"] = (
            f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new -o BatchMode=yes"
        )
    return env


@dataclass(frozen=True, slots=True)
class GitResult:
    status: int
    out: bytes
    err: str

    def why(self) -> str:
        """git's first meaningful line of stderr (passwords hidden), or its exit status."""
        return git_cause(self.err.splitlines()) or f"exit status {self.status}"


async def _reap(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


async def run_git(
    args: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str], timeout: float = GIT_TIMEOUT
) -> GitResult:
    """Run `git <args>` in its own process group; on timeout or cancellation the group is killed
    and reaped. A timeout or a missing git raises SourceError."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as e:
        raise SourceError(f"cannot run git: {e.strerror or e}") from e
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        await _reap(proc)
        raise SourceError(f"git {args[0]} timed out after {timeout:g}s") from None
    except BaseException:
        await asyncio.shield(_reap(proc))
        raise
    return GitResult(proc.returncode or 0, out, err.decode("utf-8", errors="replace"))


class SourceFlowFiles:
    """Reads configs and flow-files from files, git and http; the host's FlowFiles resolver.

    Git repositories are kept shallow under `<cache_dir>/git/<hash of url>` and fetched (never
    re-cloned) on each read, one command at a time per repository; http bodies are kept in memory
    with their ETag and revalidated with If-None-Match."""

    def __init__(self, cache_dir: Path | str, git_key: str = "") -> None:
        self.cache_dir = Path(cache_dir)
        self.git_key = git_key  # the host's `git-key`; a reload may change it
        self._locks: dict[str, asyncio.Lock] = {}
        self._http: dict[str, tuple[str, bytes]] = {}  # url -> (etag, body)

    # ---- FlowFiles ---------------------------------------------------------------------------
    async def resolve(self, flow: Flow) -> Flow:
        """The flow with its `flow-file` merged in (a new Flow), or FlowFileError: nothing starts."""
        if not flow.flow_file:
            return flow
        try:
            base = parse_source(flow.source) if flow.source else None
            src = resolve_relative(base, flow.flow_file)
            text = await self.read(src)
            return merge_flow_file(flow, load_flow_document(text, src.shown))
        except SourceError as e:
            message = f"flow-file {redact(flow.flow_file)} of flow {flow.id}: {e}"
        except ConfigError as e:
            message = f"flow-file {redact(flow.flow_file)} of flow {flow.id} is not a valid flow:\n{e}"
        log.warning("%s", message)
        raise FlowFileError(message)

    # ---- configs -----------------------------------------------------------------------------
    async def load_config(self, spec: str) -> HostConfig:
        """The host config at `spec` (file, git or http); ConfigError when it cannot be read or is bad."""
        try:
            src = parse_source(spec)
            if src.kind == "file":
                return await asyncio.to_thread(load_config, src.location)
            text = await self.read(src)
        except SourceError as e:
            raise ConfigError([Problem(redact(spec), 0, "", f"cannot read: {e}")]) from None
        return parse_config(text, str(src))

    # ---- reading -----------------------------------------------------------------------------
    async def read(self, src: Source) -> bytes:
        """The bytes of `src`, or SourceError."""
        if src.kind == "git":
            return await self._read_git(src)
        if src.kind == "http":
            return await self._read_http(src.location)
        return await self._read_file(Path(src.location))

    async def _read_file(self, path: Path) -> bytes:
        try:
            if (await asyncio.to_thread(path.stat)).st_size > MAX_BYTES:
                raise SourceError(f"{path}: larger than {MAX_BYTES} bytes")
            return await asyncio.to_thread(path.read_bytes)
        except OSError as e:
            raise SourceError(f"cannot read {path}: {e.strerror or e}") from e
        except ValueError as e:  # a NUL in the path
            raise SourceError(f"cannot read {path!r}: {e}") from e

    async def _read_http(self, url: str) -> bytes:
        cached = self._http.get(url)
        headers = {"If-None-Match": cached[0]} if cached else {}
        try:
            async with (
                httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=True) as client,
                client.stream("GET", url, headers=headers) as r,
            ):
                if r.status_code == 304 and cached:
                    return cached[1]
                if r.status_code != 200:
                    raise SourceError(f"GET {redact(url)}: {r.status_code} {r.reason_phrase}")
                body = bytearray()
                async for chunk in r.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise SourceError(f"GET {redact(url)}: larger than {MAX_BYTES} bytes")
                etag = r.headers.get("etag")
        except httpx.HTTPError as e:
            raise SourceError(f"GET {redact(url)}: {redact(str(e)) or type(e).__name__}") from e
        if etag:
            self._http[url] = (etag, bytes(body))
        else:
            self._http.pop(url, None)
        return bytes(body)

    def repo_dir(self, url: str) -> Path:
        """The cache directory of repository `url`."""
        return self.cache_dir / "git" / hashlib.sha256(url.encode()).hexdigest()[:24]

    async def _read_git(self, src: Source) -> bytes:
        repo = self.repo_dir(src.location)
        env = git_env(self.git_key)
        lock = self._locks.setdefault(str(repo), asyncio.Lock())
        async with lock:
            if not await asyncio.to_thread((repo / "HEAD").exists):
                await self._init_repo(repo, src.location, env)
            ref = src.ref or "HEAD"
            fetch = await run_git(
                ["fetch", "--quiet", "--depth", "1", "--no-tags", "origin", ref], cwd=repo, env=env
            )
            if fetch.status:
                raise SourceError(f"git fetch {redact(src.location)} {ref} failed: {fetch.why()}")
            show = await run_git(["cat-file", "blob", f"FETCH_HEAD:{src.path}"], cwd=repo, env=env)
            if show.status:
                raise SourceError(f"no file {src.path} in {redact(src.location)} at {ref}")
            if len(show.out) > MAX_BYTES:
                raise SourceError(f"{src.shown}: larger than {MAX_BYTES} bytes")
            return show.out

    async def _init_repo(self, repo: Path, url: str, env: Mapping[str, str]) -> None:
        """An empty bare repository with `origin` = url, created beside and renamed into place."""
        repo.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = repo.with_name(f"{repo.name}.tmp-{secrets.token_hex(4)}")
        try:
            for args in (
                ["init", "--quiet", "--bare", str(tmp)],
                ["-C", str(tmp), "remote", "add", "origin", url],
            ):
                result = await run_git(args, env=env)
                if result.status:
                    raise SourceError(f"cannot prepare a cache of {redact(url)}: {result.why()}")
            await asyncio.to_thread(_move_into_place, tmp, repo)
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp, True)


def _move_into_place(tmp: Path, repo: Path) -> None:
    if repo.exists():
        shutil.rmtree(repo)  # a half-made cache (its HEAD was missing)
    tmp.rename(repo)


def default_cache_dir() -> Path:
    """Where a config read from git at start-up is cached, before the config names its store-root."""
    return Path.home() / ".floe" / "flow_cache"


async def load_config_source(spec: str, cache_dir: Path | str | None = None, git_key: str = "") -> HostConfig:
    """The host config at `spec` (a file path, `git+<url>#<path>@<ref>`, floe's `git@host:repo.git/path`,
    or an http(s) URL); ConfigError when it cannot be read or is not valid."""
    return await SourceFlowFiles(cache_dir or default_cache_dir(), git_key).load_config(spec)


def load_config_source_sync(spec: str, cache_dir: Path | str | None = None, git_key: str = "") -> HostConfig:
    """load_config_source for the command line, before the host's event loop runs."""
    return asyncio.run(load_config_source(spec, cache_dir, git_key))
