"""A public request about a run another host executes, sent on to that host as it came: the same
method, path, query and body, for the same user (authenticated there by this host's admin token,
the user and role it checked named beside it), and its answer handed back as that host gave it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from floe.cluster.client import PeerError
from floe.cluster.peers import Peer
from floe.model.errors import Unreachable
from floe.server.context import role, who

KEPT_HEADERS = ("content-type", "content-disposition", "retry-after")


async def forward(request: Request, peer: Peer) -> Response:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        r = await peer.client.forward(
            request.method, path, who(request), role(request), body=await request.body()
        )
    except PeerError as e:
        raise Unreachable(f"exec host {peer.id} unreachable: {e}") from e
    headers = {k: v for k, v in r.headers.items() if k.lower() in KEPT_HEADERS}
    return Response(r.content, status_code=r.status_code, headers=headers)
