"""Webhook signatures (GitHub, Gitea, GitLab), event kinds, push payloads and branch filters."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from floe.server.webhooks import is_webhook_path
from floe.triggers.webhook import (
    BadPayload,
    Push,
    branch_filter,
    event_kind,
    parse_push,
    verify,
    wanted,
)

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"


def test_github_signature_matches_githubs_documented_example() -> None:
    # docs.github.com "Validating webhook deliveries": this secret and payload give this signature
    sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert verify({"x-hub-signature-256": sig}, BODY, SECRET) is None
    assert verify({"x-hub-signature-256": sig.upper().replace("SHA256=", "sha256=")}, BODY, SECRET) is None
    assert verify({"x-hub-signature-256": sig}, BODY + b" ", SECRET) is not None
    assert verify({"x-hub-signature-256": sig}, BODY, "other") is not None
    assert verify({"x-hub-signature-256": sig[7:]}, BODY, SECRET) is not None  # without sha256=


def test_gitea_signature_is_the_bare_hex() -> None:
    hexsig = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert verify({"x-gitea-signature": hexsig}, BODY, SECRET) is None
    assert verify({"x-gogs-signature": hexsig}, BODY, SECRET) is None
    assert verify({"x-gitea-signature": "0" * 64}, BODY, SECRET) is not None


def test_gitlab_token_is_the_secret_itself() -> None:
    assert verify({"x-gitlab-token": SECRET}, BODY, SECRET) is None
    assert verify({"x-gitlab-token": "nope"}, BODY, SECRET) is not None
    assert verify({"x-gitlab-token": "é"}, BODY, SECRET) is not None  # non-ASCII never raises


def test_missing_signature() -> None:
    assert "no signature" in (verify({}, BODY, SECRET) or "")


def test_event_kinds() -> None:
    assert event_kind({}) is None
    assert event_kind({"x-github-event": "push"}) is None
    assert event_kind({"x-github-event": "ping"}) == "ping"
    assert event_kind({"x-github-event": "pull_request"}) is not None
    assert event_kind({"x-gitea-event": "push", "x-github-event": "push"}) is None
    assert event_kind({"x-gitea-event": "create"}) is not None
    assert event_kind({"x-gitlab-event": "Push Hook"}) is None
    assert event_kind({"x-gitlab-event": "Tag Push Hook"}) is not None


GITHUB = {
    "ref": "refs/heads/feature/x",
    "before": "0" * 40,
    "after": "a" * 40,
    "repository": {"clone_url": "https://github.com/o/r.git", "ssh_url": "git@github.com:o/r.git"},
    "deleted": False,
}
GITLAB = {
    "object_kind": "push",
    "ref": "refs/heads/main",
    "after": "b" * 40,
    "checkout_sha": "b" * 40,
    "project": {"git_http_url": "https://gitlab.example/o/r.git"},
    "repository": {"git_http_url": "https://gitlab.example/o/r.git"},
}


def test_push_payloads() -> None:
    assert parse_push(GITHUB) == Push(
        "feature/x", "refs/heads/feature/x", "a" * 40, "https://github.com/o/r.git"
    )
    push = parse_push(GITLAB)
    assert isinstance(push, Push) and push.repo == "https://gitlab.example/o/r.git"
    assert push.values() == {
        "branch": "main",
        "ref": "refs/heads/main",
        "hash": "b" * 40,
        "repo": "https://gitlab.example/o/r.git",
        "url": "https://gitlab.example/o/r.git",
    }
    bare = parse_push({"ref": "refs/heads/main", "after": "c" * 40})
    assert isinstance(bare, Push) and "url" not in bare.values()


def test_pushes_that_start_nothing() -> None:
    assert "not a branch" in str(parse_push({**GITHUB, "ref": "refs/tags/v1"}))
    assert "deleted" in str(parse_push({**GITHUB, "after": "0" * 40}))
    assert "deleted" in str(parse_push({**GITHUB, "deleted": True}))
    assert parse_push({"zen": "Keep it logically awesome.", "hook_id": 1}) == "ping"


@pytest.mark.parametrize(
    "payload", [[], "x", {}, {"ref": 3}, {"ref": "refs/heads/m"}, {"ref": "refs/heads/m", "after": 5}]
)
def test_not_push_payloads(payload: object) -> None:
    with pytest.raises(BadPayload):
        parse_push(payload)


def test_branch_filters() -> None:
    assert branch_filter({}) == ()
    assert branch_filter({"branches": "main"}) == ("main",)
    assert branch_filter({"branches": ["main", "release/*", 3]}) == ("main", "release/*")
    assert wanted("anything", ())
    assert wanted("release/1.2", ("main", "release/*"))
    assert not wanted("feature/x", ("main", "release/*"))


def test_webhook_paths() -> None:
    assert is_webhook_path("/build/api/push/webhook/f/t", "/build/api")
    assert is_webhook_path("/build/api/push/webhook/f/t", "/build/api/")
    assert not is_webhook_path("/build/api/push/data", "/build/api")
    assert not is_webhook_path("/other/push/webhook/f/t", "/build/api")
