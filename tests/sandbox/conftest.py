"""Fixtures for the sandbox tests: real sandboxes on free loopback ports, real HTTP.

The contract data is read from `../shared` beside the repository (CI has the same
path); nothing from it is copied into the repository. Test modules cannot import this
file (pytest runs with --import-mode=importlib), so helpers are handed out as fixtures.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from polyctl.sandbox import RunningSandbox, SandboxConfig, start_sandbox

SHARED = Path(__file__).parents[2].parent / "shared"
CONTRACT = SHARED / "contract"
TYPES_DIR = CONTRACT / "connection-types"


def basic_auth(org_id: str, partner_key: str) -> str:
    return "Basic " + base64.b64encode(f"{org_id}:{partner_key}".encode()).decode()


def api_configuration(secret: str = "header-secret") -> dict[str, Any]:
    """A type `api` configuration with all three kinds of secret set."""
    return {
        "url": "https://example.com",
        "headers": [{"name": "Accept", "value": "application/json"}],
        "auth": {
            "header": {"name": "Authorization", "value": secret},
            "basic": {"username": "user", "password": secret + "-pw"},
            "oauth": {"client_id": "cid", "client_secret": secret + "-cs", "token_endpoint": "https://example.com/t"},
        },
    }


def postgres_configuration(password: str = "pg-secret") -> dict[str, Any]:
    return {
        "hostname": "postgres.example.com",
        "username": "user",
        "password": password,
        "database": "example",
        "port": 5432,
    }


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[Callable[..., RunningSandbox]]:
    """`make_sandbox(**config)` → a started sandbox on a free port (stopped after the test).

    Defaults: a fresh database in tmp_path and the shared connection-types folder.
    """
    started: list[RunningSandbox] = []

    def make(**overrides: Any) -> RunningSandbox:
        settings: dict[str, Any] = {
            "port": 0,
            "db_path": tmp_path / "sandbox.db",
            "connection_types_dir": TYPES_DIR,
        }
        settings.update(overrides)
        sandbox = start_sandbox(SandboxConfig(**settings))
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    return make_sandbox()


@pytest.fixture
def make_client() -> Iterator[Callable[..., httpx.Client]]:
    """`make_client(sandbox, authorization=None)` → an httpx client (Bearer API key by default)."""
    opened: list[httpx.Client] = []

    def make(sandbox: RunningSandbox, authorization: str | None = None) -> httpx.Client:
        headers = {"Authorization": authorization or f"Bearer {sandbox.api_key}"}
        opened.append(httpx.Client(base_url=sandbox.url, headers=headers, timeout=10))
        return opened[-1]

    yield make
    for c in opened:
        c.close()


@pytest.fixture
def client(sandbox: RunningSandbox, make_client: Callable[..., httpx.Client]) -> httpx.Client:
    return make_client(sandbox)


@pytest.fixture
def create_connection(client: httpx.Client) -> Callable[..., dict[str, Any]]:
    """`create_connection(name, type_id="api", configuration=None, client=None, **body)` → data."""

    def create(
        name: str = "conn",
        type_id: str = "api",
        configuration: dict[str, Any] | None = None,
        client: httpx.Client = client,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {"name": name, "type": type_id, "configuration": configuration or api_configuration(), **extra}
        response = client.post("/api/connections", json=body)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    return create


@pytest.fixture(name="api_configuration")
def _api_configuration() -> Callable[..., dict[str, Any]]:
    return api_configuration


@pytest.fixture(name="postgres_configuration")
def _postgres_configuration() -> Callable[..., dict[str, Any]]:
    return postgres_configuration


@pytest.fixture(name="basic_auth")
def _basic_auth() -> Callable[[str, str], str]:
    return basic_auth
