"""Fixtures for the state tests.

`backend_factory` is parametrised over every state backend; the conformance suite runs
once per parameter: "file", and "postgresql" on the server `pg_url` provides (see
`pg_server`: CI's, or a throwaway one), in a schema shared by the suite and a workspace
of the test's own, so tests never collide, also under pytest-xdist.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `import state_helpers`

import pg_server  # noqa: E402
import state_helpers  # noqa: E402

from polyctl.state import LockInfo, StateBackend, open_backend  # noqa: E402


@dataclass
class BackendFactory:
    kind: str
    location: str  # what `open_backend` takes, in this process or a child
    # The file backend breaks a dead holder's lock and says so; a database backend may
    # instead see the lock vanish with the holder's session (nothing to report).
    reports_broken_locks: bool
    workspace: str = "default"  # e.g. one per test on a shared database

    def open(self) -> StateBackend:
        return open_backend(self.location, workspace=self.workspace)

    @property
    def target(self) -> tuple[str, str]:
        """(location, workspace): how a child process opens the same storage."""
        return self.location, self.workspace


CONFORMANCE_SCHEMA = "polyctl_conformance"


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A PostgreSQL database URL for tests (fails in CI when there is none; skips elsewhere)."""
    return pg_server.url_for_tests()


@pytest.fixture(params=["file", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_factory(request, tmp_path) -> BackendFactory:
    if request.param == "file":
        return BackendFactory("file", str(tmp_path / "polyctl.state.json"), True)
    if request.param == "postgresql":
        url = pg_server.with_params(request.getfixturevalue("pg_url"), schema=CONFORMANCE_SCHEMA)
        # A holder that dies leaves its row; the next lock() replaces it and reports it.
        return BackendFactory("postgresql", url, True, workspace=pg_server.unique_workspace())
    raise AssertionError(request.param)


@pytest.fixture
def backend(backend_factory) -> StateBackend:
    return backend_factory.open()


@pytest.fixture(autouse=True)
def emergency_dir(tmp_path, monkeypatch) -> Path:
    """Emergency copies go to a private temp dir instead of the machine's /tmp."""
    directory = tmp_path / "tmpdir"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


Target = BackendFactory | str | tuple[str, str]  # a factory, a state path, (location, workspace)


def as_target(target: Target) -> tuple[str, str]:
    if isinstance(target, tuple):
        return target
    return target.target if isinstance(target, BackendFactory) else (str(target), "default")


class Children:
    """Child processes started by a test; whatever is still running is killed after."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def spawn(self, role: str, target: Target, *args: str,
              **popen) -> subprocess.Popen:
        """Start a `state_helpers` role on the storage of `target`."""
        return self._spawn(role, *as_target(target), *args, **popen)

    def _spawn(self, role: str, *args: str, **popen) -> subprocess.Popen:
        proc = state_helpers.spawn(role, *args, **popen)
        self.procs.append(proc)
        return proc

    def hold_lock(self, target: Target, operation: str = "apply",
                  timeout: float = 0) -> tuple[subprocess.Popen, LockInfo]:
        """A child process that holds the lock until told to release or killed
        (`target`: a factory, a state file path, or (location, workspace))."""
        proc = self._spawn("hold", *as_target(target), operation, str(timeout))
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        message = json.loads(line)
        assert "lock" in message, message
        return proc, LockInfo.from_json(message["lock"])

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()


@pytest.fixture
def children() -> Iterator[Children]:
    kids = Children()
    yield kids
    kids.close()
