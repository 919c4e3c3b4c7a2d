"""State surgery through the CLI: `state list|show|rm|mv|pull|push` and `show`.

Every write leaves the previous version as `.backup` (byte for byte) and bumps the
serial by one; sensitive values are never shown.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from core_helpers import (
    LINEAGE, STATE_FILE, assert_clean, invoke, make_state, read_state, resource, secret,
    write_state,
)

from polyctl.state import dumps

PASSWORD = "state-cmd-password"


@pytest.fixture
def state(project):
    write_state(project, {
        "connection.api": resource("id-api", "API", {
            "url": "https://api.example.com",
            "auth": {"basic": {"username": "u", "password": secret(PASSWORD)}}}),
        "connection.db": resource("id-db", "DB", {"hostname": "db"}, type="postgresql",
                                  prevent_destroy=True),
        "connection.web": resource("id-web", "Web"),
    }, serial=5)
    return project


def state_bytes(project) -> bytes:
    return (project / STATE_FILE).read_bytes()


def test_state_list(state):
    result = invoke("state", "list", cwd=state)

    assert result.code == 0
    assert result.stdout == "connection.api\nconnection.db\nconnection.web\n"


def test_state_list_without_state_is_empty(project):
    result = invoke("state", "list", cwd=project)

    assert (result.code, result.stdout) == (0, "")


def test_state_show_hides_secrets(state):
    result = invoke("state", "show", "connection.api", cwd=state)

    assert result.code == 0
    assert result.stdout.startswith('# connection.api:\nresource "connection" "api" {\n')
    assert "password = (sensitive value)" in result.stdout
    assert 'username = "u"' in result.stdout
    assert PASSWORD not in result.output
    assert "sha256:" not in result.output


def test_state_show_unknown_address_suggests(state):
    result = invoke("state", "show", "connection.ap", cwd=state)

    assert result.code == 1
    assert "Error: Resource not in state" in result.stderr
    assert 'Did you mean "connection.api"?' in result.stderr


@pytest.mark.parametrize("args, expected", [
    (("state", "rm", "connection.web"), ["connection.api", "connection.db"]),
    (("state", "rm", "connection.web", "connection.db"), ["connection.api"]),
    (("state", "mv", "connection.web", "connection.site"),
     ["connection.api", "connection.db", "connection.site"]),
])
def test_each_write_keeps_a_backup_and_bumps_the_serial(state, args, expected):
    before = state_bytes(state)

    result = invoke(*args, cwd=state)

    assert result.code == 0, result.output
    after = read_state(state)
    assert sorted(after.resources) == expected
    assert after.serial == 6
    assert after.lineage == LINEAGE
    assert (state / f"{STATE_FILE}.backup").read_bytes() == before
    assert stat.S_IMODE(os.stat(state / STATE_FILE).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(state / f"{STATE_FILE}.backup").st_mode) == 0o600
    assert not (state / f"{STATE_FILE}.lock").exists()


def test_rm_message_and_what_stays(state):
    result = invoke("state", "rm", "connection.web", cwd=state)

    assert result.stdout == "Removed 1 resource from the state: connection.web\n"
    kept = read_state(state).resources
    assert kept["connection.api"].configuration["auth"]["basic"]["password"] == secret(PASSWORD)


def test_mv_keeps_the_resource_whole(state):
    old = read_state(state).resources["connection.db"]

    result = invoke("state", "mv", "connection.db", "connection.warehouse", cwd=state)

    assert result.stdout == "Moved connection.db to connection.warehouse\n"
    assert read_state(state).resources["connection.warehouse"] == old


def test_two_writes_in_a_row_backup_the_latest_previous(state):
    invoke("state", "rm", "connection.web", cwd=state)
    middle = state_bytes(state)

    invoke("state", "mv", "connection.api", "connection.api2", cwd=state)

    assert read_state(state).serial == 7
    assert (state / f"{STATE_FILE}.backup").read_bytes() == middle


@pytest.mark.parametrize("args, summary, hint", [
    (("state", "rm", "connection.nope"), "Resource not in state", None),
    (("state", "rm", "connection.web", "connection.wbe"), "Resource not in state",
     'Did you mean "connection.web"?'),
    (("state", "mv", "connection.nope", "connection.x"), "Resource not in state", None),
    (("state", "mv", "connection.web", "connection.api"), "Destination exists", None),
    (("state", "mv", "connection.web", "site"), "Invalid address", None),
])
def test_refused_surgery_changes_nothing(state, args, summary, hint):
    before = state_bytes(state)

    result = invoke(*args, cwd=state)

    assert result.code == 1
    assert f"Error: {summary}" in result.stderr
    if hint:
        assert hint in result.stderr
    assert state_bytes(state) == before
    assert not (state / f"{STATE_FILE}.backup").exists()
    assert not (state / f"{STATE_FILE}.lock").exists()
    assert_clean(result)


def test_surgery_without_a_state_is_an_error(project):
    result = invoke("state", "rm", "connection.x", cwd=project)

    assert result.code == 1
    assert "Error: No state" in result.stderr
    assert not (project / STATE_FILE).exists()


def test_state_option_and_environment_pick_the_file(project):
    write_state(project, {"connection.a": resource("id-a", "A")}, name="custom.json")
    os.makedirs(project / "env")
    write_state(project, {"connection.b": resource("id-b", "B")}, name="env/other.json")

    by_flag = invoke("state", "list", "--state", "custom.json", cwd=project)
    by_env = invoke("state", "list", cwd=project, env={"POLYCTL_STATE": "env/other.json"})
    both = invoke("state", "list", "--state", "custom.json", cwd=project,
                  env={"POLYCTL_STATE": "env/other.json"})

    assert by_flag.stdout == "connection.a\n"
    assert by_env.stdout == "connection.b\n"
    assert both.stdout == "connection.a\n"


# -- show ----------------------------------------------------------------------------------

def test_show_prints_every_resource_with_secrets_hidden(state):
    result = invoke("show", cwd=state)

    assert result.code == 0
    for address in ("connection.api", "connection.db", "connection.web"):
        assert f"# {address}:" in result.stdout
    assert "password = (sensitive value)" in result.stdout
    assert PASSWORD not in result.output and "sha256:" not in result.output


def test_show_json_masks_secrets_and_marks_them(state):
    result = invoke("show", "--json", cwd=state)

    data = json.loads(result.stdout)
    assert (data["format_version"], data["lineage"], data["serial"]) == ("1.0", LINEAGE, 5)
    api = next(r for r in data["values"]["resources"] if r["address"] == "connection.api")
    assert api["values"]["configuration"]["auth"]["basic"] == {"username": "u",
                                                               "password": None}
    assert api["sensitive_values"] == {"configuration": {"auth": {"basic": {"password": True}}}}
    assert PASSWORD not in result.stdout and "sha256:" not in result.stdout


def test_show_without_state(project):
    text = invoke("show", cwd=project)
    as_json = invoke("show", "--json", cwd=project)

    assert (text.code, text.stdout) == (0, "No state: nothing is managed yet.\n")
    assert json.loads(as_json.stdout) == {"format_version": "1.0", "values": None}


# -- pull / push ---------------------------------------------------------------------------

def test_pull_prints_the_stored_state_with_digests_only(state):
    result = invoke("state", "pull", cwd=state)

    assert result.code == 0
    assert result.stdout.encode() == state_bytes(state)
    assert PASSWORD not in result.stdout
    assert secret(PASSWORD).value in result.stdout


def test_pull_without_state_is_an_error(project):
    result = invoke("state", "pull", cwd=project)

    assert result.code == 1
    assert "Error: No state" in result.stderr


def pushed(project, name: str, *, serial: int, lineage: str = LINEAGE, names=("a",)):
    path = project / name
    path.write_bytes(dumps(make_state({f"connection.{n}": resource(f"id-{n}", n) for n in names},
                                      serial=serial, lineage=lineage)))
    return name


def test_push_of_a_newer_version_is_stored_with_a_backup(state):
    before = state_bytes(state)
    name = pushed(state, "newer.json", serial=9, names=("x", "y"))

    result = invoke("state", "push", name, cwd=state)

    assert result.code == 0, result.output
    assert result.stdout == "Pushed the state (serial 10).\n"
    stored = read_state(state)
    assert (stored.serial, sorted(stored.resources)) == (10, ["connection.x", "connection.y"])
    assert (state / f"{STATE_FILE}.backup").read_bytes() == before


def test_push_from_stdin(state):
    raw = dumps(make_state({"connection.s": resource("id-s", "S")}, serial=5)).decode()

    result = invoke("state", "push", "-", cwd=state, stdin=raw)

    assert result.code == 0, result.output
    assert list(read_state(state).resources) == ["connection.s"]
    assert read_state(state).serial == 6


@pytest.mark.parametrize("serial, lineage, summary", [
    (4, LINEAGE, "Older state"),
    (50, "aaaaaaaa-0000-4000-8000-000000000000", "Lineage mismatch"),
])
def test_push_that_would_lose_changes_is_refused(state, serial, lineage, summary):
    before = state_bytes(state)
    name = pushed(state, "other.json", serial=serial, lineage=lineage)

    result = invoke("state", "push", name, cwd=state)

    assert result.code == 1
    assert f"Error: {summary}" in result.stderr
    assert "use --force" in result.stderr
    assert state_bytes(state) == before
    assert not (state / f"{STATE_FILE}.lock").exists()


@pytest.mark.parametrize("serial, lineage", [
    (4, LINEAGE),
    (50, "aaaaaaaa-0000-4000-8000-000000000000"),
])
def test_push_force_overrides_the_checks(state, serial, lineage):
    before = state_bytes(state)
    name = pushed(state, "other.json", serial=serial, lineage=lineage, names=("forced",))

    result = invoke("state", "push", "--force", name, cwd=state)

    assert result.code == 0, result.output
    stored = read_state(state)
    assert list(stored.resources) == ["connection.forced"]
    assert stored.serial == max(serial, 5) + 1
    assert (state / f"{STATE_FILE}.backup").read_bytes() == before


def test_push_of_a_corrupt_file_is_refused(state):
    before = state_bytes(state)
    (state / "bad.json").write_text('{"format_version": 1, "lineage": ')

    result = invoke("state", "push", "bad.json", cwd=state)

    assert result.code == 1
    assert "Error: Cannot read the state" in result.stderr
    assert state_bytes(state) == before
    assert_clean(result)


def test_push_of_a_missing_file_is_an_error(state):
    result = invoke("state", "push", "nope.json", cwd=state)

    assert result.code == 1
    assert "nope.json" in result.stderr
    assert_clean(result)
