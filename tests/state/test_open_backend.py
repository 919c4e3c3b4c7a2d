"""`polyctl.state` as the rest of polyctl sees it: `open_backend` and a cheap import."""

from __future__ import annotations

import subprocess
import sys

import pytest
from state_helpers import child_env, make_state

from polyctl.state import (
    DEFAULT_STATE_FILE,
    LocalStateBackend,
    StateBackend,
    StateError,
    open_backend,
)


def test_a_path_opens_the_file_backend(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    backend = open_backend(DEFAULT_STATE_FILE)
    assert isinstance(backend, LocalStateBackend) and isinstance(backend, StateBackend)
    assert backend.path == tmp_path.resolve() / "polyctl.state.json"
    assert open_backend(tmp_path / "x.json").path == tmp_path.resolve() / "x.json"


def test_workspaces_live_beside_the_default_state(tmp_path):
    default = open_backend(tmp_path / "polyctl.state.json")
    staging = open_backend(tmp_path / "polyctl.state.json", workspace="staging")
    assert staging.path == tmp_path.resolve() / "polyctl.state.d" / "staging" / "polyctl.state.json"

    staging.write(make_state(1, lineage="11111111-0000-0000-0000-000000000000"),
                  expected_serial=None)
    lock = staging.lock("apply")  # workspaces never block each other
    default.write(make_state(1), expected_serial=None)
    default.unlock(default.lock("apply"))
    staging.unlock(lock)
    assert default.read().lineage != staging.read().lineage


@pytest.mark.parametrize("name", ["", "../up", "a/b", ".hidden", "x" * 65, "a..b"])
def test_bad_workspace_names_are_refused(tmp_path, name):
    with pytest.raises(StateError, match="workspace"):
        open_backend(tmp_path / "s.json", workspace=name)


@pytest.mark.parametrize("url", ["postgresql://u@db/polyctl", "postgres://db/x",
                                 "POSTGRESQL://db/x?schema=team"])
def test_postgresql_urls_open_the_postgres_backend_without_connecting(url):
    from polyctl.state.postgres import PostgresStateBackend

    backend = open_backend(url, workspace="staging")  # nothing listens at `db`: no connection yet
    assert isinstance(backend, PostgresStateBackend) and isinstance(backend, StateBackend)
    assert backend.workspace == "staging"
    assert backend.schema == ("team" if "schema=" in url else "polyctl")


@pytest.mark.parametrize("name", ["", "../up", "a/b", "x" * 65])
def test_postgresql_workspace_names_follow_the_file_rules(name):
    with pytest.raises(StateError, match="workspace"):
        open_backend("postgresql://db/x", workspace=name)


def test_a_bad_schema_name_is_refused():
    with pytest.raises(StateError, match="schema name"):
        open_backend("postgresql://db/x?schema=a;drop")


def test_other_urls_are_refused():
    with pytest.raises(StateError, match="unsupported state location s3://"):
        open_backend("s3://bucket/state.json")


def test_importing_state_stays_cheap_and_one_way():
    code = (
        "import sys, polyctl.state\n"
        "heavy = {'httpx', 'rich', 'typer', 'deepdiff', 'yaml', 'psycopg'}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(\n"
        "    ('polyctl.render', 'polyctl.cli', 'polyctl.engine', 'polyctl.api',\n"
        "     'polyctl.commands', 'polyctl.spec')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=child_env(), check=True)
    assert result.stdout.strip() == ""
