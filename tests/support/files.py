"""A loopback HTTP server of in-memory files with ETags, for flow-files and configs read over http."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    """Serves `files` (path → body) with strong ETags and 304s; counts its answers by status and
    keeps every `If-None-Match` it was sent."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.counts: dict[int, int] = {}
        self.seen_if_none_match: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.files.get(self.path)
                if body is None:
                    self._send(404, b"no such file")
                    return
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                sent = self.headers.get("If-None-Match")
                if sent:
                    outer.seen_if_none_match.append(sent)
                if sent == etag:
                    self._send(304, b"", etag)
                else:
                    self._send(200, body, etag)

            def _send(self, status: int, body: bytes, etag: str = "") -> None:
                outer.counts[status] = outer.counts.get(status, 0) + 1
                self.send_response(status)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@contextmanager
def serving() -> Iterator[FileServer]:
    """A FileServer answering in a thread until the block ends."""
    server = FileServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(10)
