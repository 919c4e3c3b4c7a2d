"""A corrupt or newer-format state is a clear error (exit 1, no traceback) for every
command that reads it, and the file is never touched."""

from __future__ import annotations

import json

import pytest
from core_helpers import STATE_FILE, assert_clean, invoke, make_state, resource, spec

from polyctl.state import dumps

GOOD = dumps(make_state({"connection.c": resource("id-c", "C")}, serial=4))

CORRUPT = {
    "garbage": (b"\x00\x17not json at all\xff", "Cannot read the state", "is not valid JSON"),
    "truncated JSON": (GOOD[: len(GOOD) // 2], "Cannot read the state", "is not valid JSON"),
    "empty file": (b"", "Cannot read the state", "is empty (a write was probably cut short)"),
    "wrong shape": (b"[1, 2, 3]\n", "Cannot read the state", "expected a JSON object"),
    "NaN, which is not JSON": (
        GOOD.replace(b'"url": "https://id-c.example.com"', b'"url": NaN'),
        "Cannot read the state", "is not valid JSON: NaN is not a JSON value"),
    "serial of the wrong type": (
        GOOD.replace(b'"serial": 4', b'"serial": "4"'), "Cannot read the state",
        "serial: expected an integer, found str"),
    "newer format_version": (
        GOOD.replace(b'"format_version": 1', b'"format_version": 99'),
        "Unsupported state version",
        "state format_version 99 was written by a newer polyctl (this one reads up to 1); "
        "upgrade polyctl; polyctl will neither use nor overwrite it"),
}

COMMANDS = {
    "plan": ("plan", "--no-refresh"),
    "plan --json": ("plan", "--no-refresh", "--json"),
    "state rm": ("state", "rm", "connection.c"),
    "state mv": ("state", "mv", "connection.c", "connection.d"),
    "state list": ("state", "list"),
    "show": ("show",),
    "show --json": ("show", "--json"),
}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
@pytest.mark.parametrize("content, summary, detail", CORRUPT.values(), ids=CORRUPT.keys())
def test_corrupt_state_is_refused_and_left_alone(project, command, content, summary, detail):
    spec(project, "c.yaml", "connections:\n  c: {name: C, configuration: {url: https://c.io}}\n")
    path = project / STATE_FILE
    path.write_bytes(content)

    result = invoke(*command, cwd=project)

    assert result.code == 1
    assert result.stderr.startswith(f"Error: {summary}\n")
    assert detail in result.stderr
    assert str(path) in result.stderr
    assert result.stdout == ""
    assert_clean(result)
    assert path.read_bytes() == content
    assert not (project / f"{STATE_FILE}.backup").exists()
    assert not (project / f"{STATE_FILE}.lock").exists()


def test_corrupt_state_error_points_at_the_backup_when_there_is_one(project):
    (project / STATE_FILE).write_bytes(b"{")
    (project / f"{STATE_FILE}.backup").write_bytes(GOOD)

    result = invoke("state", "list", cwd=project)

    assert result.code == 1
    assert f"(the previous version is in {STATE_FILE}.backup)" in result.stderr
    assert (project / f"{STATE_FILE}.backup").read_bytes() == GOOD


def test_state_that_is_a_directory_is_an_error(project):
    (project / STATE_FILE).mkdir()

    result = invoke("plan", "--no-refresh", cwd=project)

    assert result.code == 1
    assert "is a directory, not a state file" in result.stderr
    assert_clean(result)


def test_corrupt_resource_names_the_field(project):
    data = json.loads(GOOD)
    data["resources"]["connection.c"]["lifecycle"]["prevent_destroy"] = "yes"
    (project / STATE_FILE).write_text(json.dumps(data))

    result = invoke("show", cwd=project)

    assert result.code == 1
    assert ("resources['connection.c'].lifecycle.prevent_destroy: expected true or false, "
            "found str") in result.stderr
