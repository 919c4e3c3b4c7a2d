"""Contract: every connection, identity and connection-type mapping of the official mocks,
replayed against the sandbox over real HTTP, must answer with the same keys and value
types in `data`, deeply, per field.

Documented exceptions (each is applied at one named place in `assert_same_shape`):

- `configuration` of a connection: the mock's keys must all be there with the same
  types, but the sandbox also echoes the type's schema defaults (`ssl`, `ssh_port`, …),
  as the real API does (contract §5.8, list fixture).
- `envConfig` / `initialConfiguration` of a connection type: free-form maps whose mock
  content is the `{"key": "value"}` placeholder; only "is an object" is comparable.
- `GET /api/connection_types/{id}`: the mock is the generic `JsonschemaSchema` stub that
  lists every JSON-Schema keyword with placeholder values; a real schema uses a subset,
  so the sandbox's keys must be a subset of the stub's, with the stub's types, and
  `properties` (a map of sub-schemas) is only checked to be an object.
- `null` in a mock says nothing about the type; empty arrays on either side leave the
  element type uncompared; a UUID in the mock must be a UUID in the sandbox unless the
  sandbox's string is empty (`parent_connection_id` of a connection that is not shared).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

MAPPINGS = Path(__file__).parents[2].parent / "shared/contract/polytomic-wiremock-mappings.json"
IN_SCOPE = {"/api/connections", "/api/connections/{id}", "/api/me", "/api/connection_types", "/api/connection_types/{id}"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
PLACEHOLDER_MAPS = {"envConfig", "initialConfiguration"}


def _in_scope() -> list[dict[str, Any]]:
    mappings = json.loads(MAPPINGS.read_text())["mappings"]
    return [m for m in mappings if m["request"].get("urlPathTemplate") in IN_SCOPE]


def _type_name(value: Any) -> str:
    return type(value).__name__  # bool and int stay distinct: "bool" != "int"


def assert_same_shape(expected: Any, actual: Any, path: str = "data", *, subset: bool = False) -> None:
    """`actual` has `expected`'s keys and value types; `subset`: actual's keys ⊆ expected's."""
    if expected is None:
        return
    assert _type_name(actual) == _type_name(expected), f"{path}: {_type_name(actual)} != {_type_name(expected)}"
    if isinstance(expected, dict):
        leaf = path.rsplit(".", 1)[-1]
        if leaf in PLACEHOLDER_MAPS:
            return
        if leaf == "configuration":
            assert set(expected) <= set(actual), f"{path}: missing {set(expected) - set(actual)}"
        elif subset:
            assert set(actual) <= set(expected), f"{path}: unexpected {set(actual) - set(expected)}"
        else:
            assert set(actual) == set(expected), (
                f"{path}: missing {set(expected) - set(actual)}, unexpected {set(actual) - set(expected)}"
            )
        for key in set(expected) & set(actual):
            if subset and key == "properties":  # a map of sub-schemas, not a schema
                assert isinstance(actual[key], dict), f"{path}.properties: not an object"
                continue
            assert_same_shape(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        if expected:
            for i, item in enumerate(actual):
                assert_same_shape(expected[0], item, f"{path}[{i}]")
    elif isinstance(expected, str):
        if UUID.match(expected) and actual:
            assert UUID.match(actual), f"{path}: {actual!r} is not a UUID"
        if TIMESTAMP.match(expected):
            assert TIMESTAMP.match(actual), f"{path}: {actual!r} is not an RFC 3339 timestamp"


def _mock_body(mapping: dict[str, Any]) -> Any:
    return json.loads(mapping["response"]["body"])


def _request_body_from(mock_data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The create/update request that should produce the mock's connection."""
    configuration = dict(mock_data["configuration"])
    configuration["password"] = "a-real-secret"  # the mock shows it masked
    return {
        "name": mock_data["name"],
        "type": mock_data["type"]["id"],
        "configuration": configuration,
        "policies": mock_data["policies"],
        **extra,
    }


def _replay(mapping: dict[str, Any], client: Any) -> Any:
    """Issue the sandbox equivalent of the mapping's request; return the response."""
    request = mapping["request"]
    template, method = request["urlPathTemplate"], request["method"]
    params = {name: rule["equalTo"] for name, rule in request.get("queryParameters", {}).items()}
    path = template
    if template.startswith("/api/connections"):
        # Every connection mapping shows (or acts on) the same Postgres connection.
        seed_body = _request_body_from(_postgres_mock(), healthcheck_interval="3h30m")
        if method == "POST":
            return client.post(path, json=seed_body, params=params)
        created = client.post("/api/connections", json=seed_body)
        assert created.status_code == 200, created.text
        path = template.replace("{id}", created.json()["data"]["id"])
        if method == "PUT":
            return client.put(path, json=seed_body, params=params)
    else:
        for name, rule in request.get("pathParameters", {}).items():
            path = path.replace("{" + name + "}", rule["equalTo"])
    return client.request(method, path, params=params)


def _postgres_mock() -> dict[str, Any]:
    for mapping in _in_scope():
        if mapping["request"]["method"] == "GET" and mapping["request"]["urlPathTemplate"] == "/api/connections/{id}":
            return _mock_body(mapping)["data"]
    raise AssertionError("the mocks lost their Get Connection mapping")


def test_the_mock_file_still_has_every_mapping_in_scope() -> None:
    seen = {(m["request"]["method"], m["request"]["urlPathTemplate"]) for m in _in_scope()}
    assert seen == {
        ("GET", "/api/connections"), ("POST", "/api/connections"),
        ("GET", "/api/connections/{id}"), ("PUT", "/api/connections/{id}"), ("DELETE", "/api/connections/{id}"),
        ("GET", "/api/me"), ("GET", "/api/connection_types"), ("GET", "/api/connection_types/{id}"),
    }


@pytest.mark.parametrize("mapping", _in_scope(), ids=lambda m: m["name"])
def test_sandbox_answers_like_the_mock(mapping: dict[str, Any], client: Any) -> None:
    response = _replay(mapping, client)
    assert response.status_code == mapping["response"]["status"], response.text
    assert response.headers["content-type"].startswith("application/json")
    expected, actual = _mock_body(mapping), response.json()
    template = mapping["request"]["urlPathTemplate"]
    if template == "/api/connection_types/{id}":
        assert_same_shape(expected, actual, "schema", subset=True)
        assert actual["properties"]["password"]["sensitive"] is True
    elif isinstance(expected, dict) and isinstance(expected.get("data"), list):
        assert set(actual) == set(expected)
        mock_item = expected["data"][0]
        ours = [item for item in actual["data"] if item["id"] == mock_item["id"] or item.get("name") == mock_item["name"]]
        assert ours, f"the sandbox's list has no item like {mock_item.get('id')}"
        assert_same_shape(mock_item, ours[0], "data[]")
    elif isinstance(expected, dict):
        assert set(actual) == set(expected)
        assert_same_shape(expected["data"], actual["data"])
    else:
        assert actual == expected  # DELETE: the JSON empty string


def test_shape_check_can_fail() -> None:
    """The comparison itself must catch a renamed key, a wrong type and a bad UUID."""
    with pytest.raises(AssertionError):
        assert_same_shape({"a": 1}, {"b": 1})
    with pytest.raises(AssertionError):
        assert_same_shape({"a": True}, {"a": 1})
    with pytest.raises(AssertionError):
        assert_same_shape({"id": "248df4b7-aa70-47b8-a036-33ac447e668d"}, {"id": "nope"})
    with pytest.raises(AssertionError):
        assert_same_shape({"x": [{"a": "s"}]}, {"x": [{"a": 2}]})
