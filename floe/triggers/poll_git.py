"""The `poll-git` trigger: `git ls-remote` every `period` seconds; each new or moved ref starts a run."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from floe.config.sources import SourceError, git_env, redact, run_git
from floe.triggers.parts import TriggerParts
from floe.triggers.status import TriggerKey, TriggerStatus
from floe.triggers.timer import finish, sleep_until

log = logging.getLogger(__name__)

DEFAULT_PERIOD = 10
DEFAULT_REFS = "refs/heads/*"
LS_REMOTE_TIMEOUT = 60.0
_LINE = re.compile(r"^([0-9a-f]{40,64})\t(\S+)$")


@dataclass(frozen=True, slots=True)
class RefState:
    """The refs of repository `url` as last seen: full ref name → commit hash."""

    url: str
    refs: Mapping[str, str] = field(default_factory=dict)

    def doc(self) -> dict[str, Any]:
        return {"url": self.url, "refs": dict(self.refs)}

    @classmethod
    def from_doc(cls, doc: Any) -> RefState | None:
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("url"), str)
            or not isinstance(doc.get("refs"), dict)
        ):
            return None
        refs = {k: v for k, v in doc["refs"].items() if isinstance(k, str) and isinstance(v, str)}
        return cls(doc["url"], refs)


@dataclass(frozen=True, slots=True)
class PollSpec:
    """What a poll-git trigger reads from its opts."""

    url: str
    patterns: tuple[str, ...] = (DEFAULT_REFS,)
    exclude: re.Pattern[str] | None = None
    period: int = DEFAULT_PERIOD
    key_file: str = ""


def poll_spec(opts: Mapping[str, Any], git_key: str = "") -> PollSpec:
    """The spec of a poll-git trigger (opts are type-checked at load; ValueError if still wrong)."""
    url = opts.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ValueError("poll-git needs a url")
    refs = opts.get("refs")
    patterns = tuple(refs.split()) if isinstance(refs, str) and refs.strip() else (DEFAULT_REFS,)
    raw = opts.get("exclude") or opts.get("exclude-refs")
    exclude = re.compile(raw) if isinstance(raw, str) and raw else None
    period = opts.get("period")
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        period = DEFAULT_PERIOD
    key = opts.get("key-file")
    return PollSpec(url.strip(), patterns, exclude, period, key if isinstance(key, str) and key else git_key)


def parse_ls_remote(text: str, exclude: re.Pattern[str] | None = None) -> dict[str, str]:
    """`{ref: hash}` of `git ls-remote` output; HEAD, peeled tags (`^{}`) and refs that `exclude`
    matches (anywhere in the full ref name) are left out."""
    refs: dict[str, str] = {}
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if m is None:
            continue
        sha, ref = m.groups()
        if ref == "HEAD" or ref.endswith("^{}") or not ref.startswith("refs/"):
            continue
        if exclude is not None and exclude.search(ref):
            continue
        refs[ref] = sha
    return refs


def changed_refs(old: RefState | None, new: RefState) -> list[tuple[str, str]]:
    """The `(ref, hash)` pairs of `new` that are new or moved since `old`, sorted by ref.

    Nothing when there is no `old` (the first poll only records) or it was of another URL; a
    deleted ref is not a change."""
    if old is None or old.url != new.url:
        return []
    return sorted((ref, sha) for ref, sha in new.refs.items() if old.refs.get(ref) != sha)


def ref_values(url: str, ref: str, sha: str) -> dict[str, str]:
    """A run's values for `ref` at `sha`: `branch` is the whole name after `refs/heads/`
    (`feature/x` stays whole) or after `refs/tags/`, empty for other refs."""
    branch = ""
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            branch = ref[len(prefix) :]
    return {"branch": branch, "ref": ref, "hash": sha, "url": url}


async def ls_remote(spec: PollSpec) -> dict[str, str]:
    """The matching refs of the repository, or SourceError naming why not."""
    result = await run_git(
        ["ls-remote", "--refs", "--", spec.url, *spec.patterns],
        env=git_env(spec.key_file),
        timeout=LS_REMOTE_TIMEOUT,
    )
    if result.status:
        raise SourceError(f"git ls-remote {redact(spec.url)} failed: {result.why()}")
    return parse_ls_remote(result.out.decode("utf-8", errors="replace"), spec.exclude)


async def run_poller(parts: TriggerParts, key: TriggerKey, status: TriggerStatus) -> None:
    """Poll the repository of poll-git trigger `key` until cancelled (the first poll at once).

    The state `poll-git/<flow>/<trigger>` in the store's kv holds the URL and the refs last seen;
    it is updated ref by ref as runs start, so a restart neither repeats nor loses a change. A
    failing poll is logged and shown in the trigger's status; the next poll tries again."""
    current = key.current(parts.config())
    if current is None:
        return
    spec = poll_spec(current[1].opts, parts.config().common.git_key)
    state_key = key.state_key("poll-git")
    old = RefState.from_doc(await parts.store.get_kv(state_key))
    failing = ""  # the reason the last poll failed
    while True:
        started = parts.clock()
        try:
            refs = await ls_remote(spec)
        except SourceError as e:
            if str(e) != failing:  # each new reason once, not every period
                log.warning("poll-git %s: %s (polling again every %ds)", key, e, spec.period)
            status.failed(key, str(e), parts.clock())
            failing = str(e)
        else:
            if failing:
                log.info("poll-git %s: %s is reachable again", key, redact(spec.url))
                status.healthy(key)
                failing = ""
            new = RefState(spec.url, refs)
            if old is None or old.url != new.url:
                log.info("poll-git %s: recorded %d refs of %s", key, len(refs), redact(spec.url))
            if new != old:
                await finish(_start_runs(parts, key, status, state_key, old, new))
            old = new
        due = max(started + spec.period, parts.clock())
        status.scheduled(key, due)
        await sleep_until(due, parts.clock)


async def _start_runs(
    parts: TriggerParts,
    key: TriggerKey,
    status: TriggerStatus,
    state_key: str,
    old: RefState | None,
    new: RefState,
) -> None:
    seen = dict(old.refs) if old is not None and old.url == new.url else {}
    for ref, sha in changed_refs(old, new):
        current = key.current(parts.config())
        if current is None:
            return
        flow, trig = current
        now = parts.clock()
        try:
            run_id = await parts.start(flow, trig.id, ref_values(new.url, ref, sha))
        except Exception as e:  # a bad flow-file: this change starts nothing, the others still may
            log.warning("poll-git %s: %s at %s started nothing: %s", key, ref, sha[:12], e)
            status.failed(key, f"{ref} at {sha[:12]}: {e}", now)
        else:
            log.info("poll-git %s: %s at %s started %s", key, ref, sha[:12], run_id)
            status.fired(key, now, run_id)
        seen[ref] = sha
        parts.store.put_kv(state_key, RefState(new.url, seen).doc())
    parts.store.put_kv(state_key, new.doc())
    await parts.store.flush()
