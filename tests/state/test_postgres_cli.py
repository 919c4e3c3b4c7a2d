"""The state commands on a PostgreSQL state: selected by flag, environment or
polyctl.yaml; `state history`, `pull --serial`, `restore`, `migrate` (both ways, and
its refusals), `force-unlock`. No API is needed: the states are written directly."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from pg_server import unique_workspace, with_params
from state_helpers import make_state

from polyctl.state import loads, open_backend

pytestmark = pytest.mark.postgres
OTHER_LINEAGE = "11111111-2222-3333-4444-555555555555"


def polyctl(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = ""):
    """Run the real CLI in-process; (exit code, stdout, stderr)."""
    from polyctl.cli import run
    from polyctl.console import Environment

    environ = {k: v for k, v in os.environ.items() if not k.startswith(("POLYCTL_", "POLYTOMIC_"))}
    out, err = io.StringIO(), io.StringIO()
    code = run(list(args), Environment(stdin=io.StringIO(stdin), stdout=out, stderr=err,
                                       environ={**environ, **(env or {})}, cwd=cwd))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def url(pg_url) -> str:
    return with_params(pg_url, schema="polyctl_clitests")


@pytest.fixture
def ws() -> str:
    return unique_workspace("cli")


def test_flag_environment_and_project_file_select_url_and_workspace(tmp_path, url, ws):
    open_backend(url, workspace=ws).write(make_state(1, size=2), expected_serial=None)
    expected = "connection.c00000\nconnection.c00001\n"

    assert polyctl("state", "list", "--state", url, "--workspace", ws, cwd=tmp_path)[1] == expected
    env = {"POLYCTL_STATE": url, "POLYCTL_WORKSPACE": ws}
    assert polyctl("state", "list", cwd=tmp_path, env=env)[1] == expected
    (tmp_path / "polyctl.yaml").write_text(f"state: '{url}'\nworkspace: {ws}\n")
    assert polyctl("state", "list", cwd=tmp_path)[1] == expected
    # another workspace of the same database is another state
    assert polyctl("state", "list", "--workspace", "elsewhere", cwd=tmp_path)[1] == ""


def test_history_pull_serial_and_restore(tmp_path, url, ws):
    backend = open_backend(url, workspace=ws)
    backend.write(make_state(1, size=1), expected_serial=None)
    backend.write(make_state(2, size=3), expected_serial=1)
    env = {"POLYCTL_STATE": url, "POLYCTL_WORKSPACE": ws}

    code, out, _ = polyctl("state", "history", cwd=tmp_path, env=env)
    assert code == 0
    header, first, second = out.splitlines()
    assert header.split()[:3] == ["SERIAL", "WRITTEN", "(UTC)"]
    assert first.split()[0] == "1" and second.split()[:2] == ["2", "*"]
    assert "write" in first and make_state(1).lineage in second

    code, out, _ = polyctl("state", "pull", "--serial", "1", cwd=tmp_path, env=env)
    assert code == 0 and loads(out) == make_state(1, size=1)
    code, _, err = polyctl("state", "pull", "--serial", "9", cwd=tmp_path, env=env)
    assert code == 1 and "No state" in err

    code, out, _ = polyctl("state", "restore", "--serial", "1", cwd=tmp_path, env=env)
    assert code == 0 and "Restored serial 1 as serial 3 (1 resources)" in out
    assert backend.read() == make_state(1, size=1).next().next()
    history = json.loads(polyctl("state", "history", "--json", cwd=tmp_path, env=env)[1])
    assert [(v["serial"], v["operation"]) for v in history] == [
        (1, "write"), (2, "write"), (3, "state restore")]
    code, _, err = polyctl("state", "restore", "--serial", "7", cwd=tmp_path, env=env)
    assert code == 1 and "not in the history" in err


def test_history_of_a_file_state_says_there_is_none(tmp_path):
    code, _, err = polyctl("state", "history", cwd=tmp_path)
    assert code == 1 and "keeps no history" in err


def test_migrate_file_to_postgresql_and_back_loses_nothing(tmp_path, url, ws):
    original = make_state(4, size=5)
    open_backend(tmp_path / "polyctl.state.json").write(original, expected_serial=None)

    code, out, err = polyctl("state", "migrate", "--to", url, "--to-workspace", ws, cwd=tmp_path)
    assert code == 0, err
    assert "Copied the state" in out and "serial 4, 5 resources" in out
    assert open_backend(url, workspace=ws).read() == original
    code, out, _ = polyctl("state", "migrate", "--to", url, "--to-workspace", ws, cwd=tmp_path)
    assert code == 0 and "nothing to do" in out  # identical: a no-op

    code, out, err = polyctl("state", "migrate", "--state", url, "--workspace", ws,
                             "--to", "back/polyctl.state.json", "--to-workspace", "default",
                             cwd=tmp_path)
    assert code == 0, err
    assert open_backend(tmp_path / "back" / "polyctl.state.json").read() == original

    # without --to-workspace the workspace keeps its name, as the file backend lays it out
    code, out, err = polyctl("state", "migrate", "--state", url, "--workspace", ws,
                             "--to", "back/polyctl.state.json", cwd=tmp_path)
    assert code == 0, err
    again = tmp_path / "back" / "polyctl.state.d" / ws / "polyctl.state.json"
    assert str(again.resolve()) in out and open_backend(again).read() == original


def test_migrate_updates_an_older_copy_and_refuses_to_lose_anything(tmp_path, url, ws):
    source = open_backend(tmp_path / "polyctl.state.json")
    source.write(make_state(1), expected_serial=None)
    assert polyctl("state", "migrate", "--to", url, "--to-workspace", ws, cwd=tmp_path)[0] == 0
    source.write(make_state(2), expected_serial=1)

    code, out, _ = polyctl("state", "migrate", "--to", url, "--to-workspace", ws, cwd=tmp_path)
    assert code == 0 and open_backend(url, workspace=ws).read() == make_state(2)

    open_backend(url, workspace=ws).write(make_state(3), expected_serial=2)
    code, _, err = polyctl("state", "migrate", "--to", url, "--to-workspace", ws, cwd=tmp_path)
    assert code == 1 and "Target is newer" in err
    assert open_backend(url, workspace=ws).read() == make_state(3)


def test_migrate_refuses_a_target_with_another_lineage(tmp_path, url, ws):
    open_backend(tmp_path / "polyctl.state.json").write(make_state(1), expected_serial=None)
    theirs = make_state(8, lineage=OTHER_LINEAGE)
    open_backend(url, workspace=ws).write(theirs, expected_serial=None)

    code, _, err = polyctl("state", "migrate", "--to", url, "--to-workspace", ws, cwd=tmp_path)

    assert code == 1 and "Lineage mismatch" in err and OTHER_LINEAGE in err
    assert open_backend(url, workspace=ws).read() == theirs


def test_migrate_refuses_a_source_with_an_unfinished_journal(tmp_path, url, ws):
    source = open_backend(tmp_path / "polyctl.state.json")
    source.write(make_state(1), expected_serial=None)
    source.journal_append([{"type": "begin", "lineage": make_state(1).lineage, "serial": 1}])

    code, _, err = polyctl("state", "migrate", "--to", url, "--to-workspace", ws, cwd=tmp_path)

    assert code == 1 and "did not finish" in err
    assert open_backend(url, workspace=ws).read() is None


def test_migrate_waits_for_neither_lock_and_names_the_target_holder(tmp_path, url, ws, children):
    open_backend(tmp_path / "polyctl.state.json").write(make_state(1), expected_serial=None)
    _, held = children.hold_lock((url, ws), "apply")

    code, _, err = polyctl("state", "migrate", "--to", url, "--to-workspace", ws, cwd=tmp_path)

    assert code == 1 and "Error acquiring the state lock" in err and held.id in err
    assert open_backend(tmp_path / "polyctl.state.json").current_lock() is None  # released


def test_force_unlock_command_ends_a_live_holders_session(tmp_path, url, ws, children):
    _, held = children.hold_lock((url, ws), "apply")
    env = {"POLYCTL_STATE": url, "POLYCTL_WORKSPACE": ws}

    code, out, err = polyctl("force-unlock", held.id, "--force", cwd=tmp_path, env=env)

    assert code == 0, err
    assert "successfully unlocked" in out and held.id in out
    assert open_backend(url, workspace=ws).current_lock() is None
