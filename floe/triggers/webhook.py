"""The `webhook` trigger (floe's `git-push`): push events of GitHub, Gitea and GitLab start runs."""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from floe.model.constant_time import same_secret
from floe.model.errors import BadRequest

log = logging.getLogger(__name__)

PATH = "/push/webhook"
MAX_BODY = 25 << 20  # GitHub's own cap on a payload
_ZERO = frozenset("0")


class BadPayload(BadRequest, ValueError):
    """The body is not a push payload (answered 400)."""


@dataclass(frozen=True, slots=True)
class Push:
    """A branch push: the branch (the whole name after `refs/heads/`), its ref, the new commit and
    the repository's clone URL ("" when the payload has none)."""

    branch: str
    ref: str
    hash: str
    repo: str

    def values(self, url: str = "") -> dict[str, str]:
        """The run's values; `url` is the trigger's configured one, which the payload's clone URL
        (always in `repo`) never replaces: it is the run's `url` only when none is configured."""
        out = {"branch": self.branch, "ref": self.ref, "hash": self.hash}
        if self.repo:
            out["repo"] = self.repo
        if url or self.repo:
            out["url"] = url or self.repo
        return out


def signature(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of `body` under `secret` (GitHub sends it as `sha256=<hex>`)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> str | None:
    """None when the request is signed with `secret`, else why not. `headers` has lower-case names.

    GitHub (and Gitea) `X-Hub-Signature-256: sha256=<hex hmac>`, Gitea/Gogs `X-Gitea-Signature` /
    `X-Gogs-Signature: <hex hmac>`, GitLab `X-Gitlab-Token: <secret>`; the first present decides."""
    sig = headers.get("x-hub-signature-256")
    if sig is not None:
        ok = same_secret(sig.strip().lower(), "sha256=" + signature(secret, body))
        return None if ok else "X-Hub-Signature-256 does not match the trigger's secret"
    for name, shown in (("x-gitea-signature", "X-Gitea-Signature"), ("x-gogs-signature", "X-Gogs-Signature")):
        sig = headers.get(name)
        if sig is not None:
            ok = same_secret(sig.strip().lower(), signature(secret, body))
            return None if ok else f"{shown} does not match the trigger's secret"
    token = headers.get("x-gitlab-token")
    if token is not None:
        return None if same_secret(token, secret) else "X-Gitlab-Token is not the trigger's secret"
    return "no signature (X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token)"


def event_kind(headers: Mapping[str, str]) -> str | None:
    """None for a push (or a request naming no event), else why the event is not one."""
    gitlab = headers.get("x-gitlab-event")
    if gitlab is not None:
        return None if gitlab.strip() == "Push Hook" else f"GitLab event {gitlab!r} is not a push"
    for name in ("x-gitea-event", "x-gogs-event", "x-github-event"):
        event = headers.get(name)
        if event is not None:
            event = event.strip().lower()
            if event == "ping":
                return "ping"
            return None if event == "push" else f"event {event!r} is not a push"
    return None


def _clone_url(payload: Mapping[str, Any]) -> str:
    for section, key in (
        ("repository", "clone_url"),  # GitHub, Gitea
        ("repository", "git_http_url"),  # GitLab
        ("project", "git_http_url"),  # GitLab
        ("", "git_http_url"),
    ):
        where = payload.get(section) if section else payload
        value = where.get(key) if isinstance(where, Mapping) else None
        if isinstance(value, str) and value:
            return value
    return ""


def parse_push(payload: Any) -> Push | str:
    """The branch push of a GitHub, Gitea or GitLab push payload, or why it starts nothing (a tag,
    a deleted branch); BadPayload when it is no push payload at all."""
    if not isinstance(payload, Mapping):
        raise BadPayload("the payload must be a JSON object")
    if "zen" in payload and "hook_id" in payload:
        return "ping"
    ref, after = payload.get("ref"), payload.get("after")
    if not isinstance(ref, str) or not ref:
        raise BadPayload("not a push payload: no ref")
    if not ref.startswith("refs/heads/") or ref == "refs/heads/":
        return f"{ref} is not a branch"
    branch = ref.removeprefix("refs/heads/")
    if not isinstance(after, str) or not after:
        raise BadPayload("not a push payload: no after (the new commit)")
    if set(after) <= _ZERO or payload.get("deleted") is True:
        return f"branch {branch} was deleted"
    return Push(branch, ref, after, _clone_url(payload))


def branch_filter(opts: Mapping[str, Any]) -> tuple[str, ...]:
    """The `branches` globs of a webhook trigger (a string or a list); empty means every branch."""
    raw = opts.get("branches")
    if isinstance(raw, str):
        return (raw,) if raw.strip() else ()
    if isinstance(raw, list):
        return tuple(b for b in raw if isinstance(b, str) and b.strip())
    return ()


def wanted(branch: str, patterns: tuple[str, ...]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(branch, p) for p in patterns)
