"""Reaching Polytomic: credentials from the environment, or an embedded sandbox.

`--sandbox` starts the local Polytomic-compatible server in-process on a free
loopback port (its SQLite file is `.polyctl/sandbox.db` under the project root, so
what you apply survives between runs) and points the client at it.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, TypeVar

T = TypeVar("T")


def api_settings(rt, project):
    from polyctl.api import ApiSettings, NoCredentialsError

    if rt.sandbox:
        sandbox = start_embedded_sandbox(rt, project.settings.sandbox_db)
        return ApiSettings(base_url=sandbox.url, api_key=sandbox.api_key)
    settings = ApiSettings.from_env(rt.env.environ)
    if not settings.has_credentials:
        raise NoCredentialsError()
    return settings


def start_embedded_sandbox(rt, db_path: Path):
    existing = getattr(rt, "_sandbox", None)
    if existing is not None:
        return existing
    from polyctl.sandbox import SandboxConfig, start_sandbox

    types_dir = rt.env.environ.get("POLYCTL_SANDBOX_CONNECTION_TYPES")
    config = SandboxConfig(port=0, db_path=db_path,
                           connection_types_dir=Path(types_dir) if types_dir else None)
    sandbox = start_sandbox(config)
    rt._sandbox = sandbox
    rt.cleanups.append(sandbox.stop)
    return sandbox


@asynccontextmanager
async def open_client(settings, parallelism: int) -> AsyncIterator[Callable]:
    """Yield `orgs(organization) -> OrgClient` over one pooled client."""
    from polyctl.api import PolytomicClient

    async with PolytomicClient(settings, max_concurrency=parallelism) as client:
        cache: dict = {}

        def orgs(organization):
            if organization not in cache:
                cache[organization] = client.for_organization(organization)
            return cache[organization]

        yield orgs


def run_async(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]
