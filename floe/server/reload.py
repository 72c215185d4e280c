"""`POST {base}/config/reload`: the host's Reloader (floe/hub/reload.py) reads the config again."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from floe.server.context import ctx


async def endpoint(request: Request) -> Response:
    """200 `{"flows": [ids], "warnings": [...]}`, or 400 `{"error", "problems": [...]}` with the
    running config kept (ReloadError, answered at the edge)."""
    new = await ctx(request).reloader.reload()
    flows = list(dict.fromkeys(f.id for f in new.flows))
    return JSONResponse({"flows": flows, "warnings": [str(w) for w in new.warnings]})
