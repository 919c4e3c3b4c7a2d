"""Refresh: read every managed connection from the API with as few calls as possible.

One `GET /api/connections` per organization (not one GET per resource, as the
Terraform provider does); when listing is not allowed (403), fall back to one GET per
id, run concurrently under the client's bound. A connection missing from the list —
or answering 404 — was deleted outside polyctl.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Callable

from polyctl.api import ForbiddenError, NotFoundError, OrgClient
from polyctl.engine.live import reconcile_live
from polyctl.schema import TypeSchema, schema_for
from polyctl.state.model import ResourceState, State

OrgClients = Callable[[str | None], OrgClient]


async def list_by_id(org: OrgClient, ids: list[str]) -> dict[str, dict | None]:
    """Live connection objects for `ids` (None where gone), listing once if allowed."""
    try:
        listed = await org.list_connections()
    except ForbiddenError:
        return dict(zip(ids, await asyncio.gather(*(_get_or_none(org, i) for i in ids))))
    by_id = {str(c.get("id")): c for c in listed}
    return {i: by_id.get(i) for i in ids}


async def _get_or_none(org: OrgClient, id: str) -> dict | None:
    try:
        return await org.get_connection(id)
    except NotFoundError:
        return None


async def refresh_state(state: State, orgs: OrgClients,
                        schemas: dict[str, TypeSchema] | None = None
                        ) -> dict[str, ResourceState | None]:
    """address → the resource as it is now in Polytomic (None: deleted outside)."""
    groups: dict[str | None, list[tuple[str, ResourceState]]] = defaultdict(list)
    for address, resource in state.resources.items():
        groups[resource.organization].append((address, resource))

    async def one_org(organization: str | None, members) -> dict[str, ResourceState | None]:
        org = orgs(organization)
        if organization is not None:
            await org.verify_organization()
        live = await list_by_id(org, [r.id for _, r in members])
        out: dict[str, ResourceState | None] = {}
        for address, prior in members:
            obj = live.get(prior.id)
            out[address] = None if obj is None else reconcile_live(
                obj, prior, state.digest_salt, schema_for(prior.type, schemas))
        return out

    results = await asyncio.gather(*(one_org(o, m) for o, m in sorted(
        groups.items(), key=lambda kv: kv[0] or "")))
    merged: dict[str, ResourceState | None] = {}
    for part in results:
        merged.update(part)
    return merged
