"""Fixtures for the reliability suites (see rel_helpers.py for what they share).

- `sandbox`: one sandbox for the test, serving the contract's connection types (so a
  replacement can change `type`); tests mint fresh organizations on it (`new_org`);
- `make_project(name)`: a project on a fresh organization of that sandbox;
- `emergency_dir`: where emergency copies of the state go (the temp directory, for
  this process and its children);
- every test ends with the secret scan: no secret of `rel_helpers.SECRETS`, nor an
  API key, in any output, file, captured journal or emergency copy of any project the
  test made.

Heavier sizes are marked `slow` and run with `--run-slow` (option in tests/conftest.py).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "state"))

import pg_server  # noqa: E402
import rel_helpers  # noqa: E402
from rel_helpers import Project, new_org, start_rel_sandbox  # noqa: E402


@pytest.fixture
def emergency_dir(tmp_path: Path, monkeypatch) -> Path:
    directory = tmp_path / "tmpdir"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
def sandbox(tmp_path: Path):
    sb = start_rel_sandbox(tmp_path / "sandbox.db")
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def make_project(tmp_path: Path, sandbox, emergency_dir) -> Callable[[str], Project]:
    def make(name: str = "project") -> Project:
        return Project(tmp_path / name, new_org(sandbox), emergency_dir=emergency_dir)

    return make


@pytest.fixture(autouse=True)
def no_secret_anywhere() -> Iterator[None]:
    rel_helpers.ALL_PROJECTS.clear()
    yield
    leaks = [leak for project in rel_helpers.ALL_PROJECTS for leak in project.leaks()]
    rel_helpers.ALL_PROJECTS.clear()
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks[:30])


@pytest.fixture(scope="session")
def pg_url() -> str:
    return pg_server.url_for_tests()
