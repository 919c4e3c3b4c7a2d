"""Models, syncs and bulk syncs: what makes a connection "in use", cascades, pagination."""

from __future__ import annotations

from typing import Any

import pytest


def _post(client: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.fixture
def world(client: Any, create_connection: Any) -> dict[str, Any]:
    """Two connections; `src` feeds a model, an enriched model, a sync and a bulk sync."""
    src, dst, other = (create_connection(n)["id"] for n in ("src", "dst", "other"))
    model = _post(client, "/api/models", {"name": "Contacts", "connection_id": src})
    enriched = _post(client, "/api/models", {"name": "Enriched", "connection_id": other, "enricher": {"connection_id": src}})
    sync_via_model = _post(client, "/api/syncs", {"name": "To dst", "target": {"connection_id": dst}, "model_ids": [model["id"]]})
    sync_into_src = _post(client, "/api/syncs", {"name": "Into src", "target_connection_id": src, "model_ids": []})
    bulk = _post(client, "/api/bulk/syncs", {"name": "Bulk", "source_connection_id": src, "destination_connection_id": dst})
    unrelated = _post(client, "/api/models", {"name": "Unrelated", "connection_id": other})
    return {
        "src": src, "dst": dst, "model": model, "enriched": enriched, "sync_via_model": sync_via_model,
        "sync_into_src": sync_into_src, "bulk": bulk, "unrelated": unrelated,
    }


def test_delete_in_use_is_422_with_used_by(client: Any, world: dict[str, Any]) -> None:
    for params in ({}, {"force": "false"}):
        response = client.delete(f"/api/connections/{world['src']}", params=params)
        assert response.status_code == 422
        body = response.json()
        assert (body["status"], body["message"], body["key"]) == (422, "connection in use", "connection_in_use")
        assert body["metadata"]["used_by"] == [
            {"type": "model", "name": "Contacts", "id": world["model"]["id"]},
            {"type": "model", "name": "Enriched", "id": world["enriched"]["id"]},
            {"type": "sync", "name": "To dst", "id": world["sync_via_model"]["id"]},
            {"type": "sync", "name": "Into src", "id": world["sync_into_src"]["id"]},
            {"type": "bulk_sync", "name": "Bulk", "id": world["bulk"]["id"]},
        ]
    assert client.get(f"/api/connections/{world['src']}").status_code == 200  # nothing deleted


def test_force_deletes_dependents_first(client: Any, world: dict[str, Any]) -> None:
    assert client.delete(f"/api/connections/{world['src']}", params={"force": "true"}).status_code == 200
    assert client.get(f"/api/connections/{world['src']}").status_code == 404
    gone = [("models", "model"), ("models", "enriched"), ("syncs", "sync_via_model"), ("syncs", "sync_into_src"), ("bulk/syncs", "bulk")]
    for base, name in gone:
        assert client.get(f"/api/{base}/{world[name]['id']}").status_code == 404, name
    assert client.get(f"/api/models/{world['unrelated']['id']}").status_code == 200
    # `dst` lost its bulk sync and sync with the cascade, so it is free now.
    assert client.delete(f"/api/connections/{world['dst']}").status_code == 200


def test_deleting_dependents_frees_the_connection(client: Any, world: dict[str, Any]) -> None:
    for base, name in [("syncs", "sync_via_model"), ("syncs", "sync_into_src"), ("bulk/syncs", "bulk"), ("models", "model"), ("models", "enriched")]:
        assert client.delete(f"/api/{base}/{world[name]['id']}").json() == ""
    assert client.delete(f"/api/connections/{world['src']}").status_code == 200


def test_schedule_connection_counts_as_a_dependency(client: Any, create_connection: Any) -> None:
    target, trigger = create_connection("t")["id"], create_connection("dbt")["id"]
    sync = _post(client, "/api/syncs", {"name": "s", "target": {"connection_id": target}, "schedule": {"frequency": "dbtcloud", "connection_id": trigger}})
    used_by = client.delete(f"/api/connections/{trigger}").json()["metadata"]["used_by"]
    assert used_by == [{"type": "sync", "name": "s", "id": sync["id"]}]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/models", {"name": "m"}, "connection_id is required"),
        ("/api/models", {"name": "m", "connection_id": "00000000-0000-0000-0000-000000000000"}, "not found"),
        ("/api/models", {"connection_id": "x"}, "name is required"),
        ("/api/syncs", {"name": "s", "model_ids": []}, "target.connection_id is required"),
        ("/api/bulk/syncs", {"name": "b", "source_connection_id": "nope"}, "not found"),
    ],
)
def test_bad_references_are_400(client: Any, path: str, body: dict, message: str) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 400 and message in response.json()["message"]


def test_sync_with_unknown_model_is_400(client: Any, create_connection: Any) -> None:
    target = create_connection("t")["id"]
    response = client.post("/api/syncs", json={"name": "s", "target": {"connection_id": target}, "model_ids": ["missing"]})
    assert response.status_code == 400 and "model" in response.json()["message"]


def _all_pages(client: Any, path: str, **params: Any) -> tuple[list[str], int]:
    ids, pages, token = [], 0, None
    while True:
        query = dict(params, **({"page_token": token} if token else {}))
        body = client.get(path, params=query).json()
        ids += [item["id"] for item in body["data"]]
        pages += 1
        token = body["pagination"].get("next_page_token")
        if not token:
            return ids, pages


@pytest.mark.parametrize("kind", ["models", "syncs", "bulk/syncs"])
def test_lists_are_paginated(client: Any, create_connection: Any, kind: str) -> None:
    conn = create_connection("c")["id"]
    bodies = {
        "models": {"connection_id": conn},
        "syncs": {"target": {"connection_id": conn}},
        "bulk/syncs": {"source_connection_id": conn, "destination_connection_id": conn},
    }
    created = [_post(client, f"/api/{kind}", {"name": f"n{i}", **bodies[kind]})["id"] for i in range(7)]
    assert _all_pages(client, f"/api/{kind}", limit=3) == (created, 3)
    first = client.get(f"/api/{kind}").json()
    assert [i["id"] for i in first["data"]] == created and first["pagination"] == {}
    assert client.get(f"/api/{kind}", params={"limit": 0}).status_code == 400
    assert client.get(f"/api/{kind}", params={"page_token": "garbage!"}).status_code == 400


def test_limit_defaults_to_and_is_capped_at_50(client: Any, sandbox: Any, create_connection: Any) -> None:
    conn = create_connection("c")["id"]
    for i in range(55):
        _post(client, "/api/models", {"name": f"m{i}", "connection_id": conn})
    for params in ({}, {"limit": 500}):
        body = client.get("/api/models", params=params).json()
        assert len(body["data"]) == 50 and body["pagination"]["next_page_token"]
    assert _all_pages(client, "/api/models")[1] == 2


def test_syncs_filter_by_target_and_name_it_in_list_items(client: Any, create_connection: Any) -> None:
    a, b = create_connection("a")["id"], create_connection("b")["id"]
    to_a = _post(client, "/api/syncs", {"name": "to a", "target": {"connection_id": a}, "active": True})
    _post(client, "/api/syncs", {"name": "to b", "target": {"connection_id": b}})
    items = client.get("/api/syncs", params={"target_connection_id": a}).json()["data"]
    assert [(s["id"], s["target_connection_id"]) for s in items] == [(to_a["id"], a)]
    assert [s["name"] for s in client.get("/api/syncs", params={"active": "true"}).json()["data"]] == ["to a"]


def test_get_and_delete_unknown_dependents_are_404(client: Any) -> None:
    for base in ("models", "syncs", "bulk/syncs"):
        assert client.get(f"/api/{base}/nope").status_code == 404
        assert client.delete(f"/api/{base}/nope").status_code == 404
