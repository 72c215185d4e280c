"""The fetch task against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import collections
import hashlib
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from floe.model.flow import Node, NodeClass
from floe.nodes import fetch as fetch_node
from floe.nodes.base import NodeContext, NodeError, Outcome
from floe.nodes.registry import EXECUTORS

BODY = b"floe fetch test payload\n" * 1000


@dataclass
class Server:
    """Files served by path, and how often each path was asked for."""

    base: str
    files: dict[str, bytes]
    hits: collections.Counter[str] = field(default_factory=collections.Counter)


@pytest.fixture
def server() -> Iterator[Server]:
    srv_state = Server(base="", files={"/files/tool.tar.gz": BODY})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            srv_state.hits[self.path] += 1
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/files/tool.tar.gz")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = srv_state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv_state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield srv_state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def make_ctx(tmp_path: Path, opts: Mapping[str, Any], ws_name: str = "ws") -> tuple[NodeContext, list[str]]:
    ws = tmp_path / ws_name
    ws.mkdir(exist_ok=True)
    lines: list[str] = []
    node = Node(id="get", name="get", cls=NodeClass.TASK, type="fetch", opts=opts)
    ctx = NodeContext(
        run_id="h1-1",
        flow_id="flow",
        node=node,
        opts=opts,
        flow_env=(),
        workspace=ws,
        cache_dir=tmp_path / "cache",
        log=lines.append,
    )
    return ctx, lines


async def fetch(ctx: NodeContext) -> Outcome:
    return await EXECUTORS["fetch"](ctx)


def digest(algo: str) -> str:
    return hashlib.new(algo, BODY).hexdigest()


async def test_plain_download_warns_without_checksum(tmp_path: Path, server: Server) -> None:
    ctx, lines = make_ctx(tmp_path, {"url": f"{server.base}/files/tool.tar.gz"})
    assert (await fetch(ctx)).status == 0
    assert (ctx.workspace / "tool.tar.gz").read_bytes() == BODY
    assert any(line.startswith("warning: no checksum") for line in lines)
    # nothing is kept in the cache without a checksum, and a second fetch downloads again
    assert not list((tmp_path / "cache").iterdir())
    ctx2, _ = make_ctx(tmp_path, ctx.opts, "ws2")
    assert (await fetch(ctx2)).status == 0
    assert server.hits["/files/tool.tar.gz"] == 2


@pytest.mark.parametrize(
    ("checksum", "algo"),
    [
        (f"{digest('sha256')}  tool.tar.gz", "sha256"),  # sha256sum's format
        (digest("sha256"), None),
        (digest("sha1"), "sha1"),
        (digest("md5"), "md5"),
        (digest("sha1").upper(), None),  # the algorithm follows from the length
        (digest("sha512"), "sha512"),
    ],
)
async def test_checksums(tmp_path: Path, server: Server, checksum: str, algo: str | None) -> None:
    opts = {"url": f"{server.base}/files/tool.tar.gz", "checksum": checksum}
    if algo:
        opts["checksum-algo"] = algo
    ctx, lines = make_ctx(tmp_path, opts)
    assert (await fetch(ctx)).status == 0
    assert (ctx.workspace / "tool.tar.gz").read_bytes() == BODY
    assert not any(line.startswith("warning") for line in lines)


@pytest.mark.parametrize(
    ("checksum", "algo", "message"),
    [
        ("xyz123", "sha256", "checksum 'xyz123' is not hex"),
        ("abcd", "sha256", "checksum has 4 hex digits, sha256 needs 64"),
        (digest("sha256"), "crc32", "checksum-algo 'crc32' is not one of"),
    ],
)
async def test_bad_checksum_opts(
    tmp_path: Path, server: Server, checksum: str, algo: str, message: str
) -> None:
    opts = {"url": f"{server.base}/files/tool.tar.gz", "checksum": checksum, "checksum-algo": algo}
    ctx, _ = make_ctx(tmp_path, opts)
    with pytest.raises(NodeError, match=message):
        await fetch(ctx)
    assert server.hits["/files/tool.tar.gz"] == 0


async def test_checksum_mismatch(tmp_path: Path, server: Server) -> None:
    wrong = "0" * 64
    opts = {"url": f"{server.base}/files/tool.tar.gz", "checksum": wrong}
    ctx, _ = make_ctx(tmp_path, opts)
    with pytest.raises(NodeError, match=f"checksum mismatch: expected {wrong} got {digest('sha256')}"):
        await fetch(ctx)
    assert not (ctx.workspace / "tool.tar.gz").exists()
    assert not list((tmp_path / "cache").iterdir())  # no partial or bad file kept


async def test_not_found(tmp_path: Path, server: Server) -> None:
    url = f"{server.base}/files/missing.bin"
    ctx, _ = make_ctx(tmp_path, {"url": url})
    with pytest.raises(NodeError, match=f"^GET {url}: 404 Not Found$"):
        await fetch(ctx)


async def test_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/tool.tar.gz"
    ctx, _ = make_ctx(tmp_path, {"url": url})
    with pytest.raises(NodeError, match=f"^GET {url}: .+"):
        await fetch(ctx)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "http:///nohost", "nonsense"])
async def test_only_http_urls(tmp_path: Path, url: str) -> None:
    ctx, _ = make_ctx(tmp_path, {"url": url})
    with pytest.raises(NodeError, match="fetch url must be http"):
        await fetch(ctx)


async def test_url_is_required(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {})
    with pytest.raises(NodeError, match="opt url is required"):
        await fetch(ctx)


async def test_redirect_is_followed(tmp_path: Path, server: Server) -> None:
    ctx, _ = make_ctx(tmp_path, {"url": f"{server.base}/moved", "location": "tool.tar.gz"})
    assert (await fetch(ctx)).status == 0
    assert (ctx.workspace / "tool.tar.gz").read_bytes() == BODY


async def test_cache_is_reused_without_a_request(tmp_path: Path, server: Server) -> None:
    opts = {"url": f"{server.base}/files/tool.tar.gz", "checksum": digest("sha256")}
    first, _ = make_ctx(tmp_path, opts, "ws1")
    second, lines = make_ctx(tmp_path, opts, "ws2")
    assert (await fetch(first)).status == 0
    assert (await fetch(second)).status == 0
    assert server.hits["/files/tool.tar.gz"] == 1
    assert f"using cached {opts['url']}" in lines
    assert (second.workspace / "tool.tar.gz").read_bytes() == BODY


async def test_corrupt_cache_entry_is_fetched_again(tmp_path: Path, server: Server) -> None:
    opts = {"url": f"{server.base}/files/tool.tar.gz", "checksum": digest("sha256")}
    first, _ = make_ctx(tmp_path, opts, "ws1")
    assert (await fetch(first)).status == 0
    (entry,) = (tmp_path / "cache").iterdir()
    (first.workspace / "tool.tar.gz").unlink()
    entry.write_bytes(b"tampered")
    second, lines = make_ctx(tmp_path, opts, "ws2")
    assert (await fetch(second)).status == 0
    assert server.hits["/files/tool.tar.gz"] == 2
    assert any("does not match its checksum" in line for line in lines)
    assert (second.workspace / "tool.tar.gz").read_bytes() == BODY


@pytest.mark.parametrize(
    ("location", "want"),
    [
        ("", "tool.tar.gz"),
        ("renamed.bin", "renamed.bin"),
        ("deps/", "deps/tool.tar.gz"),
        ("./deps/x.tgz", "deps/x.tgz"),
        ("{{ws}}/a/b.tgz", "a/b.tgz"),
        ("existing", "existing/tool.tar.gz"),
    ],
)
async def test_location_inside_the_workspace(
    tmp_path: Path, server: Server, location: str, want: str
) -> None:
    ctx, _ = make_ctx(tmp_path, {"url": f"{server.base}/files/tool.tar.gz", "location": location})
    (ctx.workspace / "existing").mkdir()
    assert (await fetch(ctx)).status == 0
    assert (ctx.workspace / want).read_bytes() == BODY


async def test_absolute_location_inside_the_workspace(tmp_path: Path, server: Server) -> None:
    ctx, _ = make_ctx(tmp_path, {})
    dest = ctx.workspace / "abs.bin"
    ctx, _ = make_ctx(tmp_path, {"url": f"{server.base}/files/tool.tar.gz", "location": str(dest)})
    assert (await fetch(ctx)).status == 0
    assert dest.read_bytes() == BODY


@pytest.mark.parametrize("location", ["../escaped.bin", "a/../../escaped.bin", "ABS", "link/x.bin"])
async def test_location_cannot_escape(tmp_path: Path, server: Server, location: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    location = location.replace("ABS", str(outside / "x.bin"))
    ctx, _ = make_ctx(tmp_path, {"url": f"{server.base}/files/tool.tar.gz", "location": location})
    (ctx.workspace / "link").symlink_to(outside)
    with pytest.raises(NodeError, match="escapes the workspace"):
        await fetch(ctx)
    assert server.hits["/files/tool.tar.gz"] == 0
    assert not list(outside.iterdir())


async def test_progress_lines(tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_node, "PROGRESS_EVERY", 0.0)  # a line per chunk
    monkeypatch.setattr(fetch_node, "CHUNK", 4096)
    ctx, lines = make_ctx(tmp_path, {"url": f"{server.base}/files/tool.tar.gz"})
    assert (await fetch(ctx)).status == 0
    progress = [line for line in lines if line.startswith("downloaded ") and " of " in line]
    assert progress
    assert progress[-1] == "downloaded 23.4 KiB of 23.4 KiB (100%)"
    assert any(line.startswith("downloaded 23.4 KiB in ") for line in lines)
