"""An artifact downloaded on any host: its copy here, else the store's shelf (S3), else the exec host's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from floe.cluster.client import PeerError
from floe.model.errors import BadRequest, Conflict, FloeError, Forbidden, NotFound, Unavailable, Unreachable
from floe.nodes.artifacts import find as find_artifact
from floe.server.cluster_view import Located, locate
from floe.server.context import Context, caller, ctx, forwarded, role, who
from floe.store.errors import StoreError
from floe.store.shelf import shelf_of

OCTETS = "application/octet-stream"


async def download(request: Request) -> Response:
    """One file a task kept, as it was stored (an attachment, never rendered by the browser)."""
    c = ctx(request)
    flow_id, run_id = request.path_params["flow"], request.path_params["run"]
    node_id, rel = request.path_params["node"], request.path_params["path"]
    found = await locate(c, run_id, caller(request), here_only=forwarded(request))
    view = found.view()
    if view is None or view["flow"] != flow_id:
        raise NotFound(found.missing(f"no run {run_id} of flow {flow_id}"))
    record = _record(view, node_id, rel)
    host = str(view.get("exec_host") or "")
    if record is None and view.get("partial"):  # as last known here: its exec host has the record
        raise Unreachable(f"the artifacts of run {run_id} are kept by {host}, unreachable")
    if record is None:
        raise NotFound(f"node {node_id} of run {run_id} kept no artifact {rel}")
    disposition = {"content-disposition": _attachment(PurePosixPath(rel).name)}
    path = find_artifact(Path(c.config().common.store_root), run_id, node_id, rel)
    if path is not None:
        return FileResponse(path, media_type=OCTETS, headers=disposition)
    unavailable = ""  # why the shelf could not be asked
    shelf = shelf_of(c.store)
    if shelf is not None:
        try:
            stored = await shelf.get(run_id, node_id, record)
        except StoreError as e:
            unavailable = str(e)
        else:
            if stored is not None:
                headers = {**disposition, "content-length": str(stored.size)}
                return StreamingResponse(stored.chunks(), media_type=OCTETS, headers=headers)
    if host and host != c.hub.host.id and not forwarded(request):
        return await _forward(c, found, host, request)
    if unavailable:
        raise Unavailable(unavailable)
    raise NotFound(f"artifact {rel} of {run_id} is no longer stored")


def _record(view: Mapping[str, Any], node_id: str, rel: str) -> Mapping[str, Any] | None:
    """The run's record of one kept file: `path`, `size`, `sha256`."""
    for node in view.get("nodes") or ():
        if node.get("id") == node_id:
            return next((a for a in node.get("artifacts") or () if a.get("path") == rel), None)
    return None


def _attachment(name: str) -> str:
    """A Content-Disposition as Starlette's FileResponse makes it."""
    quoted = quote(name)
    return f'attachment; filename="{name}"' if quoted == name else f"attachment; filename*=utf-8''{quoted}"


async def _forward(c: Context, found: Located, host: str, request: Request) -> Response:
    """The same request, asked of the executing host for the same user and streamed back as it
    answers (the executing host answers it for itself alone: floe/server/forward.py)."""
    peer = found.peer or await c.cluster.reach(host)
    if peer is None:
        raise Unreachable(
            f"the artifacts of run {request.path_params['run']} are kept by {host}, unreachable"
        )
    p = request.path_params
    ids = [quote(str(p[k]), safe="") for k in ("flow", "run", "node")]
    path = "/flows/{}/runs/{}/artifacts/{}/".format(*ids) + quote(p["path"])
    try:
        answer = await peer.client.open_stream(
            path, {"X-Floe-For": who(request), "X-Floe-Role": role(request)}
        )
    except PeerError as e:
        raise Unreachable(f"exec host {host} unreachable: {e}") from e
    if answer.status_code != 200:
        body = await answer.aread()
        await answer.aclose()
        try:
            message = str(json.loads(body)["error"])
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {answer.status_code}"
        raise _answered(answer.status_code, f"{host}: {message}")
    headers = {k: answer.headers[k] for k in ("content-length", "content-disposition") if k in answer.headers}
    return StreamingResponse(
        answer.aiter_raw(), media_type=OCTETS, headers=headers, background=BackgroundTask(answer.aclose)
    )


REFUSALS: dict[int, type[FloeError]] = {400: BadRequest, 403: Forbidden, 404: NotFound, 409: Conflict}


def _answered(status: int, message: str) -> FloeError:
    """The exec host's refusal of a download, as this host's: the same kind of error for a 4xx, a
    502 for its own failures."""
    return REFUSALS.get(status, Unreachable)(message)
