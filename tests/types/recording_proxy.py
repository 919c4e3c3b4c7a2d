"""A proxy in front of the sandbox that keeps what the sandbox cannot show: request bodies.

The sandbox drops `readOnly` keys before storing a configuration, so "polyctl never
sends a read-only field" cannot be read back from it: this proxy records every request
body (`requests`) as polyctl sent it. `rewrite(method, path, payload)` may change a
JSON response on its way back (to make the "server" echo a read-only field, as the
real API may); it is the only thing the proxy ever invents.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
        "content-encoding"}

Rewrite = Callable[[str, str, Any], Any]


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    body: Any  # parsed JSON, or None

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


class RecordingProxy:
    def __init__(self, upstream: str, rewrite: Rewrite | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrite = rewrite
        self.requests: list[Sent] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                proxy._forward(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        class Server(ThreadingHTTPServer):
            request_queue_size = 128

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(base_url=self.upstream, timeout=60)
        return client

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path).path
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        with self._lock:
            self.requests.append(Sent(handler.command, path, parsed))
        response = self._client().request(
            handler.command, handler.path, content=body,
            headers={k: v for k, v in handler.headers.items() if k.lower() not in _HOP})
        content = response.content
        if self.rewrite is not None and response.headers.get("content-type", "").startswith(
                "application/json") and content:
            content = json.dumps(self.rewrite(handler.command, path, json.loads(content))).encode()
        handler.send_response(response.status_code)
        for key, value in response.headers.items():
            if key.lower() not in _HOP:
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    def sent(self, method: str, prefix: str = "/api/connections") -> list[Sent]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
