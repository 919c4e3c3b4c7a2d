"""Fault injection: latency, 5xx, 429, dropped connections, a real rate limit, admin API."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest


def _statuses(client: Any, n: int) -> list[int | str]:
    out: list[int | str] = []
    for _ in range(n):
        try:
            out.append(client.get("/api/me").status_code)
        except httpx.TransportError:
            out.append("dropped")
    return out


def test_latency_is_added_to_api_requests_only(sandbox: Any, client: Any) -> None:
    # a wide gap: on a loaded 2-core machine a plain request can take a few hundred ms
    sandbox.set_faults(latency_ms=3000)
    start = time.monotonic()
    assert client.get("/api/me").status_code == 200
    assert time.monotonic() - start >= 3.0
    start = time.monotonic()
    assert httpx.get(f"{sandbox.url}/_sandbox/stats").status_code == 200
    assert time.monotonic() - start < 2.0


def test_error_rate_answers_5xx_with_an_error_body(make_sandbox: Any, make_client: Any) -> None:
    sandbox = make_sandbox(error_rate=1.0, seed=3)
    client = make_client(sandbox)
    responses = [client.get("/api/connections") for _ in range(12)]
    assert {r.status_code for r in responses} <= {500, 502, 503}
    assert len({r.status_code for r in responses}) > 1  # all three kinds occur
    assert all(r.json()["status"] == r.status_code and r.json()["message"] for r in responses)
    assert httpx.get(f"{sandbox.url}/_sandbox/health").status_code == 200  # admin is never faulted


def test_throttle_rate_answers_429_with_retry_after(sandbox: Any, client: Any) -> None:
    sandbox.set_faults(throttle_rate=1.0)
    response = client.get("/api/me")
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    sandbox.set_faults(retry_after=0.25)
    assert client.get("/api/me").headers["retry-after"] == "0.25"
    sandbox.set_faults(throttle_rate=0)
    assert client.get("/api/me").status_code == 200


def test_faults_are_reproducible_with_a_seed(make_sandbox: Any, make_client: Any, tmp_path: Any) -> None:
    knobs = {"error_rate": 0.3, "throttle_rate": 0.2, "drop_rate": 0.2, "seed": 42}
    runs = []
    for name in ("a", "b"):
        sandbox = make_sandbox(db_path=tmp_path / f"{name}.db", **knobs)
        runs.append(_statuses(make_client(sandbox), 40))
    assert runs[0] == runs[1]
    assert {200, 429, "dropped"} <= set(runs[0]) and set(runs[0]) & {500, 502, 503}


def test_dropped_connections_half_before_and_half_after_the_work(sandbox: Any, client: Any) -> None:
    sandbox.set_faults(drop_rate=1.0, seed=11)
    for i in range(20):
        with pytest.raises(httpx.TransportError):
            client.post("/api/connections", json={"name": f"d{i}", "type": "api", "configuration": {"url": "u"}})
    faults = sandbox.stats()["faults"]
    assert faults["drop_before"] + faults["drop_after"] == 20 and faults["drop_before"] and faults["drop_after"]
    sandbox.set_faults(drop_rate=0)
    committed = client.get("/api/connections").json()["data"]
    assert len(committed) == faults["drop_after"]  # dropped after committing: the work is done


def test_idempotency_key_makes_a_retry_after_a_late_drop_safe(sandbox: Any, client: Any) -> None:
    body = {"name": "once", "type": "api", "configuration": {"url": "u"}}
    headers = {"Idempotency-Key": "retry-me"}
    sandbox.set_faults(drop_rate=1.0, seed=0)
    while sandbox.stats()["faults"].get("drop_after", 0) == 0:
        with pytest.raises(httpx.TransportError):
            client.post("/api/connections", json=body, headers=headers)
    sandbox.set_faults(drop_rate=0)
    retried = client.post("/api/connections", json=body, headers=headers)
    assert retried.status_code == 200 and retried.headers["idempotent-replayed"] == "true"
    assert [c["id"] for c in client.get("/api/connections").json()["data"]] == [retried.json()["data"]["id"]]


def test_max_rps_is_a_token_bucket_answering_429(sandbox: Any, client: Any) -> None:
    sandbox.set_faults(max_rps=5)
    responses = [client.get("/api/me") for _ in range(30)]
    codes = [r.status_code for r in responses]
    assert codes[:5] == [200] * 5 and 429 in codes
    limited = next(r for r in responses if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert int(limited.headers["x-ratelimit-reset"]) >= int(time.time())
    time.sleep(0.25)  # one token refills every 0.2 s
    assert client.get("/api/me").status_code == 200
    sandbox.set_faults(max_rps=None)
    assert {client.get("/api/me").status_code for _ in range(10)} == {200}


def test_admin_api_sets_faults_and_reads_stats(sandbox: Any, client: Any) -> None:
    admin = httpx.Client(base_url=f"{sandbox.url}/_sandbox")
    assert admin.post("/faults", json={"error_rate": 1}).json()["data"]["error_rate"] == 1.0
    assert client.get("/api/me").status_code in (500, 502, 503)
    assert admin.post("/faults", json={"error_rate": 0, "latency_ms": 0}).status_code == 200
    assert admin.post("/faults", json={"error_rate": 2}).status_code == 400
    assert admin.post("/faults", json={"nonsense": 1}).status_code == 400
    assert admin.post("/reset-stats").status_code == 200
    client.get("/api/me")
    client.get(f"/api/connections/{'0' * 8}")
    stats = admin.get("/stats").json()["data"]
    assert stats["total_requests"] == 2
    assert stats["by_route"] == {"GET /api/me": {"200": 1}, "GET /api/connections/{id}": {"404": 1}}
    assert stats == sandbox.stats()
    with pytest.raises(ValueError):
        sandbox.set_faults(drop_rate=-1)
    admin.close()
