"""Calls to a peer with the admin token: host-to-host ones under `{base}/p2p/`, and public requests
forwarded for a user; httpx errors become PeerError."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import httpx

from floe.cluster.signing import SIGNATURE_KEY, sign

log = logging.getLogger(__name__)


class PeerError(Exception):
    """A peer did not answer usefully: unreachable, timed out, refused our token, or a 5xx.
    `delivered` is False only when the request surely never reached it (no connection)."""

    def __init__(self, message: str, *, delivered: bool = True) -> None:
        super().__init__(message)
        self.delivered = delivered


class PeerClient:
    """Calls one peer. Every call has a short timeout; a hung peer never blocks the caller long."""

    def __init__(self, http: httpx.AsyncClient, address: str, base_url: str, token: str) -> None:
        self.http, self.address = http, address.rstrip("/")
        self.base = base_url.rstrip("/")
        self.api = f"{self.address}{self.base}"  # the peer's public API
        self.prefix = f"{self.api}/p2p"
        self.headers = {"X-Floe-Auth": token}
        self.token = token

    async def _send(
        self, method: str, url: str, headers: dict[str, str], timeout: float, **kw: Any
    ) -> httpx.Response:
        try:
            r = await self.http.request(
                method, url, headers={**self.headers, **headers}, timeout=timeout, **kw
            )
        except httpx.HTTPError as e:
            delivered = not isinstance(e, httpx.ConnectError | httpx.ConnectTimeout)
            raise PeerError(f"{self.address}: {type(e).__name__} {e}".strip(), delivered=delivered) from e
        if r.status_code == 401:
            log.error("peer %s refused our admin token: the hosts' -admin tokens differ", self.address)
            raise PeerError(f"{self.address} refused the admin token")
        return r

    async def forward(
        self, method: str, path: str, user: str, role: str, *, body: bytes = b"", timeout: float = 10.0
    ) -> httpx.Response:
        """The public request `method path` (path and query as this host got it) sent on for `user`,
        whose `role` this host checked; the peer answers it for itself alone (floe/server/auth.py)."""
        headers = {"X-Floe-For": user, "X-Floe-Role": role}
        if body:
            headers["Content-Type"] = "application/json"
        return await self._send(method, self.address + path, headers, timeout, content=body)

    async def ask(
        self, method: str, path: str, user: str, role: str, body: Any = None, timeout: float = 2.0
    ) -> Any:
        """`method` the public `path` (under the API base) for `user`, as this peer alone sees it:
        its JSON answer; PeerError for any answer but 200."""
        content = json.dumps(body).encode() if body is not None else b""
        r = await self.forward(method, self.base + path, user, role, body=content, timeout=timeout)
        if r.status_code != 200:
            raise PeerError(f"{self.address}: HTTP {r.status_code} {r.text[:200]}")
        try:
            return r.json()
        except ValueError as e:
            raise PeerError(f"{self.address}: answer is not JSON") from e

    async def call(
        self, method: str, path: str, body: Any = None, *, timeout: float = 2.0, ok: tuple[int, ...] = (200,)
    ) -> tuple[int, Any]:
        r = await self._send(method, self.prefix + path, {}, timeout, json=body)
        if r.status_code not in ok:
            raise PeerError(f"{self.address}: HTTP {r.status_code} {r.text[:200]}")
        try:
            return r.status_code, r.json() if r.content else None
        except ValueError as e:
            raise PeerError(f"{self.address}: answer is not JSON") from e

    async def open_stream(self, path: str, headers: dict[str, str]) -> httpx.Response:
        """GET `path` of the peer's public API, forwarded as it is; the answer's body is not read yet
        (the caller streams it and closes the answer). PeerError when the peer cannot be reached."""
        request = self.http.build_request(
            "GET",
            self.api + path,
            headers={**headers, **self.headers},
            timeout=httpx.Timeout(30.0, connect=2.0),
        )
        try:
            return await self.http.send(request, stream=True)
        except httpx.HTTPError as e:
            raise PeerError(f"{self.address}: {type(e).__name__} {e}".strip()) from e

    async def hello(self, timeout: float, me: str = "") -> dict[str, Any]:
        """Who the peer is; `me` (our address) tells it we are up, so it need not wait a heartbeat."""
        _, doc = await self.call("GET", f"/hello?from={quote(me)}" if me else "/hello", timeout=timeout)
        return dict(doc)

    async def offer(self, run: dict[str, Any]) -> tuple[bool, str]:
        """Hand a pend to this host, its flow snapshot signed; True once it runs it (or already did)."""
        body = {**run, SIGNATURE_KEY: sign(self.token, run["snapshot"])}
        status, doc = await self.call("POST", "/runs", body, timeout=5.0, ok=(200, 409))
        return status == 200, (doc or {}).get("error", "")

    async def acquire(self, run_id: str, host: str, tags: list[str]) -> tuple[bool, str]:
        status, doc = await self.call(
            "POST", "/locks", {"run_id": run_id, "host": host, "tags": tags}, ok=(200, 409)
        )
        return status == 200, (doc or {}).get("error", "")

    async def release(self, run_id: str) -> None:
        await self.call("DELETE", f"/locks/{run_id}")

    async def active(self) -> list[dict[str, Any]]:
        _, doc = await self.call("GET", "/active")
        return list(doc["runs"])
