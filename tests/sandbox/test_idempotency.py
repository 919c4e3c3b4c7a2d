"""Idempotency-Key: the same request replays its first answer; a different one is a 422."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx


def _create(client: Any, key: str, name: str = "idem", **extra: Any) -> httpx.Response:
    body = {"name": name, "type": "api", "configuration": {"url": "https://example.com"}, **extra}
    return client.post("/api/connections", json=body, headers={"Idempotency-Key": key})


def test_same_key_same_request_replays_the_first_answer(client: Any) -> None:
    first = _create(client, "key-1")
    again = _create(client, "key-1")
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert len(client.get("/api/connections").json()["data"]) == 1


def test_same_key_different_request_is_422(client: Any) -> None:
    conn_id = _create(client, "key-2").json()["data"]["id"]
    for response in (
        _create(client, "key-2", name="other"),
        client.put(f"/api/connections/{conn_id}", json={"name": "x", "configuration": {"url": "u"}}, headers={"Idempotency-Key": "key-2"}),
    ):
        assert response.status_code == 422
        assert response.json()["message"] == "idempotency key reused with a different request"
    assert len(client.get("/api/connections").json()["data"]) == 1


def test_body_formatting_does_not_make_a_different_request(client: Any) -> None:
    headers = {"Idempotency-Key": "key-fmt", "Content-Type": "application/json"}
    a = client.post("/api/connections", content=b'{"name":"f","type":"api","configuration":{"url":"u"}}', headers=headers)
    b = client.post("/api/connections", content=b'{ "configuration": {"url": "u"}, "type": "api", "name": "f" }', headers=headers)
    assert (a.status_code, b.status_code) == (200, 200) and a.content == b.content


def test_delete_replay_does_not_turn_into_404(client: Any) -> None:
    conn_id = _create(client, "create-key").json()["data"]["id"]
    headers = {"Idempotency-Key": "delete-key"}
    assert client.delete(f"/api/connections/{conn_id}", headers=headers).status_code == 200
    replay = client.delete(f"/api/connections/{conn_id}", headers=headers)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert client.delete(f"/api/connections/{conn_id}").status_code == 404


def test_errors_are_not_recorded_so_a_fixed_cause_can_be_retried(client: Any) -> None:
    conn_id = _create(client, "c").json()["data"]["id"]
    model = client.post("/api/models", json={"name": "m", "connection_id": conn_id}).json()["data"]
    headers = {"Idempotency-Key": "delete-later"}
    assert client.delete(f"/api/connections/{conn_id}", headers=headers).status_code == 422
    client.delete(f"/api/models/{model['id']}")
    assert client.delete(f"/api/connections/{conn_id}", headers=headers).status_code == 200


def test_keys_are_scoped_to_the_organization(sandbox: Any, client: Any, make_client: Any) -> None:
    other = make_client(sandbox, f"Bearer {client.post(f'{sandbox.url}/_sandbox/api-keys').json()['data']['api_key']}")
    ours, theirs = _create(client, "shared-key"), _create(other, "shared-key")
    assert theirs.status_code == 200 and "idempotent-replayed" not in theirs.headers
    assert ours.json()["data"]["id"] != theirs.json()["data"]["id"]


def test_concurrent_retries_with_one_key_create_once(sandbox: Any, make_client: Any) -> None:
    clients = [make_client(sandbox) for _ in range(8)]
    results: list[httpx.Response] = []
    barrier = threading.Barrier(len(clients))

    def run(c: Any) -> None:
        barrier.wait()
        results.append(_create(c, "racing-key"))

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # One does the work; the others get its answer replayed, or — while it is still
    # running — 409 "in progress" (which clients retry into the replay).
    ok = [r for r in results if r.status_code == 200]
    assert ok and {r.status_code for r in results} <= {200, 409}
    assert all(r.json()["key"] == "idempotency_key_in_progress"
               for r in results if r.status_code == 409)
    assert len({r.content for r in ok}) == 1
    assert len(clients[0].get("/api/connections").json()["data"]) == 1
    assert _create(clients[0], "racing-key").content == ok[0].content  # settled: a replay


def test_a_key_in_progress_is_answered_409(sandbox: Any, client: Any, make_client: Any) -> None:
    sandbox.set_faults(latency_ms=800)
    first: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: first.append(_create(client, "slow-key")))
    slow.start()
    time.sleep(0.3)  # the first request is in the sandbox, sleeping before its work
    sandbox.set_faults(latency_ms=0)
    second = _create(make_client(sandbox), "slow-key")
    slow.join()
    assert second.status_code == 409 and second.json()["key"] == "idempotency_key_in_progress"
    assert first[0].status_code == 200
    assert len(client.get("/api/connections").json()["data"]) == 1


def test_replay_survives_a_restart(make_sandbox: Any, make_client: Any) -> None:
    first = make_sandbox()
    created = _create(make_client(first), "durable-key")
    first.stop()
    second = make_sandbox()
    replay = _create(make_client(second), "durable-key")
    assert replay.status_code == 200 and replay.content == created.content
    assert replay.headers["idempotent-replayed"] == "true"
