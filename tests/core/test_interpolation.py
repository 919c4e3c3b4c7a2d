"""`${env:NAME}`, `${file:path}` and `$${`: what they expand to, where their errors
point, and that whatever they bring in is treated as a secret."""

from __future__ import annotations

import json

import pytest
from core_helpers import (
    SALT, changes_by_address, errors, invoke, locate, plan_json, resource, secret, spec,
    write_state,
)

from polyctl.spec.interpolate import InterpolationError, Interpolator
from polyctl.values import Secret, digest_of


def one_header(value: str) -> str:
    return f"""\
connections:
  c:
    name: C
    configuration:
      url: https://x.example.com
      auth:
        header:
          name: Authorization
          value: "{value}"
      headers:
        - {{name: X-Plain, value: "{value}"}}
"""


# -- the pure expander ------------------------------------------------------------------

def test_env_value_is_expanded_as_a_secret(tmp_path):
    out = Interpolator(env={"TOKEN": "t0k"}).expand("Bearer ${env:TOKEN}!", tmp_path)

    assert isinstance(out, Secret)
    assert out.reveal() == "Bearer t0k!"


def test_set_but_empty_variable_is_set(tmp_path):
    out = Interpolator(env={"EMPTY": ""}).expand("[${env:EMPTY}]", tmp_path)

    assert out.reveal() == "[]"


def test_text_without_interpolation_stays_plain(tmp_path):
    assert Interpolator(env={}).expand("no dollars", tmp_path) == "no dollars"
    assert Interpolator(env={}).expand("costs $5 {ok}", tmp_path) == "costs $5 {ok}"


def test_double_dollar_is_a_literal_and_not_a_secret(tmp_path):
    out = Interpolator(env={}).expand("$${env:HOME} and $${", tmp_path)

    assert out == "${env:HOME} and ${"
    assert not isinstance(out, Secret)


def test_literal_next_to_a_real_interpolation(tmp_path):
    out = Interpolator(env={"A": "x"}).expand("$${env:A}=${env:A}", tmp_path)

    assert out.reveal() == "${env:A}=x"


@pytest.mark.parametrize("text, summary", [
    ("${env:UNSET}", "Unset environment variable"),
    ("${env:}", "Invalid environment variable name"),
    ("${env:1ABC}", "Invalid environment variable name"),
    ("${env:A-B}", "Invalid environment variable name"),
    ("${vault:secret}", "Unknown interpolation"),
    ("${TOKEN}", "Unknown interpolation"),
    ("${}", "Unknown interpolation"),
    ("${env:TOKEN", "Unterminated interpolation"),
    ("${file:}", "Missing file path"),
])
def test_bad_interpolations_are_errors(tmp_path, text, summary):
    with pytest.raises(InterpolationError) as caught:
        Interpolator(env={"TOKEN": "x"}).expand(text, tmp_path)

    assert caught.value.summary == summary


@pytest.mark.parametrize("content, expected", [
    ("tok\n", "tok"),
    ("tok", "tok"),
    ("tok\r\n", "tok"),
    ("tok\n\n", "tok\n"),
    ("line1\nline2\n", "line1\nline2"),
    ("", ""),
])
def test_file_content_loses_one_trailing_newline(tmp_path, content, expected):
    (tmp_path / "secret.txt").write_text(content, encoding="utf-8", newline="")

    out = Interpolator(env={}).expand("${file:secret.txt}", tmp_path)

    assert out.reveal() == expected


# -- through the CLI: located errors ----------------------------------------------------

def test_unset_variable_is_a_located_error(project):
    text = one_header("${env:API_TOKEN}")
    spec(project, "c.yaml", text)

    found = errors(project)

    # both places that use it are reported, each at its own value
    line, column = locate(text, '"${env:API_TOKEN}"', prefix="  value: ")
    line2, column2 = locate(text, '"${env:API_TOKEN}"', prefix="X-Plain, value: ")
    assert found == [
        {"summary": "Unset environment variable", "where": f"specs/c.yaml:{line}:{column}",
         "attribute": "connection.c.configuration.auth.header.value",
         "detail": 'The environment variable "API_TOKEN" is not set. Set it before running '
                   "polyctl (an empty value counts as set)."},
        {"summary": "Unset environment variable", "where": f"specs/c.yaml:{line2}:{column2}",
         "attribute": "connection.c.configuration.headers[0].value",
         "detail": 'The environment variable "API_TOKEN" is not set. Set it before running '
                   "polyctl (an empty value counts as set)."},
    ]


def test_unset_variable_is_never_sent_as_literal_text(project):
    spec(project, "c.yaml", one_header("${env:API_TOKEN}"))

    result = invoke("plan", "--no-refresh", cwd=project)

    assert result.code == 1
    assert "Plan:" not in result.output


def test_set_but_empty_variable_validates(project):
    spec(project, "c.yaml", one_header("${env:API_TOKEN}"))

    assert errors(project, env={"API_TOKEN": ""}) == []


def test_variable_names_are_read_from_the_run_environment(project):
    spec(project, "c.yaml", """
        connections:
          c:
            name: C
            configuration: {url: "https://${env:API_HOST}/v1"}
        """)

    rc = changes_by_address(plan_json(project, env={"API_HOST": "h.example.com"}))["connection.c"]

    # the whole url came from the environment, so it is shown as sensitive
    assert rc["after"]["configuration"] == {"url": None}
    assert rc["after_sensitive"] == {"configuration": {"url": True}}


def test_file_is_read_relative_to_the_spec_file(project):
    spec(project, "team/c.yaml", one_header("${file:../secrets/token.txt}"))
    (project / "specs" / "secrets").mkdir()
    (project / "specs" / "secrets" / "token.txt").write_text("from-file\n")
    write_state(project, {"connection.c": resource("id-c", "C", {
        "url": "https://x.example.com",
        "auth": {"header": {"name": "Authorization", "value": secret("from-file")}},
        "headers": [{"name": "X-Plain", "value": secret("from-file")}]})})

    plan = plan_json(project)

    # trailing newline dropped: the digest matches the bare token, so nothing changes
    assert changes_by_address(plan)["connection.c"]["action"] == "no-op"


def test_missing_file_is_a_located_error(project):
    text = one_header("${file:nope.txt}")
    spec(project, "c.yaml", text)

    found = errors(project)

    line, column = locate(text, '"${file:nope.txt}"', prefix="  value: ")
    assert found[0] == {
        "summary": "File not found", "where": f"specs/c.yaml:{line}:{column}",
        "attribute": "connection.c.configuration.auth.header.value",
        "detail": '"nope.txt" does not exist (paths are relative to the spec file).'}
    assert len(found) == 2


def test_directory_is_not_a_file(project):
    (project / "specs" / "adir").mkdir()
    spec(project, "c.yaml", one_header("${file:adir}"))

    found = errors(project)

    assert {e["summary"] for e in found} == {"Not a file"}
    assert found[0]["detail"] == '"adir" is a directory.'


def test_binary_file_is_an_error(project):
    (project / "specs" / "key.bin").write_bytes(b"\xff\xfe\x00")
    spec(project, "c.yaml", one_header("${file:key.bin}"))

    assert {e["summary"] for e in errors(project)} == {"File is not UTF-8 text"}


def test_literal_dollar_brace_reaches_the_plan_unmasked(project):
    spec(project, "c.yaml", """
        connections:
          c:
            name: C
            configuration:
              url: https://x.example.com
              body: '{"template": "$${user}"}'
        """)

    rc = changes_by_address(plan_json(project))["connection.c"]

    assert rc["after"]["configuration"]["body"] == '{"template": "${user}"}'
    assert rc["after_sensitive"] == {}


@pytest.mark.parametrize("text, summary", [
    ("${env}", "Unknown interpolation"),
    ("${nope:x}", "Unknown interpolation"),
    ("${env:X", "Unterminated interpolation"),
])
def test_malformed_interpolation_is_a_located_error(project, text, summary):
    body = one_header(text)
    spec(project, "c.yaml", body)

    found = errors(project, env={"X": "x"})

    line, column = locate(body, f'"{text}"', prefix="  value: ")
    assert found[0]["summary"] == summary
    assert found[0]["where"] == f"specs/c.yaml:{line}:{column}"
    assert found[0]["attribute"] == "connection.c.configuration.auth.header.value"


@pytest.mark.parametrize("key, value", [
    ("name", '"${env:NAME}"'),
    ("organization", '"${env:ORG}"'),
    ("type", '"${env:TYPE}"'),
])
def test_interpolation_outside_configuration_is_an_error(project, key, value):
    text = ("connections:\n  c:\n    name: C\n" if key != "name" else "connections:\n  c:\n") + \
        f"    {key}: {value}\n    configuration: {{url: https://x.example.com}}\n"
    spec(project, "c.yaml", text)

    found = errors(project, env={"NAME": "n", "ORG": "o", "TYPE": "api"})

    line, column = locate(text, value)
    assert found == [{
        "summary": "Interpolation not allowed here", "where": f"specs/c.yaml:{line}:{column}",
        "attribute": f"connection.c.{key}",
        "detail": f"{key}: ${{…}} interpolation is only supported inside configuration."}]


def test_interpolated_values_are_sensitive_in_text_json_and_saved_plan(project):
    write_state(project, {})  # an empty state with this suite's salt
    (project / "specs" / "pw.txt").write_text("file-secret-value\n")
    spec(project, "c.yaml", """
        connections:
          c:
            name: C
            configuration:
              url: https://x.example.com
              healthcheck: "https://x.example.com/${env:HEALTH_PATH}"
              auth:
                basic: {username: "${file:pw.txt}"}
        """)
    env = {"HEALTH_PATH": "env-secret-value"}

    text = invoke("plan", "--no-refresh", cwd=project, env=env)
    plan = plan_json(project, env=env)
    saved = invoke("plan", "--no-refresh", "--out", "p.plan", cwd=project, env=env)

    assert text.code == 0 and saved.code == 0
    assert "+ healthcheck = (sensitive value)" in text.stdout
    assert "+ username = (sensitive value)" in text.stdout
    rc = changes_by_address(plan)["connection.c"]
    assert rc["after_sensitive"] == {
        "configuration": {"healthcheck": True, "auth": {"basic": {"username": True}}}}
    raw = (project / "p.plan").read_text()
    saved_after = json.loads(raw)["resource_changes"][0]["after"]["configuration"]
    # the saved plan keeps the salted digest (so apply can spot a changed secret)
    assert saved_after["auth"]["basic"]["username"] == {
        "$sensitive": digest_of("file-secret-value", SALT).value}
    for leak in ("env-secret-value", "file-secret-value"):
        assert leak not in text.output + json.dumps(plan) + raw


def test_interpolated_value_is_compared_by_digest_against_state(project):
    spec(project, "c.yaml", one_header("${env:API_TOKEN}"))
    write_state(project, {"connection.c": resource("id-c", "C", {
        "url": "https://x.example.com",
        "auth": {"header": {"name": "Authorization", "value": secret("v1")}},
        "headers": [{"name": "X-Plain", "value": secret("v1")}]})})

    same = changes_by_address(plan_json(project, env={"API_TOKEN": "v1"}))["connection.c"]
    rotated = changes_by_address(plan_json(project, env={"API_TOKEN": "v2"}))["connection.c"]

    assert same["action"] == "no-op"
    assert rotated["action"] == "update"
    assert [(c["path"], c["kind"], c["sensitive"]) for c in rotated["changes"]] == [
        (["configuration", "auth", "header", "value"], "update", True),
        (["configuration", "headers"], "remove", True),
        (["configuration", "headers"], "add", True),
    ]
    assert SALT not in json.dumps(rotated)
