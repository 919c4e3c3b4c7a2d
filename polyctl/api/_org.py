"""`OrgClient`: every organization-scoped operation, returning the envelope's ``data``.

Paths, bodies and query parameters follow the contract (§5–§8). Results are plain
dicts and lists exactly as the server sent them, so unknown fields pass through.
Mutating calls always carry an Idempotency-Key: the caller's, or one made here for
this logical call and kept across its retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ._auth import resolve_credential
from ._client import decode_data, decode_json
from ._dependents import dependents_of
from ._errors import PolytomicError
from ._values import Dependent, generate_idempotency_key

if TYPE_CHECKING:
    from ._client import PolytomicClient

__all__ = ["OrgClient", "PAGE_LIMIT"]

PAGE_LIMIT = 50  # the documented maximum page size for models, syncs and bulk syncs


def _segment(value: str) -> str:
    # An id goes into the path verbatim only if it cannot change the path.
    return quote(str(value), safe="")


class OrgClient:
    """Operations on one organization (``organization_id`` None: the key's own org)."""

    def __init__(self, client: PolytomicClient, organization_id: str | None) -> None:
        self._client = client
        self.organization_id = (organization_id or "").strip() or None
        self._credential = resolve_credential(client.settings, self.organization_id)

    def __repr__(self) -> str:
        return f"OrgClient(organization_id={self.organization_id!r}, auth={self._credential!r})"

    # -- plumbing -----------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
        org_scoped: bool = True,
    ):
        if org_scoped:
            self._credential.require_org_scope(operation)
        if method != "GET":  # mutating: the caller's key, or one for this logical call
            idempotency_key = idempotency_key or generate_idempotency_key()
        await self.verify_organization()
        return await self._client.send(
            method,
            path,
            credential=self._credential,
            params=params,
            json=json,
            idempotency_key=idempotency_key,
        )

    async def _data(self, path: str, *, operation: str, org_scoped: bool = True) -> Any:
        response = await self._call("GET", path, operation=operation, org_scoped=org_scoped)
        return decode_data(response)

    async def _list(self, path: str, *, operation: str) -> list[dict]:
        """Every item of a list endpoint, following ``pagination.next_page_token``."""
        items: list[dict] = []
        params: dict[str, Any] = {"limit": PAGE_LIMIT}
        seen: set[str] = set()
        while True:
            response = await self._call("GET", path, operation=operation, params=params)
            body = decode_json(response)
            data = body.get("data") if isinstance(body, Mapping) else body
            items.extend(_as_list(data, operation))
            token = (body.get("pagination") or {}).get("next_page_token") if isinstance(body, Mapping) else None
            if not token:
                return items
            if token in seen:  # a server bug must not become an endless loop
                raise PolytomicError(f"{operation}: the API repeated page token {token!r}")
            seen.add(token)
            params = {"limit": PAGE_LIMIT, "page_token": token}

    # -- identity -----------------------------------------------------------------------

    async def me(self) -> dict:
        """``GET /api/me``: who the credential is. Works without an organization."""
        response = await self._client.send("GET", "/api/me", credential=self._credential)
        return _as_dict(decode_data(response), "identity")

    async def verify_organization(self) -> None:
        """With an API key and an explicit organization, refuse a key of another org.

        Checked once per organization per client (and before the first org-scoped call
        anyway), so calling it again is free.
        """
        if self._credential.check_organization and self.organization_id:
            await self._client.check_organization(self.organization_id, self._credential)

    # -- connections --------------------------------------------------------------------

    async def list_connections(self) -> list[dict]:
        return _as_list(await self._data("/api/connections", operation="listing connections"), "connections")

    async def get_connection(self, id: str) -> dict:
        data = await self._data(f"/api/connections/{_segment(id)}", operation="reading a connection")
        return _as_dict(data, "connection")

    async def create_connection(
        self,
        *,
        name: str,
        type: str,
        configuration: dict,
        organization_id: str | None = None,
        idempotency_key: str | None = None,
        validate: bool = False,
    ) -> dict:
        body = _connection_body(name, type, configuration, organization_id, validate)
        response = await self._call(
            "POST",
            "/api/connections",
            operation="creating a connection",
            json=body,
            idempotency_key=idempotency_key,
        )
        return _as_dict(decode_data(response), "created connection")

    async def update_connection(
        self,
        id: str,
        *,
        name: str,
        type: str,
        configuration: dict,
        organization_id: str | None = None,
        idempotency_key: str | None = None,
        validate: bool = False,
    ) -> dict:
        """``PUT``: a full replacement — configuration keys not sent are cleared."""
        body = _connection_body(name, type, configuration, organization_id, validate)
        response = await self._call(
            "PUT",
            f"/api/connections/{_segment(id)}",
            operation="updating a connection",
            json=body,
            idempotency_key=idempotency_key,
        )
        return _as_dict(decode_data(response), "updated connection")

    async def delete_connection(
        self, id: str, *, force: bool, idempotency_key: str | None = None
    ) -> None:
        """Delete; ``force`` is always sent explicitly. 404 raises `NotFoundError`."""
        await self._call(
            "DELETE",
            f"/api/connections/{_segment(id)}",
            operation="deleting a connection",
            params={"force": "true" if force else "false"},
            idempotency_key=idempotency_key,
        )
        # Any 2xx is success whatever the body ("" in the mocks, nothing on a 204).

    # -- connection types -----------------------------------------------------------------
    # The type catalogue is not organization data, so a partner key without an
    # organization may read it too.

    async def list_connection_types(self) -> list[dict]:
        data = await self._data(
            "/api/connection_types", operation="listing connection types", org_scoped=False
        )
        return _as_list(data, "connection types")

    async def get_connection_type_schema(self, type_id: str) -> dict:
        """The bare JSON Schema of a type's configuration (this endpoint has no envelope)."""
        response = await self._call(
            "GET",
            f"/api/connection_types/{_segment(type_id)}",
            operation="reading a connection type",
            org_scoped=False,
        )
        body = decode_json(response)
        # Tolerate a server that wraps it after all: {"data": {<schema>}} and nothing else.
        if isinstance(body, Mapping) and set(body) == {"data"} and isinstance(body["data"], Mapping):
            body = body["data"]
        return _as_dict(body, "connection type schema")

    # -- things that depend on connections --------------------------------------------------

    async def list_models(self) -> list[dict]:
        return await self._list("/api/models", operation="listing models")

    async def list_syncs(self) -> list[dict]:
        return await self._list("/api/syncs", operation="listing model syncs")

    async def list_bulk_syncs(self) -> list[dict]:
        return await self._list("/api/bulk/syncs", operation="listing bulk syncs")

    async def find_dependents(self, connection_id: str) -> list[Dependent]:
        """Models, model syncs and bulk syncs that use the connection (see `_dependents`)."""
        models, syncs, bulk_syncs = await asyncio.gather(
            self.list_models(), self.list_syncs(), self.list_bulk_syncs()
        )
        return dependents_of(connection_id, models, syncs, bulk_syncs)


def _connection_body(
    name: str, type: str, configuration: dict, organization_id: str | None, validate: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "type": type,
        "configuration": configuration,
        "validate": bool(validate),
    }
    if organization_id:
        body["organization_id"] = organization_id
    return body


def _as_list(data: Any, what: str) -> list[dict]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise PolytomicError(f"expected a list of {what} from the API, got {type(data).__name__}")
    return data


def _as_dict(data: Any, what: str) -> dict:
    if not isinstance(data, dict):
        raise PolytomicError(f"expected a {what} object from the API, got {type(data).__name__}")
    return data
