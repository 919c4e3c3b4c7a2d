"""Minimal models, model syncs and bulk syncs: just enough to depend on a connection.

Create, list (paginated), get and delete, with the reference fields the contract names
(§8): a model reads from `connection_id` and optionally `enricher.connection_id`; a
sync writes to `target.connection_id` (or `target_connection_id`), reads `model_ids`
and may be triggered by `schedule.connection_id`; a bulk sync has
`source_connection_id` and `destination_connection_id`. Each reference is a row in
`links`, which is what `DELETE /api/connections/{id}` consults.

[INFERRED] Lists are in creation order with keyset pagination: `limit` (default and max
50; larger values are clamped), an opaque `page_token`, and
`pagination.next_page_token` present only while more items may follow (the last page
may be empty). Referencing an unknown connection or model is a 400. Deleting a model,
sync or bulk sync needs no force: its links go with it (a sync keeps the id in its
`model_ids`, as nothing here validates syncs after creation).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from typing import Any

from . import records
from .connections import utc_now
from .errors import bad_request, not_found
from .routing import DELETED, Reply, Request, envelope

MAX_PAGE = 50
Links = list[tuple[str, str]]


def _base(req: Request, body: dict[str, Any]) -> dict[str, Any]:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("name is required")
    now, actor = utc_now(), req.principal.actor()  # type: ignore[union-attr]
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "organization_id": req.org_id,
        "policies": [],
        "created_at": now,
        "created_by": actor,
        "updated_at": now,
        "updated_by": actor,
    }


def _connection_ref(db: Any, req: Request, value: Any, field: str, *, required: bool = True) -> str | None:
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not value:
        raise bad_request(f"{field} is required")
    if not records.connection_exists(db, req.org_id, value):
        raise bad_request(f"{field}: connection {value} not found", key="invalid_reference")
    return value


def build_model(db: Any, req: Request, body: dict[str, Any]) -> tuple[dict[str, Any], Links]:
    model = _base(req, body)
    source = _connection_ref(db, req, body.get("connection_id"), "connection_id")
    assert source is not None
    row = records.connection_get(db, req.org_id, source)
    model.update(
        connection_id=source,
        type=row.type_id if row else "",
        configuration=body.get("configuration") or {},
        fields=[], identifier=body.get("identifier") or "", labels=[], relations=[],
        tracking_columns=[], version=1,
    )
    links: Links = [(source, "source")]
    enricher = body.get("enricher")
    if isinstance(enricher, dict) and enricher.get("connection_id"):
        ref = _connection_ref(db, req, enricher["connection_id"], "enricher.connection_id")
        model["enricher"] = {"connection_id": ref, "configuration": enricher.get("configuration") or {}}
        links.append((ref, "enricher"))  # type: ignore[arg-type]
    return model, links


def build_sync(db: Any, req: Request, body: dict[str, Any]) -> tuple[dict[str, Any], Links]:
    sync = _base(req, body)
    target = body.get("target") if isinstance(body.get("target"), dict) else {}
    target_id = _connection_ref(db, req, target.get("connection_id") or body.get("target_connection_id"), "target.connection_id")
    model_ids = body.get("model_ids") or []
    if not isinstance(model_ids, list) or not all(isinstance(m, str) for m in model_ids):
        raise bad_request("model_ids must be a list of model ids")
    for model_id in model_ids:
        if records.resource_get(db, "model", req.org_id, model_id) is None:
            raise bad_request(f"model_ids: model {model_id} not found", key="invalid_reference")
    schedule = dict(body["schedule"]) if isinstance(body.get("schedule"), dict) else {}
    schedule.setdefault("frequency", "manual")
    links: Links = [(target_id, "target")] + [(m, "model") for m in model_ids]  # type: ignore[list-item]
    trigger = _connection_ref(db, req, schedule.get("connection_id"), "schedule.connection_id", required=False)
    if trigger:
        links.append((trigger, "schedule"))
    sync.update(
        active=bool(body.get("active", False)),
        mode=body.get("mode") or "create",
        model_ids=model_ids,
        target={"connection_id": target_id, "object": target.get("object") or "", "configuration": target.get("configuration") or {}},
        schedule=schedule,
        fields=body.get("fields") or [], filters=[], overrides=[],
    )
    return sync, links


def build_bulk_sync(db: Any, req: Request, body: dict[str, Any]) -> tuple[dict[str, Any], Links]:
    bulk = _base(req, body)
    source = _connection_ref(db, req, body.get("source_connection_id"), "source_connection_id")
    destination = _connection_ref(db, req, body.get("destination_connection_id"), "destination_connection_id")
    bulk.update(
        active=bool(body.get("active", False)),
        mode=body.get("mode") or "snapshot",
        source_connection_id=source,
        destination_connection_id=destination,
        schedule={"frequency": "manual"},
        source_configuration=body.get("source_configuration") or {},
        destination_configuration=body.get("destination_configuration") or {},
    )
    return bulk, [(source, "source"), (destination, "destination")]  # type: ignore[list-item]


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        version, _, seq = text.partition(":")
        if version == "v1":
            return int(seq)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise bad_request("invalid page_token")


def _page_args(req: Request) -> tuple[int, int]:
    token, raw_limit = req.query_one("page_token"), req.query_one("limit")
    after = _decode_token(token) if token else 0
    if raw_limit in (None, ""):
        return after, MAX_PAGE
    try:
        limit = int(raw_limit)
    except ValueError:
        raise bad_request("limit must be a positive integer") from None
    if limit < 1:
        raise bad_request("limit must be a positive integer")
    return after, min(limit, MAX_PAGE)


Builder = Callable[[Any, Request, dict[str, Any]], tuple[dict[str, Any], Links]]


def handlers(kind: str, builder: Builder, *, target_filter: bool = False) -> dict[str, Callable[..., Reply]]:
    """create / list / get / delete for one kind of dependent object."""

    def create(app: Any, req: Request, db: Any) -> Reply:
        obj, links = builder(db, req, req.json_object())
        records.resource_insert(db, kind, obj, links)
        return envelope(obj)

    def list_(app: Any, req: Request, db: Any) -> Reply:
        after, limit = _page_args(req)
        target = req.query_one("target_connection_id") if target_filter else None
        rows = records.resource_page(
            db, kind, req.org_id, after_seq=after, limit=limit,
            linked_to=(target, "target") if target else None,
        )
        active = (req.query_one("active") or "").lower()
        items = [obj for _, obj in rows if active not in ("true", "false") or obj.get("active") == (active == "true")]
        if target_filter:  # the slim list item of the current SDK names its target directly
            items = [{**obj, "target_connection_id": obj["target"]["connection_id"]} for obj in items]
        pagination = {"next_page_token": _encode_token(rows[-1][0])} if len(rows) == limit else {}
        return envelope(items, pagination=pagination)

    def get(app: Any, req: Request, db: Any) -> Reply:
        obj = records.resource_get(db, kind, req.org_id, req.params["id"])
        if obj is None:
            raise not_found(kind.replace("_", " "))
        return envelope(obj)

    def delete(app: Any, req: Request, db: Any) -> Reply:
        if records.resource_get(db, kind, req.org_id, req.params["id"]) is None:
            raise not_found(kind.replace("_", " "))
        records.resources_delete(db, [req.params["id"]])
        return Reply(200, DELETED)

    return {"create": create, "list": list_, "get": get, "delete": delete}
