"""A recording HTTP proxy in front of the sandbox, for what its counters cannot show.

The sandbox's stats count requests by route but keep neither their order nor their
timing, and the sandbox cannot answer 403 to a connection *list* only (its 403s
depend on the credential, so they hit every organization route alike). This proxy
forwards every request unchanged to the real sandbox and records `(method, path,
started, finished, status)`; `forbid={("GET", "/api/connections")}` makes it answer
those requests itself with the API's 403 error body instead of forwarding them (the
only thing it ever invents); `hold={("POST", "/api/connections")}` keeps those requests
back until `release()` — so a test can make a dead client's request land exactly when it
wants.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
        "content-encoding"}


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str  # without the query
    query: str
    started: float
    finished: float
    status: int

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


class RecordingProxy:
    def __init__(self, upstream: str, forbid: set[tuple[str, str]] | None = None,
                 hold: set[tuple[str, str]] | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.forbid = set(forbid or ())
        self.hold = set(hold or ())
        self._released = threading.Event()
        self.log: list[Exchange] = []
        self.arrived: list[str] = []  # "METHOD /path" as each request comes in
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
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.arrived.append(f"{handler.command} {parts.path}")
        if (handler.command, parts.path.rstrip("/")) in self.hold:
            self._released.wait(60)
        if (handler.command, parts.path.rstrip("/")) in self.forbid:
            status, headers = 403, {"Content-Type": "application/json"}
            content = json.dumps({"status": 403, "message": "listing connections is not "
                                  "allowed for this key", "key": "forbidden"}).encode()
        else:
            response = self._client().request(
                handler.command, handler.path, content=body,
                headers={k: v for k, v in handler.headers.items() if k.lower() not in _HOP})
            status, content = response.status_code, response.content
            headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP}
        with self._lock:
            self.log.append(Exchange(handler.command, parts.path, parts.query, started,
                                     time.monotonic(), status))
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

    def max_in_flight(self, exchanges: list[Exchange]) -> int:
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
