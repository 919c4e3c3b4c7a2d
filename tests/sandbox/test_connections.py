"""Connections: masking everywhere, full-replacement PUT, validation, 404/405, types."""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

import pytest

API_SECRETS = ("header-secret", "header-secret-pw", "header-secret-cs")
PG_SECRETS = ("pg-secret", "-----BEGIN KEY-----")


def _every_response(client: Any, conn_id: str) -> list[str]:
    return [client.get("/api/connections").text, client.get(f"/api/connections/{conn_id}").text]


def test_api_type_secrets_are_masked_in_every_response(client: Any, create_connection: Any, api_configuration: Any) -> None:
    created = create_connection("masked")
    auth = created["configuration"]["auth"]
    assert auth["header"]["value"] == "********"
    assert auth["basic"]["password"] == "********"
    assert auth["oauth"]["client_secret"] == "********"
    assert auth["basic"]["username"] == "user" and auth["oauth"]["client_id"] == "cid"
    updated = client.put(
        f"/api/connections/{created['id']}", json={"name": "masked", "configuration": api_configuration()}
    )
    assert updated.status_code == 200
    for text in [json.dumps(created), updated.text, *_every_response(client, created["id"])]:
        for secret in API_SECRETS:
            assert secret not in text


def test_schema_sensitive_fields_are_masked_for_other_types(client: Any, create_connection: Any, postgres_configuration: Any) -> None:
    config = postgres_configuration() | {"ssh_private_key": PG_SECRETS[1], "ca_cert": ""}
    created = create_connection("pg", "postgresql", config)
    assert created["configuration"]["password"] == "********"
    assert created["configuration"]["ssh_private_key"] == "********"
    assert created["configuration"]["ca_cert"] == ""  # empty secrets stay empty
    for text in [json.dumps(created), *_every_response(client, created["id"])]:
        for secret in PG_SECRETS:
            assert secret not in text


def test_secrets_are_stored_in_full(sandbox: Any, create_connection: Any) -> None:
    created = create_connection("stored")
    db = sqlite3.connect(sandbox._app.db.path)
    (raw,) = db.execute("SELECT configuration FROM connections WHERE id = ?", (created["id"],)).fetchone()
    db.close()
    assert json.loads(raw)["auth"]["header"]["value"] == "header-secret"


def test_schema_defaults_are_filled_and_read_only_fields_dropped(create_connection: Any, postgres_configuration: Any) -> None:
    created = create_connection("pg", "postgresql", postgres_configuration() | {"ssl": False, "not_in_schema": 1})
    config = created["configuration"]
    assert config["ssl"] is False  # sent: kept
    assert config["ssh_port"] == 22 and config["change_detection"] is False  # omitted: defaulted
    assert "not_in_schema" not in config
    salesforce = create_connection(
        "sf", "salesforce",
        {"client_id": "i", "client_secret": "s", "domain": "d.my.salesforce.com", "username": "server-managed"},
    )
    assert "username" not in salesforce["configuration"]  # readOnly: only the server sets it
    assert salesforce["configuration"]["connect_mode"] == "browser"


def test_put_replaces_the_whole_configuration(client: Any, create_connection: Any) -> None:
    created = create_connection("full", policies=["p1"], healthcheck_interval="1h")
    before = client.get(f"/api/connections/{created['id']}").json()["data"]
    response = client.put(
        f"/api/connections/{created['id']}/",  # trailing slash tolerated
        json={"name": "renamed", "configuration": {"url": "https://other.example.com"}},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["configuration"] == {"url": "https://other.example.com"}
    assert data["name"] == "renamed"
    assert data["policies"] == ["p1"] and data["healthcheck_interval"] == "1h"  # omitted: kept
    got = client.get(f"/api/connections/{created['id']}").json()["data"]
    assert got["configuration"] == {"url": "https://other.example.com"}
    assert (got["created_at"], got["created_by"]) == (before["created_at"], before["created_by"])
    assert got["updated_at"] >= got["created_at"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "api", "configuration": {"url": "x"}}, "name is required"),
        ({"name": "n", "configuration": {"url": "x"}}, "type is required"),
        ({"name": "n", "type": "api"}, "configuration is required"),
        ({"name": "n", "type": "api", "configuration": ["url"]}, "configuration must be an object"),
        ({"name": "n", "type": "no_such_type", "configuration": {}}, "unknown connection type"),
        ({"name": "n", "type": "api", "configuration": {"headers": []}}, "configuration.url: required"),
        ({"name": "n", "type": "postgresql", "configuration": {"hostname": "h", "username": "u", "password": "p", "database": "d", "port": "5432"}},
         "configuration.port: expected integer"),
        ({"name": "n", "type": "api", "configuration": {"url": "x", "auth": {"header": {"name": "A"}}}},
         "configuration.auth.header.value: required"),
    ],
)
def test_invalid_creates_are_400_with_a_message(client: Any, body: dict, message: str) -> None:
    response = client.post("/api/connections", json=body)
    assert response.status_code == 400
    assert response.json()["status"] == 400
    assert message in response.json()["message"]
    assert client.get("/api/connections").json()["data"] == []


def test_malformed_json_is_400(client: Any) -> None:
    response = client.post("/api/connections", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "invalid JSON" in response.json()["message"]


def test_put_needs_name_and_configuration_and_keeps_the_type(client: Any, create_connection: Any) -> None:
    conn_id = create_connection("t")["id"]
    assert client.put(f"/api/connections/{conn_id}", json={"name": "t"}).status_code == 400
    assert client.put(f"/api/connections/{conn_id}", json={"configuration": {"url": "x"}}).status_code == 400
    changed = client.put(f"/api/connections/{conn_id}", json={"name": "t", "type": "postgresql", "configuration": {}})
    assert changed.status_code == 400 and "type cannot be changed" in changed.json()["message"]


def test_organization_id_of_another_org_is_forbidden(client: Any, api_configuration: Any) -> None:
    body = {"name": "n", "type": "api", "configuration": api_configuration(), "organization_id": str(uuid.uuid4())}
    assert client.post("/api/connections", json=body).status_code == 403


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("conn_id", ["0b155265-c537-44c9-9359-a3ceb468a4da", "not-a-uuid"])
def test_unknown_connection_is_404_with_an_error_body(client: Any, method: str, conn_id: str) -> None:
    body = {"name": "n", "configuration": {"url": "x"}} if method == "PUT" else None
    response = client.request(method, f"/api/connections/{conn_id}", json=body)
    assert response.status_code == 404
    assert response.json() == {"status": 404, "message": "connection not found"}


def test_unknown_path_404_and_wrong_method_405(client: Any) -> None:
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json()["status"] == 404
    wrong = client.patch("/api/connections")
    assert wrong.status_code == 405 and set(wrong.headers["allow"].split(", ")) == {"GET", "POST"}


def test_list_keeps_creation_order_and_only_the_callers_connections(client: Any, create_connection: Any) -> None:
    ids = [create_connection(f"c{i}")["id"] for i in range(3)]
    items = client.get("/api/connections/").json()["data"]
    assert [c["id"] for c in items] == ids
    assert all("operations" not in c["type"] for c in items)


def test_lenient_without_a_connection_types_folder(make_sandbox: Any, make_client: Any) -> None:
    sandbox = make_sandbox(connection_types_dir=None)
    client = make_client(sandbox)
    body = {"name": "pg", "type": "postgresql", "configuration": {"password": "kept", "anything": [1]}}
    created = client.post("/api/connections", json=body).json()["data"]
    assert created["configuration"] == body["configuration"]  # no schema: nothing masked or dropped
    api = client.post("/api/connections", json={"name": "a", "type": "api", "configuration": {"url": "u", "auth": {"header": {"name": "A", "value": "v"}}}})
    assert api.json()["data"]["configuration"]["auth"]["header"]["value"] == "********"
    types = client.get("/api/connection_types").json()["data"]
    assert [t["id"] for t in types] == ["api"]


def test_connection_types_list_and_schemas(client: Any) -> None:
    types = {t["id"]: t for t in client.get("/api/connection_types").json()["data"]}
    assert len(types) == 226 and types["postgresql"]["name"] == "PostgreSQL"
    assert set(types["api"]["capabilities"]) == {"source", "destination", "enrichment", "orchestration"}
    api_schema = client.get("/api/connection_types/api").json()
    auth = api_schema["properties"]["auth"]["properties"]
    assert auth["header"]["properties"]["value"]["sensitive"] is True
    assert auth["basic"]["properties"]["password"]["sensitive"] is True
    assert auth["oauth"]["properties"]["client_secret"]["sensitive"] is True
    assert {"query", "oauth"} <= set(auth) and "scopes" in auth["oauth"]["properties"]
    assert client.get("/api/connection_types/nope").status_code == 404
    assert client.get("/api/connection_types/..%2F_index").status_code == 404
