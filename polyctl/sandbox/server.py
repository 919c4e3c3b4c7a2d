"""The HTTP/1.1 server: threads, keep-alive, reading requests, writing (or dropping) replies.

Standard library only (`http.server.ThreadingHTTPServer`): one daemon thread per client
connection, kept alive across requests. Every reply carries `Content-Length` and is
written in a single `send` with Nagle disabled, so keep-alive clients never wait on a
delayed ACK. Faults are applied here, around `SandboxApp.execute`, because a dropped
connection is a transport event: "drop before" closes the socket without doing the
work, "drop after" does the work (committed) and then closes without answering.
"""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .admin import handle_admin
from .app import SandboxApp
from .errors import ApiError
from .faults import Fault
from .routing import Reply, Request, error_reply

MAX_BODY_BYTES = 16 * 1024 * 1024
IDLE_TIMEOUT_SECONDS = 120  # an idle keep-alive connection is closed after this
_FAULT_MESSAGES = {
    429: "too many requests",
    500: "internal server error (injected by the sandbox)",
    502: "bad gateway (injected by the sandbox)",
    503: "service unavailable (injected by the sandbox)",
}


def fault_reply(fault: Fault) -> Reply:
    key = "rate_limited" if fault.status == 429 else "sandbox_fault"
    err = ApiError(fault.status, _FAULT_MESSAGES[fault.status], key=key, headers=fault.headers)
    return error_reply(err)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "polyctl-sandbox"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS
    server: SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)
        self.server.app.stats.connection_opened()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        if not self.server.app.quiet:
            super().log_message(format, *args)

    def _dispatch(self) -> None:
        app = self.server.app
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except ApiError as err:
            self.close_connection = True  # the stream position is unknown now
            self._send(error_reply(err))
            return
        req = Request(self.command, path, query, self.headers, body)
        if path == "/_sandbox" or path.startswith("/_sandbox/"):
            self._send(handle_admin(app, req))
            return
        route, params, allowed = app.router.match(self.command, path)
        name = route.name if route else f"{self.command} <unmatched>"
        release = app.claim(req)  # before the latency: a retry may arrive meanwhile
        if release is None:
            reply = error_reply(ApiError(409, "a request with this Idempotency-Key is still "
                                         "in progress", key="idempotency_key_in_progress"))
            app.stats.record(name, "409", None)
            self._send(reply)
            return
        try:
            fault = app.faults.decide()
            delay = app.faults.latency_seconds
            if delay:
                time.sleep(delay)
            if fault is not None and fault.kind == "drop_before":
                self._drop(name, fault)
                return
            if fault is not None and not fault.drops:
                reply = fault_reply(fault)
            elif route is None:
                reply = self._no_route(allowed)
            else:
                req.params = params
                reply = app.execute(route, req)
        finally:
            release()
        if fault is not None and fault.kind == "drop_after":
            self._drop(name, fault)
            return
        # Counted before answering, so a client that reads the stats next sees this one.
        app.stats.record(name, str(reply.status), fault.kind if fault else None)
        self._send(reply)

    @staticmethod
    def _no_route(allowed: list[str]) -> Reply:
        if allowed:
            reply = error_reply(ApiError(405, "method not allowed"))
            reply.headers["Allow"] = ", ".join(allowed)
            return reply
        return error_reply(ApiError(404, "not found"))

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApiError(400, "invalid Content-Length") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise ApiError(413, "request body too large")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ApiError(400, "invalid chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers: ignored
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise ApiError(413, "request body too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _send(self, reply: Reply) -> None:
        reason = self.responses.get(reply.status, ("",))[0]
        head = [
            f"HTTP/1.1 {reply.status} {reason}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            "Content-Type: application/json",
            f"Content-Length: {len(reply.body)}",
        ]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        if self.close_connection:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply.body)
        if not self.server.app.quiet:
            self.log_request(reply.status, len(reply.body))

    def _drop(self, name: str, fault: Fault) -> None:
        """Close the TCP connection without a byte of response."""
        self.server.app.stats.record(name, "dropped", fault.kind)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512  # benchmarks open dozens of connections at once

    def __init__(self, app: SandboxApp, host: str, port: int) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self.stopping = False
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup that can stall
        # start-up on a machine without network; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[0], self.server_address[1]

    def track(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._open.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(sock)

    def close_client_connections(self) -> None:
        """Wake every keep-alive thread blocked on a read so it ends now."""
        with self._open_lock:
            socks = list(self._open)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if self.stopping or isinstance(exc, (ConnectionError, TimeoutError)):
            return  # a client went away or we are shutting down: nothing to report
        super().handle_error(request, client_address)
