"""Retries: what is retried, how long it waits, when it stops, and idempotency keys."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from polyctl.api import (
    NetworkError,
    NotFoundError,
    PolytomicError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    UnauthorizedError,
    ValidationError,
)
from polyctl.api._auth import resolve_credential
from polyctl.api._retry import response_delay

from .conftest import Reply, Script, ok

pytestmark = pytest.mark.anyio

CONNECTION = {"id": "c-1", "name": "Example"}


def create(org, **kwargs):
    return org.create_connection(name="Example", type="api", configuration={"url": "https://x"}, **kwargs)


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
async def test_retryable_status_is_retried_until_success(make_client, clock, status):
    script = Script(Reply(status, {"message": "try later"}), Reply(status), ok(CONNECTION))
    async with make_client(script) as client:
        assert await create(client.for_organization(None)) == CONNECTION
    assert len(script.requests) == 3
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize(
    "error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout]
)
async def test_network_errors_are_retried_for_keyed_requests(make_client, error):
    script = Script(Reply(error=error), ok(CONNECTION))
    async with make_client(script) as client:
        assert await create(client.for_organization(None)) == CONNECTION
    assert len(script.requests) == 2


@pytest.mark.parametrize("error", [httpx.RemoteProtocolError, httpx.ReadTimeout])
async def test_maybe_delivered_failures_are_not_repeated_without_a_key(make_client, error):
    # Only reachable through the low-level send: every public mutation carries a key.
    script = Script(Reply(error=error), ok({}))
    async with make_client(script) as client:
        credential = resolve_credential(client.settings, None)
        with pytest.raises(NetworkError) as info:
            await client.send("POST", "/api/connections", credential=credential, json={})
    assert len(script.requests) == 1
    assert isinstance(info.value.__cause__, error)


async def test_connect_errors_are_retried_even_without_a_key(make_client):
    script = Script(Reply(error=httpx.ConnectError), ok({}))
    async with make_client(script) as client:
        credential = resolve_credential(client.settings, None)
        await client.send("POST", "/api/connections", credential=credential, json={})
    assert len(script.requests) == 2


async def test_500_is_retried_only_when_repeating_is_harmless(make_client):
    script = Script(Reply(500), Reply(500), ok({}), Reply(500), ok([]))
    async with make_client(script) as client:
        credential = resolve_credential(client.settings, None)
        with pytest.raises(ServerError):
            await client.send("POST", "/api/connections", credential=credential, json={})
        assert len(script.requests) == 1
        await create(client.for_organization(None))  # keyed: retried
        assert len(script.requests) == 3
        await client.for_organization(None).list_connections()  # a GET: retried
        assert len(script.requests) == 5


async def test_409_is_retried_when_repeating_is_harmless(make_client):
    """A 409 is what a server answers while a request with the same Idempotency-Key is
    still being processed: the keyed retry then gets the first request's answer."""
    script = Script(Reply(409), ok(CONNECTION), Reply(409))
    async with make_client(script) as client:
        await create(client.for_organization(None))  # keyed: retried
        assert len(script.requests) == 2
        assert script.requests[0].headers["Idempotency-Key"] == \
            script.requests[1].headers["Idempotency-Key"]
        credential = resolve_credential(client.settings, None)
        with pytest.raises(PolytomicError):  # no key: the conflict is final
            await client.send("POST", "/api/connections", credential=credential, json={})
        assert len(script.requests) == 3


@pytest.mark.parametrize(
    ("status", "cls"), [(400, ValidationError), (401, UnauthorizedError), (404, NotFoundError),
                        (422, ValidationError)]
)
async def test_client_errors_are_never_retried(make_client, clock, status, cls):
    script = Script(Reply(status, {"message": "no"}), ok(CONNECTION))
    async with make_client(script) as client:
        with pytest.raises(cls):
            await create(client.for_organization(None))
    assert len(script.requests) == 1 and clock.sleeps == []


async def test_a_final_non_retryable_answer_does_not_claim_retries(make_client):
    script = Script(Reply(503), Reply(422, {"message": "bad url"}))
    async with make_client(script) as client:
        with pytest.raises(ValidationError) as info:
            await create(client.for_organization(None))
    assert len(script.requests) == 2
    assert "gave up" not in str(info.value) and "bad url" in str(info.value)


async def test_retry_after_seconds_is_waited_exactly(make_client, clock):
    script = Script(Reply(429, headers={"Retry-After": "7"}), Reply(503, headers={"Retry-After": "2.5"}), ok([]))
    async with make_client(script) as client:
        await client.for_organization(None).list_connections()
    assert clock.sleeps == [7.0, 2.5]


async def test_retry_after_http_date(make_client, clock):
    when = email.utils.formatdate(clock.time() + 12, usegmt=True)
    script = Script(Reply(503, headers={"Retry-After": when}), ok([]))
    async with make_client(script) as client:
        await client.for_organization(None).list_connections()
    assert clock.sleeps == [pytest.approx(12, abs=1)]


async def test_x_ratelimit_reset_waits_until_reset_with_positive_jitter(make_client, clock):
    reset = str(int(clock.time()) + 10)
    script = Script(*[Reply(429, headers={"X-RateLimit-Reset": reset})] * 4, ok([]))
    async with make_client(script) as client:
        await client.for_organization(None).list_connections()
    first = clock.sleeps[0]
    assert 10 * 1.0 <= first <= 10 * 1.2


async def test_retry_after_is_capped_and_zero_falls_back_to_backoff(make_client, clock):
    script = Script(Reply(429, headers={"Retry-After": "3600"}), Reply(429, headers={"Retry-After": "0"}), ok([]))
    async with make_client(script) as client:
        await client.for_organization(None).list_connections()
    assert clock.sleeps[0] == 60.0
    assert 2 * 0.9 <= clock.sleeps[1] <= 2 * 1.1  # second retry: base × 2^1 × jitter


async def test_exponential_backoff_with_jitter_and_cap(make_client, clock):
    policy = RetryPolicy(max_attempts=8, base_delay=1.0, max_delay=10.0, max_total=1000)
    script = Script(*[Reply(502)] * 7, ok([]))
    async with make_client(script, retry=policy) as client:
        await client.for_organization(None).list_connections()
    expected = [1, 2, 4, 8, 10, 10, 10]
    assert len(clock.sleeps) == 7
    for slept, nominal in zip(clock.sleeps, expected):
        assert nominal * 0.9 <= slept <= nominal * 1.1


def test_delay_rules_in_order():
    policy = RetryPolicy()
    fixed = lambda low, high: high  # noqa: E731 - the top of each jitter range
    headers = httpx.Headers({"Retry-After": "3", "X-RateLimit-Reset": "1010"})
    assert response_delay(policy, 0, headers, now=1000.0, rand=fixed) == 3.0
    assert response_delay(policy, 0, httpx.Headers({"X-RateLimit-Reset": "1010"}), 1000.0, fixed) == 12.0
    assert response_delay(policy, 0, httpx.Headers({"X-RateLimit-Reset": "990"}), 1000.0, fixed) == pytest.approx(1.1)
    assert response_delay(policy, 2, httpx.Headers({"Retry-After": "soon"}), 1000.0, fixed) == pytest.approx(4.4)


async def test_retries_stop_after_max_attempts(make_client, clock):
    script = Script(Reply(503, {"message": "down"}))
    async with make_client(script, retry=RetryPolicy(max_attempts=4)) as client:
        with pytest.raises(ServerError) as info:
            await client.for_organization(None).list_connections()
    assert len(script.requests) == 4 and len(clock.sleeps) == 3
    assert "gave up after 4 attempts" in str(info.value)


async def test_rate_limited_after_every_retry(make_client):
    script = Script(Reply(429, headers={"Retry-After": "1"}))
    async with make_client(script, retry=RetryPolicy(max_attempts=3)) as client:
        with pytest.raises(RateLimitedError):
            await client.for_organization(None).list_connections()
    assert len(script.requests) == 3


async def test_retries_stop_at_the_total_time_budget(make_client, clock):
    # Waits of ~1, 2, 4 fit in 10 s; the next (~8) would end past it, so it is not made.
    policy = RetryPolicy(max_attempts=50, base_delay=1.0, max_total=10.0)
    script = Script(Reply(502))
    async with make_client(script, retry=policy) as client:
        with pytest.raises(ServerError):
            await client.for_organization(None).list_connections()
    assert len(script.requests) == 4
    assert sum(clock.sleeps) <= 10.0


async def test_network_error_after_every_retry_wraps_the_cause(make_client):
    script = Script(Reply(error=httpx.ConnectError))
    async with make_client(script, retry=RetryPolicy(max_attempts=2)) as client:
        with pytest.raises(NetworkError) as info:
            await client.for_organization(None).list_connections()
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert "could not connect to api.test" in str(info.value)
    assert len(script.requests) == 2


async def test_one_generated_key_is_kept_across_retries(make_client):
    script = Script(Reply(503), Reply(error=httpx.RemoteProtocolError), ok(CONNECTION), Reply(429), ok(CONNECTION))
    async with make_client(script) as client:
        org = client.for_organization(None)
        await create(org)
        await org.update_connection("c-1", name="Example", type="api", configuration={})
    keys = [r.headers.get("Idempotency-Key") for r in script.requests]
    assert all(keys)
    assert keys[0] == keys[1] == keys[2]
    assert keys[3] == keys[4] != keys[0]


async def test_caller_supplied_key_is_used_on_every_mutation(make_client):
    script = Script(Reply(502), ok(CONNECTION))
    async with make_client(script) as client:
        org = client.for_organization(None)
        await create(org, idempotency_key="key-create")
        await org.update_connection("c-1", name="n", type="api", configuration={}, idempotency_key="key-update")
        await org.delete_connection("c-1", force=False, idempotency_key="key-delete")
    keys = [r.headers["Idempotency-Key"] for r in script.requests]
    assert keys == ["key-create", "key-create", "key-update", "key-delete"]


async def test_reads_carry_no_idempotency_key(make_client):
    script = Script(ok([]))
    async with make_client(script) as client:
        await client.for_organization(None).list_connections()
    assert "Idempotency-Key" not in script.requests[0].headers


async def test_on_retry_reports_attempt_reason_and_delay(make_client):
    events = []
    script = Script(Reply(429, headers={"Retry-After": "2"}), Reply(error=httpx.ConnectError), ok(CONNECTION))
    async with make_client(script, on_retry=lambda *event: events.append(event)) as client:
        await create(client.for_organization(None))
    assert [(attempt, delay) for attempt, _, delay in events][0] == (1, 2.0)
    assert events[1][0] == 2
    assert "POST /api/connections" in events[0][1] and "429" in events[0][1]
    assert "ConnectError" in events[1][1]
