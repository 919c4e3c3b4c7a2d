"""Headers, both authentication modes, and the organization check — on MockTransport."""

from __future__ import annotations

import asyncio
import base64

import pytest

import polyctl
from polyctl.api import (
    ApiSettings,
    ConfigurationError,
    NoCredentialsError,
    OrganizationMismatchError,
    PolytomicClient,
    UnauthorizedError,
)

from .conftest import BASE_URL, Reply, Router, Script, ok

pytestmark = pytest.mark.anyio

ORG = "7c1d0e52-7a43-4b4e-a0c5-3a1f2f6d9b10"
OTHER_ORG = "11111111-2222-3333-4444-555555555555"


def decode_basic(header: str) -> str:
    scheme, _, token = header.partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(token).decode()


async def test_every_request_carries_version_user_agent_and_bearer_key(make_client):
    script = Script(ok({"id": "u1", "organization_id": ORG}))
    async with make_client(script) as client:
        me = await client.for_organization(None).me()
    assert me == {"id": "u1", "organization_id": ORG}
    request = script.requests[0]
    assert str(request.url) == f"{BASE_URL}/api/me"
    assert request.headers["X-Polytomic-Version"] == "2025-09-18"
    assert request.headers["User-Agent"] == f"polyctl/{polyctl.__version__}"
    assert request.headers["Authorization"] == "Bearer test-api-key"
    assert "Idempotency-Key" not in request.headers


async def test_base_url_path_prefix_is_kept(make_client):
    script = Script(ok([]))
    settings = ApiSettings(base_url="https://self.hosted/prefix/", api_key="k")
    async with make_client(script, settings=settings) as client:
        await client.for_organization(None).list_connections()
    assert str(script.requests[0].url) == "https://self.hosted/prefix/api/connections"


async def test_api_key_wins_over_partner_and_deployment_keys(make_client):
    script = Script(ok([]))
    settings = ApiSettings(base_url=BASE_URL, api_key="api", partner_key="partner", deployment_key="dep")
    async with make_client(script, settings=settings) as client:
        await client.for_organization(None).list_connections()
    assert script.requests[0].headers["Authorization"] == "Bearer api"


@pytest.mark.parametrize(
    ("partner", "deployment", "expected_key"),
    [("partner-key", None, "partner-key"), (None, "dep-key", "dep-key"), ("partner-key", "dep-key", "partner-key")],
)
async def test_partner_or_deployment_key_uses_basic_org_and_key(make_client, partner, deployment, expected_key):
    script = Script(ok([]))
    settings = ApiSettings(base_url=BASE_URL, partner_key=partner, deployment_key=deployment)
    async with make_client(script, settings=settings) as client:
        await client.for_organization(ORG).list_connections()
    assert decode_basic(script.requests[0].headers["Authorization"]) == f"{ORG}:{expected_key}"


async def test_basic_auth_trims_both_parts(make_client):
    script = Script(ok([]))
    settings = ApiSettings(base_url=BASE_URL, partner_key="  pk \n")
    async with make_client(script, settings=settings) as client:
        await client.for_organization(f"  {ORG} ").list_connections()
    header = script.requests[0].headers["Authorization"]
    assert header == "Basic " + base64.b64encode(f"{ORG}:pk".encode()).decode()


async def test_partner_key_without_org_is_bearer_for_partner_calls_and_refused_for_org_calls(make_client):
    router = Router({("GET", "/api/me"): ok({"is_partner": True}), ("GET", "/api/connection_types"): ok([])})
    settings = ApiSettings(base_url=BASE_URL, partner_key="pk")
    async with make_client(router, settings=settings) as client:
        org = client.for_organization(None)
        assert (await org.me()) == {"is_partner": True}
        assert (await org.list_connection_types()) == []  # the catalogue is not org data
        assert [r.headers["Authorization"] for r in router.requests] == ["Bearer pk", "Bearer pk"]
        for call in (org.list_connections(), org.create_connection(name="n", type="api", configuration={})):
            with pytest.raises(ConfigurationError) as info:
                await call
    message = str(info.value)
    assert "POLYTOMIC_PARTNER_KEY" in message and "organization" in message
    assert "pk" not in message.replace("POLYTOMIC_PARTNER_KEY", "")
    assert len(router.requests) == 2  # refused before sending


def test_no_credentials_names_the_variables_and_the_sandbox():
    with pytest.raises(NoCredentialsError) as info:
        PolytomicClient(ApiSettings.from_env({}))
    assert str(NoCredentialsError()) == str(info.value)  # callers may raise it bare
    message = str(info.value)
    for name in ("POLYTOMIC_API_KEY", "POLYTOMIC_PARTNER_KEY", "POLYTOMIC_DEPLOYMENT_KEY", "--sandbox"):
        assert name in message


async def test_api_key_with_matching_org_is_checked_once(make_client):
    router = Router({("GET", "/api/me"): ok({"organization_id": ORG.upper()}), ("GET", "/api/connections"): ok([])})
    async with make_client(router) as client:
        org = client.for_organization(ORG)
        await org.verify_organization()
        await org.verify_organization()
        await asyncio.gather(*(org.list_connections() for _ in range(5)))
        await client.for_organization(ORG).list_connections()  # a second OrgClient shares the cache
    assert router.paths().count("GET /api/me") == 1
    assert router.paths().count("GET /api/connections") == 6


async def test_api_key_of_another_org_is_refused_before_any_org_call(make_client):
    router = Router({("GET", "/api/me"): ok({"organization_id": OTHER_ORG}), ("POST", "/api/connections"): ok({})})
    async with make_client(router) as client:
        org = client.for_organization(ORG)
        with pytest.raises(OrganizationMismatchError) as info:
            await org.verify_organization()
        with pytest.raises(OrganizationMismatchError):
            await org.create_connection(name="n", type="api", configuration={})
    assert OTHER_ORG in str(info.value) and ORG in str(info.value)
    assert "POLYTOMIC_API_KEY" in str(info.value)
    assert router.paths() == ["GET /api/me"]


async def test_verification_is_not_needed_without_org_or_with_partner_key(make_client):
    script = Script(ok([]))
    async with make_client(script) as client:
        await client.for_organization(None).verify_organization()
    partner = ApiSettings(base_url=BASE_URL, partner_key="pk")
    async with make_client(script, settings=partner) as client:
        await client.for_organization(ORG).verify_organization()
    assert script.requests == []


async def test_unauthorized_names_the_variable_that_supplied_the_key(make_client):
    script = Script(Reply(401, {"status": 401, "message": "invalid or unknown API key"}))
    settings = ApiSettings(base_url=BASE_URL, deployment_key="dk")
    async with make_client(script, settings=settings) as client:
        with pytest.raises(UnauthorizedError) as info:
            await client.for_organization(ORG).list_connections()
    assert "check POLYTOMIC_DEPLOYMENT_KEY" in str(info.value)
    assert "invalid or unknown API key" in str(info.value)
    assert info.value.status == 401


async def test_client_builds_one_pool_with_tls_verification():
    client = PolytomicClient(ApiSettings(api_key="k"), max_concurrency=7)
    try:
        pool = client._http._transport._pool  # the real transport: check limits and TLS
        assert pool._max_connections >= 7
        assert pool._ssl_context.verify_mode.name == "CERT_REQUIRED"
        assert client._http.timeout.read == 30.0
    finally:
        await client.aclose()
    assert "k'" not in repr(client)


def test_max_concurrency_must_be_positive():
    with pytest.raises(ValueError):
        PolytomicClient(ApiSettings(api_key="k"), max_concurrency=0)


async def test_org_client_repr_hides_the_header(make_client):
    async with make_client(Script()) as client:
        text = repr(client.for_organization(ORG))
    assert "test-api-key" not in text and ORG in text
