"""`plan --out FILE`: a private file (0600) with digests instead of secrets, bound to
the lineage and serial of the state it was made against, and shown by `show FILE`."""

from __future__ import annotations

import json
import os
import stat

import pytest
from core_helpers import (
    LINEAGE, SALT, assert_clean, invoke, resource, spec, write_state,
)

from polyctl.values import digest_of

SPEC = """
connections:
  c:
    name: C
    configuration:
      url: https://c.example.com
      auth:
        basic: {username: u, password: literal-plan-password}
      headers:
        - {name: X-Key, value: "${env:PLAN_KEY}"}
"""
ENV = {"PLAN_KEY": "env-plan-key"}


@pytest.fixture
def planned(project):
    write_state(project, {"connection.old": resource("id-old", "Old")}, serial=8)
    spec(project, "c.yaml", SPEC)
    result = invoke("plan", "--no-refresh", "--out", "out.plan", cwd=project, env=ENV)
    assert result.code == 0, result.output
    return project


def test_saved_plan_is_private(planned):
    mode = stat.S_IMODE(os.stat(planned / "out.plan").st_mode)

    assert mode == 0o600


def test_saved_plan_holds_digests_not_secrets(planned):
    raw = (planned / "out.plan").read_text()

    assert "literal-plan-password" not in raw
    assert "env-plan-key" not in raw
    assert digest_of("literal-plan-password", SALT).value in raw
    assert digest_of("env-plan-key", SALT).value in raw
    # Plan files travel as CI artifacts: with the salt beside them, a weak secret could
    # be recovered from its digest by guessing. Apply takes the salt from the state.
    assert SALT not in raw, "the digest salt must stay in the state, not the plan file"


def test_saved_plan_is_bound_to_lineage_and_serial(planned):
    data = json.loads((planned / "out.plan").read_text())

    assert (data["kind"], data["lineage"], data["serial"]) == ("polyctl-plan", LINEAGE, 8)


def test_show_renders_the_saved_plan(planned):
    text = invoke("show", "out.plan", cwd=planned)
    as_json = invoke("show", "out.plan", "--json", cwd=planned)

    assert text.code == 0, text.output
    assert "  # connection.c will be created\n" in text.stdout
    assert "  # connection.old will be destroyed\n" in text.stdout
    assert "+ password = (sensitive value)" in text.stdout
    assert text.stdout.endswith("Plan: 1 to add, 0 to change, 1 to destroy.\n")
    data = json.loads(as_json.stdout)
    assert data["state"] == {"lineage": LINEAGE, "serial": 8}
    assert "literal-plan-password" not in text.output + as_json.output


def test_plan_out_prints_where_it_saved(planned):
    result = invoke("plan", "--no-refresh", "--out", "again.plan", cwd=planned, env=ENV)

    assert result.stdout.endswith("\nSaved the plan to: again.plan\n"
                                  "To perform exactly these actions, run: polyctl apply "
                                  "again.plan\n")


def test_plan_out_with_json_prints_only_json(planned):
    result = invoke("plan", "--no-refresh", "--json", "--out", "j.plan", cwd=planned, env=ENV)

    assert json.loads(result.stdout)["summary"] == {"add": 1, "change": 0, "destroy": 1}
    assert (planned / "j.plan").exists()


def test_plan_against_no_state_is_bound_to_no_serial(project):
    spec(project, "c.yaml", SPEC)

    invoke("plan", "--no-refresh", "--out", "first.plan", cwd=project, env=ENV)

    data = json.loads((project / "first.plan").read_text())
    assert data["serial"] == 0
    assert not (project / "polyctl.state.json").exists()


def test_a_stale_saved_plan_is_refused(planned):
    invoke("state", "rm", "connection.old", cwd=planned)

    result = invoke("apply", "out.plan", cwd=planned, env=ENV)

    assert result.code == 1
    assert "Error: Saved plan is stale" in result.stderr
    assert "state serial 8" in result.stderr and "serial 9" in result.stderr
    assert_clean(result)


def test_a_failed_plan_writes_no_plan_file(project):
    write_state(project, {"connection.c": resource("id-c", "C", prevent_destroy=True)})

    result = invoke("plan", "--no-refresh", "--out", "nope.plan", cwd=project)

    assert result.code == 1
    assert not (project / "nope.plan").exists()


@pytest.mark.parametrize("content", [b"", b"{}", b"not json", b'{"kind": "polyctl-plan"}'])
def test_show_of_an_invalid_plan_file_is_an_error(project, content):
    (project / "bad.plan").write_bytes(content)

    result = invoke("show", "bad.plan", cwd=project)

    assert result.code == 1
    assert result.stderr.startswith("Error: Invalid plan file\n")
    assert_clean(result)


def test_show_of_a_missing_plan_file_is_an_error(project):
    result = invoke("show", "missing.plan", cwd=project)

    assert result.code == 1
    assert "missing.plan" in result.stderr
    assert_clean(result)



def test_a_plan_file_holding_nan_is_refused_before_anything_is_sent(planned):
    """NaN is not JSON: read, it would be sent to the API and then fail to be recorded."""
    path = planned / "out.plan"
    raw = path.read_bytes()
    assert b'"force_destroy": false' in raw
    path.write_bytes(raw.replace(b'"force_destroy": false', b'"force_destroy": NaN', 1))

    result = invoke("apply", "out.plan", cwd=planned, env=ENV)

    assert result.code == 1
    assert result.stderr.startswith("Error: Invalid plan file\n")
    assert "NaN is not a JSON value" in result.stderr
    assert_clean(result)
