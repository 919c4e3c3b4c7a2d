"""Who-am-I, organizations and connection-type endpoints (contract §6, §7).

`/api/me` answers for every kind of caller: API keys are users of their org; partner
keys report `is_partner` and, with Basic auth, the org they act on (`organization_id`
is `""` for a partner key used without an org) [INFERRED]. `role` is left out: it is
deprecated and absent from the official mock.
"""

from __future__ import annotations

from typing import Any

from . import records
from .auth import new_org
from .errors import ApiError, bad_request, not_found
from .routing import Reply, Request, envelope


def get_me(app: Any, req: Request, db: Any) -> Reply:
    principal = req.principal
    assert principal is not None
    org_id = principal.organization_id or ""
    org = records.org_get(db, org_id) if org_id else None
    data: dict[str, Any] = {
        "email": principal.email,
        "organization_id": org_id,
        "organization_name": org["name"] if org else "",
        "is_user": principal.kind == "user",
        "is_organization": False,
        "is_partner": principal.kind == "partner",
        "is_system": False,
    }
    if principal.user_id:
        data = {"id": principal.user_id, **data}
    return envelope(data)


def get_organization(app: Any, req: Request, db: Any) -> Reply:
    org = records.org_get(db, req.org_id)
    if org is None:
        raise not_found("organization")
    return envelope(org)


def list_organizations(app: Any, req: Request, db: Any) -> Reply:
    return envelope(records.org_list(db))


def create_organization(app: Any, req: Request, db: Any) -> Reply:
    body = req.json_object()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("name is required")
    org = new_org(None, name)
    for field in ("issuer", "sso_domain", "sso_org_id"):
        value = body.get(field)
        if value is not None:
            if not isinstance(value, str):
                raise bad_request(f"{field} must be a string")
            org[field] = value
    records.org_insert(db, org)
    return envelope(org)


def list_connection_types(app: Any, req: Request, db: Any) -> Reply:
    return Reply(200, app.types.list_json())


def get_connection_type(app: Any, req: Request, db: Any) -> Reply:
    schema = app.types.schema_json(req.params["id"])
    if schema is None:
        raise ApiError(404, "connection type not found")
    return Reply(200, schema)  # bare JSON Schema: this endpoint has no envelope
