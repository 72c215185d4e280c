"""Host-to-host calls under `{base}/p2p/` with the admin token; httpx errors become PeerError."""

from __future__ import annotations

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
        self.prefix = f"{self.address}{base_url.rstrip('/')}/p2p"
        self.headers = {"X-Floe-Auth": token}
        self.token = token

    async def call(
        self, method: str, path: str, body: Any = None, *, timeout: float = 2.0, ok: tuple[int, ...] = (200,)
    ) -> tuple[int, Any]:
        try:
            r = await self.http.request(
                method, self.prefix + path, json=body, headers=self.headers, timeout=timeout
            )
        except httpx.HTTPError as e:
            delivered = not isinstance(e, httpx.ConnectError | httpx.ConnectTimeout)
            raise PeerError(f"{self.address}: {type(e).__name__} {e}".strip(), delivered=delivered) from e
        if r.status_code == 401:
            log.error("peer %s refused our admin token: the hosts' -admin tokens differ", self.address)
            raise PeerError(f"{self.address} refused the admin token")
        if r.status_code not in ok:
            raise PeerError(f"{self.address}: HTTP {r.status_code} {r.text[:200]}")
        try:
            return r.status_code, r.json() if r.content else None
        except ValueError as e:
            raise PeerError(f"{self.address}: answer is not JSON") from e

    async def hello(self, timeout: float, me: str = "") -> dict[str, Any]:
        """Who the peer is; `me` (our address) tells it we are up, so it need not wait a heartbeat."""
        _, doc = await self.call("GET", f"/hello?from={quote(me)}" if me else "/hello", timeout=timeout)
        return dict(doc)

    async def offer(self, run: dict[str, Any]) -> tuple[bool, str]:
        """Hand a pend to this host, its flow snapshot signed; True once it runs it (or already did)."""
        body = {**run, SIGNATURE_KEY: sign(self.token, run["snapshot"])}
        status, doc = await self.call("POST", "/runs", body, timeout=5.0, ok=(200, 409))
        return status == 200, (doc or {}).get("error", "")

    async def runs(self, flow: str, limit: int, before: float | None, timeout: float) -> dict[str, Any]:
        params = f"?limit={limit}" + (f"&before={before}" if before is not None else "")
        _, doc = await self.call("GET", f"/flows/{flow}/runs{params}", timeout=timeout)
        return dict(doc)

    async def run(self, run_id: str, timeout: float = 2.0) -> dict[str, Any] | None:
        status, doc = await self.call("GET", f"/runs/{run_id}", timeout=timeout, ok=(200, 404))
        return dict(doc) if status == 200 else None

    async def node_log(self, run_id: str, node: str) -> str | None:
        status, doc = await self.call("GET", f"/runs/{run_id}/nodes/{node}/log", ok=(200, 404))
        return str(doc["log"]) if status == 200 else None

    async def answer(self, run_id: str, node: str, values: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, doc = await self.call(
            "POST", f"/runs/{run_id}/answer", {"node": node, "values": values}, ok=(200, 400, 404)
        )
        return status, dict(doc or {})

    async def cancel(self, run_id: str) -> tuple[int, dict[str, Any]]:
        status, doc = await self.call("POST", f"/runs/{run_id}/cancel", {}, ok=(202, 404, 409))
        return status, dict(doc or {})

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
