"""A proxy in front of the sandbox that loses answers: requests matching `lose` reach
the sandbox (which acts on them and commits), but the client's connection is closed
without a byte of the response — every time, on every retry. What a client sees when
the network fails right after the server committed.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class LossyProxy:
    def __init__(self, upstream: str, lose: set[tuple[str, str]]) -> None:
        self.upstream, self.lose = upstream, lose
        self.lost = 0
        self._http = httpx.Client(base_url=upstream, timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                response = proxy._http.request(self.command, self.path, headers=headers,
                                               content=body)
                if (self.command, self.path.partition("?")[0]) in proxy.lose:
                    proxy.lost += 1
                    self.close_connection = True
                    return  # the sandbox acted; the client hears nothing
                self.send_response(response.status_code)
                for k, v in response.headers.items():
                    if k.lower() not in _HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_POST = do_PUT = do_DELETE = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()
