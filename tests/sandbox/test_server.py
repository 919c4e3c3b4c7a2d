"""The server itself: restart persistence, keep-alive, 32 concurrent clients, the CLI module."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from polyctl.sandbox import __main__ as sandbox_main


def test_a_restart_keeps_keys_org_and_data(make_sandbox: Any, make_client: Any, create_connection: Any) -> None:
    first = make_sandbox()
    client = make_client(first)
    conn = create_connection("durable", client=client)
    model = client.post("/api/models", json={"name": "m", "connection_id": conn["id"]}).json()["data"]
    identity = (first.api_key, first.partner_key, first.organization_id)
    first.stop()
    second = make_sandbox()
    assert (second.api_key, second.partner_key, second.organization_id) == identity
    again = make_client(second)
    got = again.get(f"/api/connections/{conn['id']}").json()["data"]
    assert got["configuration"]["auth"]["header"]["value"] == "********"
    assert again.get(f"/api/models/{model['id']}").status_code == 200
    assert again.delete(f"/api/connections/{conn['id']}").status_code == 422  # the link survived too


def test_stop_is_idempotent_and_frees_the_port(make_sandbox: Any) -> None:
    sandbox = make_sandbox()
    keep_alive = httpx.Client(base_url=sandbox.url)
    assert keep_alive.get("/_sandbox/health").status_code == 200  # an idle keep-alive connection
    sandbox.stop()
    sandbox.stop()
    port = int(sandbox.url.rsplit(":", 1)[1])
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    keep_alive.close()


def test_keep_alive_serves_many_requests_on_one_connection(sandbox: Any) -> None:
    request = (
        f"GET /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sandbox.api_key}\r\n\r\n"
    ).encode()
    host, port = sandbox.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        stream = sock.makefile("rb")
        for _ in range(3):
            sock.sendall(request)
            status = stream.readline()
            headers = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            assert status.startswith(b"HTTP/1.1 200") and b'"organization_id"' in body
    assert sandbox.stats()["connections_opened"] == 1


def test_chunked_request_bodies_are_read(client: Any) -> None:
    def chunks():
        yield b'{"name": "chunked", "type": "api", '
        yield b'"configuration": {"url": "https://example.com"}}'

    response = client.post("/api/connections", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["name"] == "chunked"


def test_32_concurrent_clients_doing_mixed_crud(sandbox: Any, make_client: Any) -> None:
    clients = [make_client(sandbox) for _ in range(32)]
    failures: list[str] = []
    kept: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(clients))

    def work(n: int, client: httpx.Client) -> None:
        barrier.wait()
        try:
            for i in range(6):
                body = {"name": f"c{n}-{i}", "type": "api", "configuration": {"url": f"https://{n}.example.com", "auth": {"header": {"name": "A", "value": "s"}}}}
                created = client.post("/api/connections", json=body)
                conn_id = created.json()["data"]["id"]
                steps = [
                    created,
                    client.get(f"/api/connections/{conn_id}"),
                    client.put(f"/api/connections/{conn_id}", json={**body, "name": f"r{n}-{i}"}),
                    client.get("/api/connections"),
                ]
                if i % 2:
                    steps.append(client.delete(f"/api/connections/{conn_id}"))
                else:
                    with lock:
                        kept.append(conn_id)
                bad = [f"{r.request.method} {r.status_code}" for r in steps if r.status_code != 200]
                if bad:
                    with lock:
                        failures.extend(bad)
        except Exception as exc:  # noqa: BLE001 - any error fails the test below
            with lock:
                failures.append(repr(exc))

    threads = [threading.Thread(target=work, args=(n, c)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == []
    listed = clients[0].get("/api/connections").json()["data"]
    assert sorted(c["id"] for c in listed) == sorted(kept) and len(kept) == 32 * 3
    assert all(c["name"].startswith("r") for c in listed)  # every update landed
    stats = sandbox.stats()
    assert stats["total_requests"] == 32 * (6 * 4 + 3) + 1
    assert stats["connections_opened"] <= 32 * 2  # keep-alive: not a connection per request


TYPES_DIR = Path(__file__).parents[2].parent / "shared/contract/connection-types"


def test_python_m_polyctl_sandbox_prints_its_url_and_stops_on_sigint(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = [
        sys.executable, "-m", "polyctl.sandbox", "--port", "0", "--db", str(tmp_path / "cli.db"),
        "--api-key", "cli-key", "--connection-types", str(TYPES_DIR),
    ]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert first.startswith("Sandbox listening on http://127.0.0.1:"), first
        url = first.split()[-1]
        auth = {"Authorization": "Bearer cli-key"}
        assert httpx.get(f"{url}/api/me", headers=auth).status_code == 200
        body = {"name": "pg", "type": "postgresql", "configuration": {"hostname": "h", "username": "u", "password": "pw", "database": "d"}}
        created = httpx.post(f"{url}/api/connections", json=body, headers=auth).json()["data"]
        assert created["configuration"]["password"] == "********" and created["configuration"]["port"] == 5432
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_port_in_use_is_a_one_line_error(tmp_path: Path, capsys: Any) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code = sandbox_main.main(["--port", str(busy.getsockname()[1]), "--db", str(tmp_path / "busy.db")])
    assert code == 1
    assert capsys.readouterr().err.startswith("polyctl sandbox: ")
