"""Fixtures for the end-to-end tests: polyctl against a real sandbox over loopback.

- `sandbox`: the root fixture's sandbox, serving the contract's connection types;
- `org`: the sandbox's organization seen from outside polyctl (official SDK, HTTP);
- `pc`: a polyctl project pointed at that sandbox; when the test ends, every output
  it produced and every file polyctl wrote is scanned for the secrets the test
  registered in `pc.secrets` (none may appear anywhere);
- `proxy_for(sandbox, forbid=…)`: a recording proxy in front of the sandbox.

Helpers live in `e2e_helpers.py` (imported by the test modules; pytest's importlib
mode cannot import conftest files).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

CONNECTION_TYPES = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "connection-types"

from e2e_helpers import Org, Polyctl  # noqa: E402
from sandbox_proxy import SandboxProxy  # noqa: E402


@pytest.fixture
def sandbox(tmp_path: Path):
    """A sandbox serving the contract's connection types, as the real API does."""
    from polyctl.sandbox import SandboxConfig, start_sandbox

    sb = start_sandbox(SandboxConfig(port=0, db_path=tmp_path / "sandbox.db", seed=1,
                                     connection_types_dir=CONNECTION_TYPES))
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def org(sandbox) -> Iterator[Org]:
    o = Org(sandbox.url, sandbox.api_key)
    yield o
    o.close()


@pytest.fixture
def pc(project: Path, sandbox_env: dict[str, str]) -> Iterator[Polyctl]:
    p = Polyctl(project, sandbox_env)
    yield p
    leaks = p.leaked_secrets()
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)


@pytest.fixture
def proxy_for():
    started: list[SandboxProxy] = []

    def make(sandbox, forbid=None, hold=None) -> SandboxProxy:
        started.append(SandboxProxy(sandbox.url, forbid=forbid, hold=hold))
        return started[-1]

    yield make
    for p in started:
        p.stop()
