"""The sandbox application: route table, authorisation, transactions, idempotency.

`SandboxApp.execute` is the one path every API request takes after the HTTP layer has
read it and the fault injector has let it through: authenticate, check the route's
scope, then run the handler on a reader connection, or, for writes, inside one SQLite
transaction that also looks up and records the `Idempotency-Key`.

Idempotency [INFERRED, modelled on Stripe's]: keys are scoped to the caller's
organization; the first 2xx answer to `(key, method, path, query, body)` is stored with
the work it describes, in the same transaction, and replayed byte for byte (with
`Idempotent-Replayed: true`) to any later request with that key and the same request;
a different request with a used key is a 422, and a request whose key is still being
processed by another (a client retrying while its first try sleeps in the server) is a
409 "in progress" — claimed the moment the request arrives, so the two can never both
do the work. Error answers are not stored: their
transaction was rolled back, so running the request again is equivalent and lets a
client retry after fixing the cause. Keys never expire (the sandbox is short-lived).
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import traceback
from typing import Any, Callable

from . import connections, identity, records, resources
from .auth import KeyRing, Principal
from .conntypes import ConnectionTypes
from .db import Database
from .errors import ApiError
from .faults import FaultInjector, RequestStats
from .routing import ANY, ORG, PARTNER, Reply, Request, Route, Router, error_reply


def build_router() -> Router:
    r = Router()
    r.add("GET", "/api/me", identity.get_me, scope=ANY)
    r.add("GET", "/api/organization", identity.get_organization)
    r.add("GET", "/api/organizations", identity.list_organizations, scope=PARTNER)
    r.add("POST", "/api/organizations", identity.create_organization, write=True, scope=PARTNER)
    r.add("GET", "/api/connection_types", identity.list_connection_types, scope=ANY)
    r.add("GET", "/api/connection_types/{id}", identity.get_connection_type, scope=ANY)
    r.add("GET", "/api/connections", connections.list_connections)
    r.add("POST", "/api/connections", connections.create_connection, write=True)
    r.add("GET", "/api/connections/{id}", connections.get_connection)
    r.add("PUT", "/api/connections/{id}", connections.update_connection, write=True)
    r.add("DELETE", "/api/connections/{id}", connections.delete_connection, write=True)
    kinds = [
        ("/api/models", resources.handlers("model", resources.build_model)),
        ("/api/syncs", resources.handlers("sync", resources.build_sync, target_filter=True)),
        ("/api/bulk/syncs", resources.handlers("bulk_sync", resources.build_bulk_sync)),
    ]
    for base, h in kinds:
        r.add("GET", base, h["list"])
        r.add("POST", base, h["create"], write=True)
        r.add("GET", base + "/{id}", h["get"])
        r.add("DELETE", base + "/{id}", h["delete"], write=True)
    return r


def request_fingerprint(req: Request) -> str:
    """What makes two requests "the same" for an Idempotency-Key."""
    try:
        body: Any = json.loads(req.body) if req.body.strip() else None
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = req.body
    query = "&".join(f"{k}={v}" for k, vs in sorted(req.query.items()) for v in vs)
    head = f"{req.method} {req.path.rstrip('/')}?{query}\n".encode()
    return hashlib.sha256(head + canonical).hexdigest()


class SandboxApp:
    def __init__(self, config: Any) -> None:
        self.quiet = config.quiet
        self._claims: set[tuple[str, str]] = set()  # Idempotency-Keys being processed
        self._claims_lock = threading.Lock()
        self.types = ConnectionTypes(config.connection_types_dir)
        self.db = Database(config.db_path)
        self.keys = KeyRing(self.db, list(config.api_keys), list(config.partner_keys))
        self.faults = FaultInjector(
            latency_ms=config.latency_ms,
            error_rate=config.error_rate,
            throttle_rate=config.throttle_rate,
            drop_rate=config.drop_rate,
            max_rps=config.max_rps,
            retry_after=config.retry_after,
            seed=config.seed,
        )
        self.stats = RequestStats()
        self.router = build_router()

    def execute(self, route: Route, req: Request) -> Reply:
        try:
            req.principal = self.keys.authenticate(req.headers.get("Authorization"))
            self._authorize(route.scope, req.principal)
            if route.write:
                return self._write(route, req)
            with self.db.read() as db:
                return route.handler(self, req, db)
        except ApiError as err:
            return error_reply(err)
        except Exception:  # a bug: answer like a server would, keep serving
            if not self.db.closed:  # after stop() a straggling request may fail: not news
                print(f"polyctl sandbox: internal error in {route.name}", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
            return error_reply(ApiError(500, "internal server error", key="internal"))

    @staticmethod
    def _authorize(scope: str, principal: Principal) -> None:
        if scope == ORG and principal.organization_id is None:
            raise ApiError(
                403,
                "this endpoint acts on an organization: use an API key, or Basic auth with an organization id and a partner key",
                key="forbidden",
            )
        if scope == PARTNER and principal.kind != "partner":
            raise ApiError(403, "a partner key is required", key="forbidden")

    def _write(self, route: Route, req: Request) -> Reply:
        assert req.principal is not None
        key = (req.headers.get("Idempotency-Key") or "").strip()
        if not key:
            with self.db.write() as db:
                return route.handler(self, req, db)
        fingerprint = request_fingerprint(req)
        with self.db.write() as db:
            found = records.idempotency_get(db, req.principal.scope, key)
            if found is not None:
                stored_fingerprint, status, body = found
                if stored_fingerprint != fingerprint:
                    raise ApiError(
                        422, "idempotency key reused with a different request", key="idempotency_key_reused"
                    )
                return Reply(status, body, {"Idempotent-Replayed": "true"})
            reply = route.handler(self, req, db)
            if 200 <= reply.status < 300:
                records.idempotency_put(
                    db, req.principal.scope, key, fingerprint, reply.status, reply.body, connections.utc_now()
                )
            return reply

    def claim(self, req: Request) -> "Callable[[], None] | None":
        """Reserve the request's Idempotency-Key until it is answered; None (and nothing
        to release) when another request holds it. Keys are scoped by credential."""
        key = (req.headers.get("Idempotency-Key") or "").strip()
        if not key or req.method in ("GET", "HEAD"):
            return lambda: None
        claim = (req.headers.get("Authorization") or "", key)
        with self._claims_lock:
            if claim in self._claims:
                return None
            self._claims.add(claim)

        def release() -> None:
            with self._claims_lock:
                self._claims.discard(claim)

        return release

    def close(self) -> None:
        self.db.close()
