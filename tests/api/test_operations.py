"""Each operation's request (method, path, query, body) and how its answer is read."""

from __future__ import annotations

import json

import pytest

from polyctl.api import Dependent, NotFoundError, PolytomicError, RetryPolicy

from .conftest import Reply, Router, Script, ok

pytestmark = pytest.mark.anyio

CONFIG = {"url": "https://example.com", "auth": {"header": {"name": "Authorization", "value": "tok"}}}


async def test_list_and_get_connections_return_data_with_unknown_fields(make_client):
    item = {"id": "c-1", "name": "A", "type": {"id": "api"}, "brand_new_field": {"x": 1}}
    router = Router({
        ("GET", "/api/connections"): ok([item], links={"next": None}),
        ("GET", "/api/connections/c-1"): ok(item),
    })
    async with make_client(router) as client:
        org = client.for_organization(None)
        assert await org.list_connections() == [item]
        assert await org.get_connection("c-1") == item


async def test_list_with_null_data_is_empty(make_client):
    async with make_client(Script(ok(None))) as client:
        assert await client.for_organization(None).list_connections() == []


async def test_create_posts_the_full_body(make_client):
    script = Script(ok({"id": "c-1", "configuration": {"url": "https://example.com"}}))
    async with make_client(script) as client:
        created = await client.for_organization(None).create_connection(
            name="Example", type="api", configuration=CONFIG, organization_id="org-1"
        )
    request = script.requests[0]
    assert (request.method, request.url.path) == ("POST", "/api/connections")
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "name": "Example", "type": "api", "configuration": CONFIG, "validate": False, "organization_id": "org-1",
    }
    assert created["id"] == "c-1"


async def test_update_is_a_put_of_the_whole_connection(make_client):
    script = Script(ok({"id": "c-1"}))
    async with make_client(script) as client:
        await client.for_organization(None).update_connection(
            "c-1", name="Renamed", type="api", configuration=CONFIG, validate=True
        )
    request = script.requests[0]
    assert (request.method, request.url.path) == ("PUT", "/api/connections/c-1")
    assert json.loads(request.content) == {"name": "Renamed", "type": "api", "configuration": CONFIG, "validate": True}


@pytest.mark.parametrize("force", [True, False])
async def test_delete_always_sends_force_explicitly(make_client, force):
    script = Script(Reply(200, body=""))
    async with make_client(script) as client:
        assert await client.for_organization(None).delete_connection("c-1", force=force) is None
    request = script.requests[0]
    assert request.method == "DELETE" and request.url.path == "/api/connections/c-1"
    assert request.url.params["force"] == ("true" if force else "false")
    assert request.content == b""


@pytest.mark.parametrize(
    "reply", [Reply(204), Reply(200), Reply(200, body=""), Reply(200, {"data": {"id": "c-1"}}), Reply(200, text="OK")]
)
async def test_delete_accepts_any_2xx_body(make_client, reply):
    async with make_client(Script(reply)) as client:
        await client.for_organization(None).delete_connection("c-1", force=True)


async def test_delete_of_a_missing_connection_is_not_found(make_client):
    script = Script(Reply(404, {"status": 404, "message": "connection not found"}))
    async with make_client(script, retry=RetryPolicy.none()) as client:
        with pytest.raises(NotFoundError):
            await client.for_organization(None).delete_connection("gone", force=False)


async def test_ids_cannot_change_the_path(make_client):
    script = Script(ok({}))
    async with make_client(script) as client:
        await client.for_organization(None).get_connection("../me?x=1")
    assert script.requests[0].url.raw_path == b"/api/connections/..%2Fme%3Fx%3D1"


async def test_connection_types_list_and_bare_schema(make_client):
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {}}
    router = Router({
        ("GET", "/api/connection_types"): ok([{"id": "api", "name": "HTTP API"}]),
        ("GET", "/api/connection_types/api"): Reply(200, schema),
        ("GET", "/api/connection_types/wrapped"): ok(schema),
    })
    async with make_client(router) as client:
        org = client.for_organization(None)
        assert await org.list_connection_types() == [{"id": "api", "name": "HTTP API"}]
        assert await org.get_connection_type_schema("api") == schema
        assert await org.get_connection_type_schema("wrapped") == schema


async def test_unexpected_shapes_are_clear_errors(make_client):
    async with make_client(Script(ok({"not": "a list"}))) as client:
        with pytest.raises(PolytomicError, match="expected a list of connections"):
            await client.for_organization(None).list_connections()
    async with make_client(Script(ok(["not", "a dict"]))) as client:
        with pytest.raises(PolytomicError, match="expected a connection object"):
            await client.for_organization(None).get_connection("c-1")


def paged(pages: dict[str | None, tuple[list, str | None]]):
    """A handler serving pages keyed by the page_token it receives."""

    def handler(request):
        token = request.url.params.get("page_token")
        items, next_token = pages[token]
        body = {"data": items}
        if next_token is not None:
            body["pagination"] = {"next_page_token": next_token}
        return Reply(200, body).build(request)

    return handler


@pytest.mark.parametrize(
    ("method", "path"), [("list_models", "/api/models"), ("list_syncs", "/api/syncs"), ("list_bulk_syncs", "/api/bulk/syncs")]
)
async def test_lists_follow_page_tokens_until_absent(make_client, method, path):
    pages = {None: ([{"id": 1}, {"id": 2}], "tok-A"), "tok-A": ([{"id": 3}], "tok/B=="), "tok/B==": ([{"id": 4}], "")}
    router = Router({("GET", path): paged(pages)})
    async with make_client(router) as client:
        items = await getattr(client.for_organization(None), method)()
    assert [i["id"] for i in items] == [1, 2, 3, 4]
    params = [dict(r.url.params) for r in router.requests]
    assert params == [{"limit": "50"}, {"limit": "50", "page_token": "tok-A"}, {"limit": "50", "page_token": "tok/B=="}]


async def test_a_repeated_page_token_stops_with_an_error(make_client):
    router = Router({("GET", "/api/syncs"): paged({None: ([1], "same"), "same": ([2], "same")})})
    async with make_client(router) as client:
        with pytest.raises(PolytomicError, match="repeated page token"):
            await client.for_organization(None).list_syncs()


async def test_find_dependents_reads_all_three_lists(make_client):
    cid = "conn-1"
    models = [
        {"id": "m-src", "name": "Source model", "connection_id": cid},
        {"id": "m-enr", "name": "Enriched", "connection_id": "other", "enricher": {"connection_id": cid}},
        {"id": "m-none", "name": "Unrelated", "connection_id": "other"},
    ]
    syncs = [
        {"id": "s-slim", "name": "Slim", "target_connection_id": cid, "model_ids": []},
        {"id": "s-full", "name": "Full", "target": {"connection_id": cid}},
        {"id": "s-sched", "name": "Scheduled", "target": {"connection_id": "x"}, "schedule": {"connection_id": cid}},
        {"id": "s-model", "name": "Via model", "target_connection_id": "x", "model_ids": ["m-none", "m-src"]},
        {"id": "s-none", "name": "Unrelated", "target_connection_id": "x", "model_ids": ["m-none"]},
    ]
    bulk = [
        {"id": "b-src", "name": "Bulk out", "source_connection_id": cid, "destination_connection_id": "x"},
        {"id": "b-dst", "name": "Bulk in", "source_connection_id": "x", "destination_connection_id": cid},
        {"id": "b-none", "name": "Unrelated", "source_connection_id": "x", "destination_connection_id": "y"},
    ]
    router = Router({
        ("GET", "/api/models"): paged({None: (models[:2], "p2"), "p2": (models[2:], None)}),
        ("GET", "/api/syncs"): ok(syncs),
        ("GET", "/api/bulk/syncs"): ok(bulk),
    })
    async with make_client(router) as client:
        found = await client.for_organization(None).find_dependents(cid)
    assert found == [
        Dependent("model", "Source model", "m-src"),
        Dependent("model", "Enriched", "m-enr"),
        Dependent("sync", "Slim", "s-slim"),
        Dependent("sync", "Full", "s-full"),
        Dependent("sync", "Scheduled", "s-sched"),
        Dependent("sync", "Via model", "s-model"),
        Dependent("bulk_sync", "Bulk out", "b-src"),
        Dependent("bulk_sync", "Bulk in", "b-dst"),
    ]


async def test_find_dependents_of_an_unused_connection_is_empty(make_client):
    router = Router({(m, p): ok([]) for m, p in [("GET", "/api/models"), ("GET", "/api/syncs"), ("GET", "/api/bulk/syncs")]})
    async with make_client(router) as client:
        assert await client.for_organization(None).find_dependents("c-1") == []
