"""An HTTP proxy in front of the sandbox, for what the sandbox itself cannot show or do.

It forwards every request unchanged and records an `Exchange` for each (method, path,
query, start and end time, status, and the JSON body polyctl sent) — the order, timing
and payloads the sandbox's counters do not keep. Options, each the only thing the
proxy ever invents:

- `forbid={("GET", "/api/connections")}`: answer those requests itself with the API's
  403 (the sandbox's 403s hit every organization route of a credential alike);
- `hold={("POST", "/api/connections")}`: keep those requests back until `release()`,
  so a dead client's request lands exactly when a test wants;
- `rewrite(method, path, payload)`: change a JSON answer on its way back (to make the
  "server" echo a read-only field, as the real API may);
- `lose={("POST", "/api/connections")}`: forward those requests (the sandbox acts and
  commits) but close the client's connection without a byte of the answer, every time —
  what a client sees when the network fails right after the server committed.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
        "content-encoding"}
LOST = -1  # the status recorded for an answer the proxy threw away

Route = tuple[str, str]
Rewrite = Callable[[str, str, Any], Any]


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str  # without the query
    query: str
    started: float
    finished: float
    status: int
    body: Any = None  # the request's JSON body, or None

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


class SandboxProxy:
    def __init__(self, upstream: str, *, forbid: set[Route] | None = None,
                 hold: set[Route] | None = None, rewrite: Rewrite | None = None,
                 lose: set[Route] | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.forbid, self.hold, self.lose = set(forbid or ()), set(hold or ()), set(lose or ())
        self.rewrite = rewrite
        self.log: list[Exchange] = []
        self.arrived: list[str] = []  # "METHOD /path" as each request comes in
        self.lost = 0
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _handle(self) -> None:
                proxy._forward(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default 5 drops SYNs of a burst (1 s retry)

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
        started = time.monotonic()
        parts = urlsplit(handler.path)
        route = (handler.command, parts.path.rstrip("/"))
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.arrived.append(f"{handler.command} {parts.path}")
        if route in self.hold:
            self._released.wait(60)
        if route in self.forbid:
            status, headers = 403, {"Content-Type": "application/json"}
            content = json.dumps({"status": 403, "message": "listing connections is not "
                                  "allowed for this key", "key": "forbidden"}).encode()
        else:
            response = self._client().request(
                handler.command, handler.path, content=body,
                headers={k: v for k, v in handler.headers.items() if k.lower() not in _HOP})
            status, content = response.status_code, response.content
            headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP}
            if self.rewrite is not None and content and \
                    headers.get("content-type", headers.get("Content-Type", "")).startswith(
                        "application/json"):
                content = json.dumps(self.rewrite(handler.command, parts.path,
                                                  json.loads(content))).encode()
        lost = route in self.lose
        with self._lock:
            self.log.append(Exchange(handler.command, parts.path, parts.query, started,
                                     time.monotonic(), LOST if lost else status, _json(body)))
            self.lost += lost
        if lost:
            handler.close_connection = True
            return  # the sandbox acted; the client hears nothing
        try:
            handler.send_response(status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(content)))
            handler.end_headers()
            handler.wfile.write(content)
        except OSError:  # the client is gone (killed): the request was still forwarded
            handler.close_connection = True

    def release(self) -> None:
        self._released.set()

    def count_arrived(self, route: str) -> int:
        with self._lock:
            return self.arrived.count(route)

    def exchanges(self, method: str | None = None, prefix: str = "/api/connections"
                  ) -> list[Exchange]:
        with self._lock:
            return [e for e in self.log if e.path.startswith(prefix)
                    and (method is None or e.method == method)]

    @staticmethod
    def max_in_flight(exchanges: list[Exchange]) -> int:
        """The largest number of these requests that were open at the same instant."""
        events = sorted([(e.started, 1) for e in exchanges] + [(e.finished, -1) for e in exchanges],
                        key=lambda ev: (ev[0], ev[1]))
        open_, peak = 0, 0
        for _, step in events:
            open_ += step
            peak = max(peak, open_)
        return peak

    def clear(self) -> None:
        with self._lock:
            self.log.clear()
            self.arrived.clear()

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None
