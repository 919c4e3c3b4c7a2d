"""The official `polytomic` SDK (PyPI) works against the sandbox unchanged, over real HTTP."""

from __future__ import annotations

from typing import Any

import polytomic
import pytest
from polytomic import NotFoundError, UnauthorizedError, UnprocessableEntityError


@pytest.fixture
def sdk(sandbox: Any) -> polytomic.Polytomic:
    # base_url is the deployment root: the SDK appends "api/…" itself.
    return polytomic.Polytomic(token=sandbox.api_key, base_url=sandbox.url, max_retries=0)


def test_sdk_connection_lifecycle(sdk: polytomic.Polytomic, api_configuration: Any) -> None:
    created = sdk.connections.create(name="sdk", type="api", configuration=api_configuration("s3cret"), validate=False)
    conn = created.data
    assert conn.id and conn.name == "sdk" and conn.type.id == "api"
    assert conn.configuration["auth"]["header"]["value"] == "********"

    got = sdk.connections.get(conn.id).data
    assert got.id == conn.id and got.created_at is not None and got.type.operations

    listed = sdk.connections.list().data
    assert [c.id for c in listed] == [conn.id]

    new_config = {"url": "https://changed.example.com"}
    updated = sdk.connections.update(conn.id, name="sdk-renamed", configuration=new_config).data
    assert updated.name == "sdk-renamed"
    assert updated.configuration == new_config  # full replacement: the auth block is gone

    sdk.connections.delete(conn.id)
    with pytest.raises(NotFoundError):
        sdk.connections.get(conn.id)


def test_sdk_delete_in_use_then_force(sdk: polytomic.Polytomic, client: Any, api_configuration: Any) -> None:
    conn = sdk.connections.create(name="used", type="api", configuration=api_configuration()).data
    model = client.post("/api/models", json={"name": "m", "connection_id": conn.id}).json()["data"]

    with pytest.raises(UnprocessableEntityError) as excinfo:
        sdk.connections.delete(conn.id, force=False)
    body = excinfo.value.body
    assert body.message == "connection in use"
    assert body.metadata["used_by"] == [{"type": "model", "name": "m", "id": model["id"]}]

    sdk.connections.delete(conn.id, force=True)
    assert client.get(f"/api/models/{model['id']}").status_code == 404
    assert sdk.connections.list().data == []


def test_sdk_identity(sdk: polytomic.Polytomic, sandbox: Any) -> None:
    me = sdk.identity.get().data
    assert me.organization_id == sandbox.organization_id
    assert me.is_user is True and me.is_partner is False


def test_sdk_sees_unauthorized(sandbox: Any) -> None:
    bad = polytomic.Polytomic(token="wrong", base_url=sandbox.url, max_retries=0)
    with pytest.raises(UnauthorizedError):
        bad.identity.get()


def test_sdk_idempotency_key_replays_the_create(sdk: polytomic.Polytomic, api_configuration: Any) -> None:
    first = sdk.connections.create(name="once", type="api", configuration=api_configuration(), idempotency_key="k-1")
    again = sdk.connections.create(name="once", type="api", configuration=api_configuration(), idempotency_key="k-1")
    assert again.data.id == first.data.id
    assert len(sdk.connections.list().data) == 1
