"""The client against the real sandbox over loopback HTTP: auth, CRUD, errors, faults."""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from pathlib import Path

import httpx
import pytest

from polyctl.api import (
    ApiSettings,
    ConfigurationError,
    ConnectionInUseError,
    Dependent,
    NotFoundError,
    OrganizationMismatchError,
    PolytomicClient,
    RetryPolicy,
    UnauthorizedError,
    ValidationError,
    is_masked,
)
from polyctl.sandbox import SandboxConfig, start_sandbox

pytestmark = pytest.mark.anyio

CONNECTION_TYPES = Path(__file__).resolve().parents[3] / "shared" / "contract" / "connection-types"
SECRET = "s3cr3t-header-value"
# Quick retries: the sandbox's whole-second Retry-After is capped to max_delay here.
FAST = RetryPolicy(max_attempts=12, base_delay=0.01, max_delay=0.05, max_total=30)


def api_config(url: str = "https://example.com", secret: str = SECRET, accept: bool = True) -> dict:
    config = {"url": url, "auth": {"header": {"name": "Authorization", "value": secret}}}
    if accept:
        config["headers"] = [{"name": "Accept", "value": "application/json"}]
    return config


@pytest.fixture
def sandbox(tmp_path):
    types_dir = CONNECTION_TYPES if CONNECTION_TYPES.is_dir() else None
    running = start_sandbox(
        SandboxConfig(port=0, db_path=tmp_path / "s.db", connection_types_dir=types_dir, seed=7, quiet=True)
    )
    try:
        yield running
    finally:
        running.stop()


def client_for(sandbox, *, retry: RetryPolicy = FAST, **settings_kw) -> PolytomicClient:
    settings_kw.setdefault("api_key", sandbox.api_key)
    return PolytomicClient(ApiSettings(base_url=sandbox.url, **settings_kw), retry=retry)


def admin(sandbox) -> httpx.AsyncClient:
    """A raw client for building dependents the polyctl client has no calls for."""
    return httpx.AsyncClient(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.api_key}"})


async def post(raw: httpx.AsyncClient, path: str, body: dict) -> dict:
    response = await raw.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_crud_round_trip(sandbox):
    async with client_for(sandbox) as client:
        org = client.for_organization(None)
        me = await org.me()
        assert me["organization_id"] == sandbox.organization_id

        created = await org.create_connection(name="Example", type="api", configuration=api_config())
        cid = created["id"]
        assert created["name"] == "Example" and created["type"]["id"] == "api"

        fetched = await org.get_connection(cid)
        assert fetched["configuration"]["url"] == "https://example.com"
        assert [c["id"] for c in await org.list_connections()] == [cid]

        # PUT replaces the configuration wholly: the omitted headers are gone.
        updated = await org.update_connection(
            cid, name="Renamed", type="api", configuration=api_config("https://example.org", accept=False)
        )
        assert updated["name"] == "Renamed"
        after = await org.get_connection(cid)
        assert after["configuration"]["url"] == "https://example.org"
        assert not after["configuration"].get("headers")

        await org.delete_connection(cid, force=False)
        with pytest.raises(NotFoundError):
            await org.get_connection(cid)
        with pytest.raises(NotFoundError):
            await org.delete_connection(cid, force=False)
        assert await org.list_connections() == []


async def test_secrets_come_back_masked_everywhere(sandbox):
    async with client_for(sandbox) as client:
        org = client.for_organization(None)
        created = await org.create_connection(name="Masked", type="api", configuration=api_config())
        listed = (await org.list_connections())[0]
        fetched = await org.get_connection(created["id"])
        for view in (created, listed, fetched):
            value = view["configuration"].get("auth", {}).get("header", {}).get("value")
            assert value is None or is_masked(value)  # masked, or absent: never the secret
            assert SECRET not in repr(view)


async def test_connection_types_list_and_schema(sandbox):
    async with client_for(sandbox) as client:
        org = client.for_organization(None)
        types = await org.list_connection_types()
        assert "api" in {t["id"] for t in types}
        schema = await org.get_connection_type_schema("api")
        assert schema["type"] == "object" and "url" in schema["properties"]
        with pytest.raises(NotFoundError):
            await org.get_connection_type_schema("no-such-type")


async def test_partner_key_acts_on_an_organization_with_basic_auth(sandbox):
    other_org = str(uuid.uuid4())
    async with client_for(sandbox, api_key=None, partner_key=sandbox.partner_key) as partner:
        me = await partner.for_organization(None).me()
        assert me["is_partner"] is True
        with pytest.raises(ConfigurationError):
            await partner.for_organization(None).list_connections()

        org = partner.for_organization(other_org)
        created = await org.create_connection(name="Partner made", type="api", configuration=api_config())
        assert created["organization_id"] == other_org
        assert [c["id"] for c in await org.list_connections()] == [created["id"]]
        assert (await org.me())["organization_id"] == other_org

    async with client_for(sandbox) as own:  # the API key's organization does not see it
        assert await own.for_organization(None).list_connections() == []


async def test_api_key_with_explicit_org_is_verified(sandbox):
    async with client_for(sandbox) as client:
        await client.for_organization(sandbox.organization_id).verify_organization()
        assert await client.for_organization(sandbox.organization_id).list_connections() == []
        with pytest.raises(OrganizationMismatchError):
            await client.for_organization(str(uuid.uuid4())).list_connections()


async def test_bad_key_is_unauthorized_with_a_hint(sandbox):
    async with client_for(sandbox, api_key="not-a-real-key") as client:
        with pytest.raises(UnauthorizedError) as info:
            await client.for_organization(None).list_connections()
    assert "POLYTOMIC_API_KEY" in str(info.value)
    assert "not-a-real-key" not in str(info.value)


async def test_invalid_configuration_is_a_validation_error(sandbox):
    async with client_for(sandbox) as client:
        with pytest.raises(ValidationError) as info:
            await client.for_organization(None).create_connection(
                name="Broken", type="api", configuration={"url": 42, "auth": {"header": {"value": SECRET}}}
            )
    assert info.value.status in (400, 422)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


async def test_connection_in_use_names_dependents_and_force_cascades(sandbox):
    async with client_for(sandbox) as client, admin(sandbox) as raw:
        org = client.for_organization(None)
        source = await org.create_connection(name="Source", type="api", configuration=api_config())
        target = await org.create_connection(name="Target", type="api", configuration=api_config())
        model = await post(raw, "/api/models", {"name": "Users", "connection_id": source["id"]})
        sync = await post(raw, "/api/syncs", {
            "name": "Users out", "target": {"connection_id": target["id"]}, "model_ids": [model["id"]],
        })
        bulk = await post(raw, "/api/bulk/syncs", {
            "name": "Mirror", "source_connection_id": source["id"], "destination_connection_id": target["id"],
        })

        with pytest.raises(ConnectionInUseError) as info:
            await org.delete_connection(source["id"], force=False)
        expected = [
            Dependent("model", "Users", model["id"]),
            Dependent("sync", "Users out", sync["id"]),
            Dependent("bulk_sync", "Mirror", bulk["id"]),
        ]
        assert info.value.used_by == expected
        assert 'model "Users"' in str(info.value)
        # The client's own prediction agrees with the server's list.
        assert await org.find_dependents(source["id"]) == expected

        await org.delete_connection(source["id"], force=True)
        assert await org.list_models() == []
        assert await org.list_bulk_syncs() == []
        assert await org.list_syncs() == []
        assert [c["id"] for c in await org.list_connections()] == [target["id"]]


class CountingTransport(httpx.AsyncBaseTransport):
    """Real HTTP, with a client-side count of requests by path (the sandbox's own stats
    are recorded after the answer is sent, so reading them at once would race)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.paths: collections.Counter[str] = collections.Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths[request.url.path] += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_syncs_are_read_across_pages(sandbox):
    transport = CountingTransport()
    settings = ApiSettings(base_url=sandbox.url, api_key=sandbox.api_key)
    async with PolytomicClient(settings, retry=FAST, transport=transport) as client, admin(sandbox) as raw:
        org = client.for_organization(None)
        target = await org.create_connection(name="Target", type="api", configuration=api_config())
        made = [
            await post(raw, "/api/syncs", {"name": f"sync {i:03d}", "target": {"connection_id": target["id"]}})
            for i in range(120)
        ]
        syncs = await org.list_syncs()
    assert [s["id"] for s in syncs] == [s["id"] for s in made]
    assert transport.paths["/api/syncs"] == 3  # 50 + 50 + 20
    assert {s["target_connection_id"] for s in syncs} == {target["id"]}


async def test_idempotency_key_replays_and_refuses_a_different_body(sandbox):
    async with client_for(sandbox) as client:
        org = client.for_organization(None)
        first = await org.create_connection(name="Once", type="api", configuration=api_config(), idempotency_key="k-1")
        again = await org.create_connection(name="Once", type="api", configuration=api_config(), idempotency_key="k-1")
        assert again["id"] == first["id"]
        with pytest.raises(ValidationError):
            await org.create_connection(name="Other", type="api", configuration=api_config(), idempotency_key="k-1")
        assert len(await org.list_connections()) == 1


async def test_faults_are_retried_to_success_without_duplicates(sandbox):
    retries: collections.Counter[str] = collections.Counter()

    def on_retry(attempt, reason, delay):
        retries[reason.split(": ", 1)[1]] += 1

    sandbox.set_faults(error_rate=0.25, throttle_rate=0.15, drop_rate=0.2, retry_after=0.01, seed=3)
    async with PolytomicClient(
        ApiSettings(base_url=sandbox.url, api_key=sandbox.api_key), retry=FAST, on_retry=on_retry
    ) as client:
        org = client.for_organization(None)
        ids = []
        for i in range(15):  # sequential, so the seeded faults are the same every run
            created = await org.create_connection(name=f"conn {i}", type="api", configuration=api_config())
            ids.append(created["id"])
        for cid in ids[:5]:
            await org.update_connection(cid, name="updated", type="api", configuration=api_config())
        for cid in ids[5:10]:
            await org.delete_connection(cid, force=False)
        listed = await org.list_connections()
        sandbox.set_faults(error_rate=0, throttle_rate=0, drop_rate=0)
        clean = await org.list_connections()
    faults = sandbox.stats()["faults"]
    assert sum(retries.values()) >= 5 and faults  # the faults really happened and were retried
    assert any("HTTP 429" in r for r in retries) and any("HTTP 5" in r for r in retries)
    assert {c["id"] for c in clean} == set(ids[:5]) | set(ids[10:])  # no duplicate, nothing lost
    assert {c["id"] for c in listed} == {c["id"] for c in clean}
    assert sum(c["name"] == "updated" for c in clean) == 5


async def test_a_burst_against_max_rps_backs_off_together(sandbox):
    rate, count = 40, 60
    sandbox.set_faults(max_rps=rate)
    throttles: list[str] = []
    settings = ApiSettings(base_url=sandbox.url, api_key=sandbox.api_key)
    started = time.monotonic()
    async with PolytomicClient(
        settings, retry=RetryPolicy(max_attempts=10), on_retry=lambda n, reason, d: throttles.append(reason)
    ) as client:
        org = client.for_organization(None)
        created = await asyncio.gather(*(
            org.create_connection(name=f"burst {i}", type="api", configuration=api_config()) for i in range(count)
        ))
        elapsed = time.monotonic() - started
        sandbox.set_faults(max_rps=0)
        listed = await org.list_connections()
    throttled = sum("HTTP 429" in reason for reason in throttles)
    assert throttled == len(throttles) > 0  # nothing but the rate limit was retried
    assert len({c["id"] for c in created}) == count == len(listed)
    # One bucket of `rate` passes at once; the rest waits for the whole-second Retry-After
    # the sandbox sends, once for everybody thanks to the shared gate. How long that takes
    # is a figure for bench/apply_bench.py (scenario 5), not an assertion on a busy
    # machine; that the client waited rather than gave up is what passes here.
    assert elapsed >= 1.0, elapsed
    # Only requests already in flight when the bucket ran dry can be throttled (at most
    # the 10 slots); every later one waits behind the gate. Without it: 15 or more.
    assert throttled <= 10
