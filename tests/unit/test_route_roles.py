"""The roles and open paths derived from the route table: what each kind of caller may send."""

from __future__ import annotations

import pytest

from floe.model.gate import RANK
from floe.server.roles import PEER, PUBLIC, Roles
from floe.server.routes import OPS, public_paths, role_rules
from floe.server.schemas import SCHEMAS

ROLES = Roles(role_rules())


def test_every_route_names_a_known_role_and_a_declared_schema() -> None:
    for op in OPS:
        assert op.role in {PUBLIC, PEER, *RANK}, (op.method, op.path)
        assert not op.body or op.body in SCHEMAS, op.body
        for name in op.answers.values():
            assert name in {"text", "binary", "any", "events"} or name in SCHEMAS, name


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/flows/f/runs/h1-1", "viewer"),
        ("HEAD", "/flows", "viewer"),
        ("GET", "/app/dash", "viewer"),  # a page: no route of the table
        ("POST", "/push/data", "operator"),
        ("POST", "/flows/f/runs/h1-1/cancel", "operator"),
        ("POST", "/flows/f/runs/h1-1/rerun", "operator"),
        ("POST", "/flows/f/triggers/t/run", "operator"),
        ("POST", "/runs", "operator"),
        ("POST", "/stop", "admin"),
        ("POST", "/go", "admin"),
        ("POST", "/config/reload", "admin"),
        ("POST", "/retention/run", "admin"),
        ("POST", "/something/new", "admin"),  # undeclared and changing state: the safest default
        ("DELETE", "/flows/f", "admin"),
        ("GET", "/p2p/hello", PEER),
        ("POST", "/p2p/runs", PEER),
        ("DELETE", "/p2p/locks/h1-1", PEER),
        ("POST", "/login", PUBLIC),
        ("POST", "/push/webhook/f/hook", PUBLIC),
    ],
)
def test_the_role_each_request_needs(method: str, path: str, role: str) -> None:
    assert ROLES.needed(method, path) == role


def test_refusals_name_the_role_needed() -> None:
    assert ROLES.refusal("vera", "viewer", "GET", "/flows") is None
    assert ROLES.refusal("vera", "viewer", "POST", "/push/data") == {
        "error": "vera (viewer) may not do this: it needs operator",
        "role": "operator",
    }
    assert ROLES.refusal("ada", "admin", "GET", "/p2p/hello") is not None  # a user, not a host
    assert ROLES.refusal("admin", "admin", "GET", "/p2p/hello") is None
    assert ROLES.refusal("otto", "operator", "POST", "/stop")["role"] == "admin"  # type: ignore[index]


def test_open_paths_are_the_public_routes() -> None:
    public = public_paths("/build/api")
    assert public("/healthz") and public("/build/api/login") and public("/build/api/push/webhook/f/t")
    assert not public("/build/api/flows") and not public("/build/api/p2p/hello") and not public("/login")
