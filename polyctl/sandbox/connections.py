"""Connection endpoints (contract §5): list, create, get, replace, delete.

Response objects carry exactly the contract's fields (§5.8): list/get items have
timestamps and actors, create/update answers have `healthcheck_interval`, `auth_url`
and `auth_code` instead. The list/get item is rendered and masked once, when the
connection is written, and stored beside the raw configuration; reads only decode it
(get) or concatenate it (list).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from . import records
from .conntypes import ConnectionType
from .errors import ApiError, bad_request, not_found
from .routing import DELETED, Reply, Request, envelope

_LIST_ONLY_FIELDS = ("created_at", "created_by", "updated_at", "updated_by", "api_calls_last_24_hours", "parent_connection_id")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _type_of(app: Any, type_id: str) -> ConnectionType:
    ctype = app.types.get(type_id)
    if ctype is None:
        raise ApiError(400, f"unknown connection type {type_id!r}", key="unknown_connection_type")
    return ctype


def _string_field(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"{name} is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise bad_request(f"{name} must be a non-empty string" if required else f"{name} must be a string")
    return value


def _configuration(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("configuration") is None:
        raise bad_request("configuration is required")
    if not isinstance(body["configuration"], dict):
        raise bad_request("configuration must be an object")
    return body["configuration"]


def _policies(body: dict[str, Any], current: list[str]) -> list[str]:
    value = body.get("policies")
    if value is None:
        return current
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise bad_request("policies must be a list of strings")
    return list(value)


def _check_org(req: Request, body: dict[str, Any]) -> None:
    wanted = body.get("organization_id")
    if wanted not in (None, "", req.org_id):
        raise ApiError(403, "organization_id does not match the caller's organization", key="forbidden")


def _write_shape(item: dict[str, Any], ctype: ConnectionType, interval: str) -> dict[str, Any]:
    """The create/update answer: the stored item minus timestamps, plus OAuth hand-off."""
    shaped = {k: v for k, v in item.items() if k not in _LIST_ONLY_FIELDS}
    shaped["type"] = ctype.reference(operations=True)
    shaped.update(healthcheck_interval=interval, auth_url="", auth_code="")
    return shaped


def _save(app: Any, req: Request, db: Any, body: dict[str, Any], previous: records.ConnectionRow | None) -> Reply:
    name = _string_field(body, "name", required=True)
    configuration = _configuration(body)
    interval = _string_field(body, "healthcheck_interval", required=False)
    _check_org(req, body)
    if previous is None:
        ctype = _type_of(app, _string_field(body, "type", required=True) or "")
        conn_id, created_at, created_by, policies = str(uuid.uuid4()), None, None, []
    else:
        ctype = _type_of(app, previous.type_id)
        requested_type = _string_field(body, "type", required=False)
        if requested_type not in (None, "", previous.type_id):
            # [INFERRED] A type change is a different connection: Terraform replaces it.
            raise bad_request("type cannot be changed; create a new connection", key="type_immutable")
        old = previous.item
        conn_id, created_at, created_by, policies = previous.id, old["created_at"], old["created_by"], old["policies"]
        interval = previous.healthcheck_interval if interval is None else interval
    stored = ctype.prepare(configuration)
    now, actor = utc_now(), req.principal.actor()  # type: ignore[union-attr]
    item = {
        "id": conn_id,
        "name": name,
        "organization_id": req.org_id,
        "type": ctype.reference(operations=False),
        "configuration": ctype.mask(stored),
        "status": "healthy",
        "status_error": "",
        "saved": True,
        "policies": _policies(body, policies),
        "parent_connection_id": "",
        "api_calls_last_24_hours": 0,
        "created_at": created_at or now,
        "created_by": created_by or actor,
        "updated_at": now,
        "updated_by": actor,
    }
    row = records.ConnectionRow(conn_id, req.org_id, ctype.id, stored, interval or "", item)
    records.connection_save(db, row)
    return envelope(_write_shape(item, ctype, row.healthcheck_interval))


def create_connection(app: Any, req: Request, db: Any) -> Reply:
    return _save(app, req, db, req.json_object(), None)


def update_connection(app: Any, req: Request, db: Any) -> Reply:
    body = req.json_object()
    return _save(app, req, db, body, _load(db, req))


def _load(db: Any, req: Request) -> records.ConnectionRow:
    row = records.connection_get(db, req.org_id, req.params["id"])
    if row is None:
        raise not_found("connection")
    return row


def get_connection(app: Any, req: Request, db: Any) -> Reply:
    row = _load(db, req)
    item = row.item
    item["type"] = _type_of(app, row.type_id).reference(operations=True)
    return envelope(item)


def list_connections(app: Any, req: Request, db: Any) -> Reply:
    items = records.connection_items_json(db, req.org_id)
    return Reply(200, ('{"data":[' + ",".join(items) + "]}").encode())


def _parse_force(req: Request) -> bool:
    raw = (req.query_one("force") or "false").strip().lower()
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0", ""):
        return False
    raise bad_request("force must be true or false")


def delete_connection(app: Any, req: Request, db: Any) -> Reply:
    force = _parse_force(req)
    row = _load(db, req)
    direct = records.resource_dependents(db, [row.id])
    # A sync also depends on the connection through the models it reads from.
    model_ids = [res_id for _, kind, _, res_id in direct if kind == "model"]
    dependents = sorted(set(direct) | set(records.resource_dependents(db, model_ids)))
    if dependents and not force:
        order = {"model": 0, "sync": 1, "bulk_sync": 2}
        used_by = [
            {"type": kind, "name": name, "id": res_id}
            for _, kind, name, res_id in sorted(dependents, key=lambda d: (order.get(d[1], 9), d[0]))
        ]
        raise ApiError(422, "connection in use", key="connection_in_use", metadata={"used_by": used_by})
    records.resources_delete(db, [res_id for *_, res_id in dependents])
    records.connection_delete(db, row.id)
    return Reply(200, DELETED)
