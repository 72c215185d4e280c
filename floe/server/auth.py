"""Authentication: the admin token (`X-Floe-Auth`) or a `floe-sesh` session cookie, on every route
but login, health and static assets. Sessions are kept in the store so they survive a restart; a
session names its user, whose role is looked up in the running config on every request. A peer
forwarding a request (floe/server/forward.py) sends the admin token and names the user and role it
checked in `X-Floe-For` and `X-Floe-Role`: the request is then that user's, answered for this host."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from floe.config.users import User
from floe.model.constant_time import same_secret
from floe.model.gate import RANK
from floe.server.roles import Roles
from floe.store.base import RunStore

COOKIE = "floe-sesh"
HEADER = "x-floe-auth"
FOR, FOR_ROLE = "x-floe-for", "x-floe-role"  # set by a peer that forwards a request
SESSION_TTL = 10 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    role: str = "admin"
    forwarded: bool = False  # sent on by a peer, for `user`: answer for this host alone


def _key(token: str) -> str:
    return "session/" + hashlib.sha256(token.encode()).hexdigest()  # never store the token itself


def role_of(users: Iterable[User], name: str) -> str | None:
    """The role of user `name` now: admin for the admin token's user, a configured user's role, or
    None for a user the config does not have (any more)."""
    if name == "admin":
        return "admin"
    return next((u.role for u in users if u.name == name), None)


class Sessions:
    """Login sessions: random tokens whose hashes live in the store with the user and an expiry.
    `users` gives the configured users as they are now (after any reload): a session's role is
    looked up there on each request, and the session of a user no longer there ends at once."""

    def __init__(
        self, store: RunStore, users: Callable[[], Iterable[User]], clock: Callable[[], float] = time.time
    ) -> None:
        self.store, self.users, self.clock = store, users, clock

    async def create(self, user: str) -> str:
        token = secrets.token_urlsafe(32)
        self.store.put_kv(_key(token), {"user": user, "expires": self.clock() + SESSION_TTL})
        await self.store.flush()
        return token

    async def lookup(self, token: str) -> Principal | None:
        doc = await self.store.get_kv(_key(token))
        if not doc or doc.get("expires", 0) < self.clock():
            return None
        role = role_of(self.users(), doc["user"])
        if role is None:
            await self.end(token)  # the user was removed: the session dies with it
            return None
        return Principal(doc["user"], role)

    async def end(self, token: str) -> None:
        self.store.put_kv(_key(token), None)
        await self.store.flush()


async def authenticate(conn: HTTPConnection, admin_token: str, sessions: Sessions) -> Principal | None:
    """Who sent `conn`: the admin (by the `X-Floe-Auth` token) or a logged-in session; None if neither.

    The middleware's own check, for handlers of public paths that decide themselves (webhooks)."""
    token = conn.headers.get(HEADER, "")
    if token and admin_token and same_secret(token, admin_token):
        user, role = conn.headers.get(FOR, ""), conn.headers.get(FOR_ROLE, "")
        if user and role in RANK:
            return Principal(user[:64], role, forwarded=True)
        return Principal("admin", "admin")
    cookie = conn.cookies.get(COOKIE, "")
    if cookie:
        return await sessions.lookup(cookie)
    return None


class AuthMiddleware:
    """Rejects unauthenticated requests (401 JSON for the API, a redirect to login for pages)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        admin_token: str,
        sessions: Sessions,
        public: Callable[[str], bool],
        roles: Roles,
        base: str = "/build/api",
    ) -> None:
        self.base, self.roles = base, roles
        self.app, self.admin_token, self.sessions, self.public = app, admin_token, sessions, public

    async def authenticate(self, conn: HTTPConnection) -> Principal | None:
        return await authenticate(conn, self.admin_token, self.sessions)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.public(scope["path"]):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        who = await self.authenticate(conn)
        if who is not None:
            path = scope["path"]
            rel = path[len(self.base) :] if path.startswith(self.base + "/") else path
            method = scope.get("method", "GET")
            refused = self.roles.refusal(who.user, who.role, method, rel)
            if refused is not None:
                await JSONResponse(refused, status_code=403)(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = who
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # accept, then close with 4401, so a browser can tell "log in again" from a network failure
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": 4401, "reason": "unauthorized"})
            return
        respond: Callable[[Scope, Receive, Send], Awaitable[None]]
        if scope["path"].startswith("/app/"):
            query = scope.get("query_string", b"").decode("latin-1")
            target = scope["path"] + ("?" + query if query else "")
            respond = RedirectResponse("/app/login?next=" + quote(target, safe="/"), status_code=303)
        else:
            respond = JSONResponse({"error": "missing or invalid credentials"}, status_code=401)
        await respond(scope, receive, send)
