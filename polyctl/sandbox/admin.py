"""The sandbox's own control API under `/_sandbox/`, for tests and benchmarks.

| endpoint | does |
|---|---|
| `GET /_sandbox/health` | `{"data": {"ok": true}}` once serving |
| `GET /_sandbox/faults` | current fault knobs |
| `POST /_sandbox/faults` | change some knobs live: JSON with any of `latency_ms`, `error_rate`, `throttle_rate`, `drop_rate`, `max_rps`, `retry_after`, `seed` |
| `GET /_sandbox/stats` | request counts by route and status, total, faults injected |
| `POST /_sandbox/reset-stats` | zero the counters |
| `POST /_sandbox/api-keys` | mint an API key, in a new org or `{"organization_id": …}`; needs any valid credential |

These endpoints are never delayed, failed, dropped, rate limited or counted, so a
benchmark can steer and read the sandbox without disturbing what it measures. They need
no credential (except minting keys): the sandbox is a local test tool.
"""

from __future__ import annotations

from typing import Any

from .errors import ApiError, bad_request
from .routing import ANY, Reply, Request, Router, envelope, error_reply

NONE = "none"  # admin routes that need no credential


def _health(app: Any, req: Request, db: Any) -> Reply:
    return envelope({"ok": True})


def _get_faults(app: Any, req: Request, db: Any) -> Reply:
    return envelope(app.faults.settings())


def _set_faults(app: Any, req: Request, db: Any) -> Reply:
    try:
        return envelope(app.faults.update(**req.json_object()))
    except (TypeError, ValueError) as exc:
        raise bad_request(str(exc)) from exc


def _stats(app: Any, req: Request, db: Any) -> Reply:
    return envelope(app.stats.snapshot())


def _reset_stats(app: Any, req: Request, db: Any) -> Reply:
    app.stats.reset()
    return envelope(app.stats.snapshot())


def _mint_key(app: Any, req: Request, db: Any) -> Reply:
    body = req.json_object() if req.body.strip() else {}
    org_id = body.get("organization_id")
    if org_id is not None and not isinstance(org_id, str):
        raise bad_request("organization_id must be a string")
    key, org_id = app.keys.mint_api_key(org_id, body.get("organization_name"))
    return envelope({"api_key": key, "organization_id": org_id})


def build_admin_router() -> Router:
    r = Router()
    r.add("GET", "/_sandbox/health", _health, scope=NONE)
    r.add("GET", "/_sandbox/faults", _get_faults, scope=NONE)
    r.add("POST", "/_sandbox/faults", _set_faults, scope=NONE)
    r.add("GET", "/_sandbox/stats", _stats, scope=NONE)
    r.add("POST", "/_sandbox/reset-stats", _reset_stats, scope=NONE)
    r.add("POST", "/_sandbox/api-keys", _mint_key, scope=ANY)
    return r


ADMIN_ROUTER = build_admin_router()


def handle_admin(app: Any, req: Request) -> Reply:
    route, params, allowed = ADMIN_ROUTER.match(req.method, req.path)
    if route is None:
        if allowed:
            return Reply(405, ApiError(405, "method not allowed").body(), {"Allow": ", ".join(allowed)})
        return error_reply(ApiError(404, "not found"))
    req.params = params
    try:
        if route.scope != NONE:
            req.principal = app.keys.authenticate(req.headers.get("Authorization"))
        return route.handler(app, req, None)
    except ApiError as err:
        return error_reply(err)
