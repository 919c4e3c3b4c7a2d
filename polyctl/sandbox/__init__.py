"""A faithful local stand-in for the Polytomic API: HTTP/1.1 on loopback, SQLite behind.

Public face (others code against these names)::

    SandboxConfig(...)                      # settings; see the class
    start_sandbox(config) -> RunningSandbox # serves in a background thread
    serve_forever(config, on_ready=...)     # blocking, for `polyctl sandbox`
    RunningSandbox: url, api_key, partner_key, organization_id, stop(), set_faults(**kw),
                    stats(); a context manager that stops on exit

`python -m polyctl.sandbox --help` runs one as a separate process. Importing this
package is cheap: the server modules load on first start.

What it implements (contract: ../shared/contract/polytomic-api.md): `{"data": …}`
envelopes and `{status, message, key?, metadata?}` errors; Bearer API keys, partner
Bearer and partner Basic `org-uuid:key` auth (401/403); connections list/create/get/
PUT (full replacement)/DELETE (`force`, 422 `connection in use` with
`metadata.used_by`, cascade); masking of sensitive values in every response;
`/api/me`, `/api/organization(s)`, `/api/connection_types[/{id}]`; minimal models,
syncs and bulk syncs; `Idempotency-Key`; fault injection and an admin API under
`/_sandbox/` (see `admin.py`).

Choices where the contract is silent or [INFERRED] (each module repeats its own):

- Headers: `X-Polytomic-Version` and the SDK's `X-Fern-*` are accepted and ignored;
  every answer is `application/json` with `Content-Length` (keep-alive friendly).
- Status codes: create answers 200 (as the mocks); DELETE answers 200 with body `""`;
  unknown or malformed ids (also non-UUIDs) and other orgs' ids are 404; unknown path
  404, known path with another method 405 (with `Allow`); trailing slashes ignored.
- Bad bodies are 400: missing `name`/`type`/`configuration`, non-object
  configuration, unknown type (key `unknown_connection_type`) when a
  connection-types folder is given, schema violations (all listed in
  `metadata.errors`), references to unknown connections/models. Changing `type` on
  PUT is a 400; an `organization_id` other than the caller's is a 403.
- Configuration against a type's schema (`schema_rules.py`): defaults filled,
  undeclared and `readOnly`/`readonly` keys dropped (not stored, not echoed), wrong
  JSON types and missing required keys rejected, enums not checked. Without a
  connection-types folder any type id is accepted as is (only `api` is built in).
- PUT replaces `configuration` wholly: an omitted secret is cleared, a sent mask is
  stored literally. `policies` and `healthcheck_interval`, when omitted, keep their
  values. `validate` and `reconnect` are accepted and ignored (no upstream check):
  `status` is always `healthy`, `status_error` `""`.
- Masks are always `"********"`, for any non-empty sensitive value of any JSON type;
  `""` stays `""`. Secrets are stored in full in SQLite and never logged.
- Connection fields without sandbox meaning get typed placeholders: `saved: true`,
  `parent_connection_id: ""`, `api_calls_last_24_hours: 0`, `auth_url`/`auth_code`
  `""`, `healthcheck_interval` `""` unless set. Every type is presented with
  source+destination capabilities and fixed `operations`; logos follow the mock's URL
  pattern. Names need not be unique.
- `used_by` lists models, then syncs (also those reading from the connection's
  models), then bulk syncs, each `{type: model|sync|bulk_sync, name, id}`; `force=true`
  deletes exactly those, then the connection.
- Partner Basic auth creates an unknown organization on first use; the org id must be
  a UUID. A partner key used as Bearer may call `/api/me`, `/api/organizations` and
  the connection types (no organization's data) only; the rest answers 403. `/api/me` has no `role` (deprecated, absent from the mock).
- Idempotency, pagination and faults: see `app.py`, `resources.py`, `faults.py`.
  Fault knobs also include `retry_after` (seconds, may be fractional) so benchmarks
  can throttle without waiting whole seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SandboxConfig", "RunningSandbox", "start_sandbox", "serve_forever"]


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 8787  # 0 = pick a free port
    db_path: Path = Path(".polyctl/sandbox.db")  # parent directories are created
    api_keys: list[str] = field(default_factory=list)  # empty: a generated, stored key
    partner_keys: list[str] = field(default_factory=list)  # empty: a generated, stored key
    connection_types_dir: Path | None = None  # folder of <type-id>.json (+ _index.json)
    latency_ms: float = 0
    error_rate: float = 0
    throttle_rate: float = 0
    drop_rate: float = 0
    max_rps: float | None = None
    retry_after: float | None = None  # Retry-After seconds on injected 429s (default 1)
    seed: int | None = None  # RNG seed of fault injection, for reproducible tests
    quiet: bool = True  # no per-request log lines on stderr


class RunningSandbox:
    """A sandbox serving in a background thread; `stop()` (or leaving `with`) ends it."""

    url: str
    api_key: str
    partner_key: str
    organization_id: str

    def __init__(self, app: Any, server: Any, thread: threading.Thread) -> None:
        self._app, self._server, self._thread = app, server, thread
        host, port = server.server_address[0], server.server_address[1]
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"  # a wildcard address is not something a client can dial
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self.api_key = app.keys.api_key
        self.partner_key = app.keys.partner_key
        self.organization_id = app.keys.organization_id
        self._stopped = False

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.stopping = True
        self._server.shutdown()
        self._server.server_close()
        self._server.close_client_connections()
        self._thread.join(timeout=5)
        self._app.close()

    def set_faults(self, **kw: Any) -> None:
        """Change fault knobs live: latency_ms, error_rate, throttle_rate, drop_rate,
        max_rps, retry_after, seed (ValueError for unknown names or bad values)."""
        self._app.faults.update(**kw)

    def stats(self) -> dict[str, Any]:
        """`{"total_requests": N, "by_route": {"GET /api/connections/{id}": {"200": n,
        "dropped": n}}, "faults": {"throttled": n, …}, "connections_opened": n}` for API
        requests so far (admin requests are not counted; their connections are)."""
        return self._app.stats.snapshot()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningSandbox(url={self.url!r}, organization_id={self.organization_id!r})"


def start_sandbox(config: SandboxConfig) -> RunningSandbox:
    """Open the database, bind the port and serve in a daemon thread; returns when listening."""
    from .app import SandboxApp
    from .server import SandboxHTTPServer

    app = SandboxApp(config)
    try:
        server = SandboxHTTPServer(app, config.host, config.port)
    except BaseException:
        app.close()
        raise
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="polyctl-sandbox", daemon=True
    )
    thread.start()
    return RunningSandbox(app, server, thread)


def serve_forever(
    config: SandboxConfig, *, on_ready: Callable[[RunningSandbox], None] | None = None
) -> None:
    """Serve until Ctrl-C (or SIGTERM when called from the main thread), then stop cleanly."""
    import signal

    running = start_sandbox(config)
    done = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        if on_ready is not None:
            on_ready(running)
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
