"""Auth: API keys, partner keys (Bearer and Basic org:key), 401/403, org isolation."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest

UNAUTHORIZED = {"status": 401, "message": "invalid or unknown API key"}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong-key",
        "Bearer",
        "Token abc",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ],
)
def test_bad_credentials_are_401(sandbox: Any, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(f"{sandbox.url}/api/connections", headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_basic_needs_a_partner_key_and_a_uuid_org(sandbox: Any, make_client: Any, basic_auth: Any) -> None:
    with_api_key = make_client(sandbox, basic_auth(sandbox.organization_id, sandbox.api_key))
    assert with_api_key.get("/api/connections").status_code == 401
    not_uuid = make_client(sandbox, basic_auth("acme", sandbox.partner_key))
    assert not_uuid.get("/api/connections").status_code == 401


def test_me_for_an_api_key(client: Any, sandbox: Any) -> None:
    me = client.get("/api/me").json()["data"]
    assert me["organization_id"] == sandbox.organization_id
    assert me["organization_name"] == "Sandbox Organization"
    assert me["is_user"] is True and me["is_partner"] is False and uuid.UUID(me["id"])


def test_partner_bearer_is_partner_level_only(sandbox: Any, make_client: Any, client: Any) -> None:
    partner = make_client(sandbox, f"Bearer {sandbox.partner_key}")
    me = partner.get("/api/me").json()["data"]
    assert me["is_partner"] is True and me["organization_id"] == "" and "id" not in me
    forbidden = partner.get("/api/connections")
    assert forbidden.status_code == 403 and forbidden.json()["status"] == 403
    assert partner.post("/api/connections", json={"name": "n", "type": "api", "configuration": {"url": "u"}}).status_code == 403
    created = partner.post("/api/organizations", json={"name": "Acme"})
    assert created.status_code == 200
    org_ids = [o["id"] for o in partner.get("/api/organizations").json()["data"]]
    assert created.json()["data"]["id"] in org_ids and sandbox.organization_id in org_ids
    assert client.get("/api/organizations").status_code == 403  # an API key is not a partner


def test_partner_basic_creates_the_org_and_is_isolated(
    sandbox: Any, make_client: Any, client: Any, create_connection: Any, basic_auth: Any
) -> None:
    org_id = str(uuid.uuid4())
    partner = make_client(sandbox, basic_auth(f" {org_id} ", f" {sandbox.partner_key} "))  # parts are trimmed
    assert partner.get("/api/connections").json() == {"data": []}
    me = partner.get("/api/me").json()["data"]
    assert me["organization_id"] == org_id and me["is_partner"] is True
    theirs = create_connection("theirs", client=partner)
    assert theirs["organization_id"] == org_id
    ours = create_connection("ours")
    assert [c["id"] for c in client.get("/api/connections").json()["data"]] == [ours["id"]]
    assert [c["id"] for c in partner.get("/api/connections").json()["data"]] == [theirs["id"]]
    for path in (f"/api/connections/{theirs['id']}",):
        assert client.get(path).status_code == 404
        assert client.put(path, json={"name": "x", "configuration": {"url": "u"}}).status_code == 404
        assert client.delete(path, params={"force": "true"}).status_code == 404
    assert partner.get(f"/api/connections/{theirs['id']}").status_code == 200
    listed = make_client(sandbox, f"Bearer {sandbox.partner_key}").get("/api/organizations").json()["data"]
    assert org_id in [o["id"] for o in listed]


def test_minted_keys_belong_to_their_own_org(sandbox: Any, make_client: Any, client: Any, create_connection: Any) -> None:
    minted = client.post(f"{sandbox.url}/_sandbox/api-keys").json()["data"]
    other = make_client(sandbox, f"Bearer {minted['api_key']}")
    assert other.get("/api/me").json()["data"]["organization_id"] == minted["organization_id"] != sandbox.organization_id
    ours = create_connection("ours")
    assert other.get(f"/api/connections/{ours['id']}").status_code == 404
    model = other.post("/api/models", json={"name": "m", "connection_id": ours["id"]})
    assert model.status_code == 400  # another org's connection is not a valid reference
    assert httpx.post(f"{sandbox.url}/_sandbox/api-keys").status_code == 401  # minting needs a credential


def test_configured_keys_replace_the_generated_one(make_sandbox: Any, tmp_path: Any) -> None:
    first = make_sandbox(db_path=tmp_path / "keys.db")
    generated = first.api_key
    assert generated.startswith("sbx_")
    first.stop()
    fixed = make_sandbox(db_path=tmp_path / "keys.db", api_keys=["key-one", "key-two"], partner_keys=["pk"])
    assert (fixed.api_key, fixed.partner_key) == ("key-one", "pk")
    assert fixed.organization_id == first.organization_id  # same database, same org
    for key, status in (("key-one", 200), ("key-two", 200), (generated, 401)):
        response = httpx.get(f"{fixed.url}/api/me", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == status
