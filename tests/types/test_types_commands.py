"""`polyctl types list | show ID | scaffold ID` as a person reads them: every type listed,
a field table with name, type, required, default, sensitive and description, and a
commented spec skeleton whose commented-out parts are themselves valid when enabled."""

from __future__ import annotations

import re

import pytest
import yaml
from types_helpers import (
    CONNECTION_TYPES, NAMES, TYPE_IDS, diagnostics, enum_values, invoke, schema, settable, write,
)

COLUMNS = ("FIELD", "TYPE", "REQUIRED", "DEFAULT", "SENSITIVE", "DESCRIPTION")


def table(stdout: str) -> dict[str, dict[str, str]]:
    """`types show`'s rows by field, cut at the header's column starts."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("FIELD"))
    starts = [lines[header].index(c) for c in COLUMNS] + [None]
    rows = {}
    for line in lines[header + 1:]:
        if line.strip():
            cells = [line[starts[i]:starts[i + 1]].strip() for i in range(len(COLUMNS))]
            rows[cells[0]] = dict(zip(COLUMNS, cells))
    return rows


def test_types_list_names_every_type_of_the_folder(project, types_env) -> None:
    result = invoke("types", "list", cwd=project, env=types_env)
    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME"]
    listed = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in lines[1:]}
    assert set(listed) == set(TYPE_IDS) and len(lines) == 227
    assert all(listed[t] == NAMES[t] for t in TYPE_IDS)
    assert [line.split()[0] for line in lines[1:]] == sorted(TYPE_IDS)


def test_types_list_with_the_embedded_sandbox(project) -> None:
    env = {"POLYCTL_SANDBOX_CONNECTION_TYPES": str(CONNECTION_TYPES)}
    result = invoke("--sandbox", "types", "list", cwd=project, env=env)
    assert result.code == 0, result.output
    assert {line.split()[0] for line in result.stdout.splitlines()[1:]} == set(TYPE_IDS)


def test_types_show_postgresql(project, types_env) -> None:
    result = invoke("types", "show", "postgresql", cwd=project, env=types_env)
    assert result.code == 0, result.output
    assert result.stdout.startswith("Connection type postgresql\n")
    rows = table(result.stdout)
    assert list(rows) == list(settable(schema("postgresql")))  # every field, schema order
    assert rows["password"] == {"FIELD": "password", "TYPE": "string", "REQUIRED": "yes",
                                "DEFAULT": "", "SENSITIVE": "yes", "DESCRIPTION": "Password"}
    assert rows["port"]["TYPE"] == "integer" and rows["port"]["DEFAULT"] == "5432"
    assert rows["port"]["REQUIRED"] == "yes" and rows["port"]["SENSITIVE"] == ""
    assert (rows["ssl"]["TYPE"], rows["ssl"]["REQUIRED"], rows["ssl"]["DEFAULT"]) == (
        "boolean", "", "true")
    assert rows["ssh_user"]["DEFAULT"] == '"root"'
    assert rows["hostname"]["DESCRIPTION"] == "Hostname" and rows["hostname"]["REQUIRED"] == "yes"
    sensitive = {f for f, r in rows.items() if r["SENSITIVE"] == "yes"}
    assert sensitive == {"password", "ssh_private_key", "client_certificate", "client_key",
                         "ca_cert"}


def test_types_show_nested_fields_sets_enums_and_no_server_owned_ones(project, types_env) -> None:
    rows = table(invoke("types", "show", "webhook", cwd=project, env=types_env).stdout)
    assert rows["auth_method"]["DEFAULT"] == '"polytomic_secret"'
    assert "one of: polytomic_secret, basic" in rows["auth_method"]["DESCRIPTION"]
    assert rows["basic.password"]["TYPE"] == "string"
    assert rows["headers"]["TYPE"] == "set of object" and "headers[].name" in rows
    assert rows["oauth.scopes"]["TYPE"] == "list of string"
    assert "secret" not in rows  # readonly: set by Polytomic
    gmail = table(invoke("types", "show", "gmail", cwd=project, env=types_env).stdout)
    assert "client_id" in gmail and gmail["client_id"]["SENSITIVE"] == "yes"  # hidden+api_field
    assert "user_email" not in gmail and "oauth_token_expiry" not in gmail


def test_types_show_an_unknown_type_suggests_the_closest(project, types_env) -> None:
    result = invoke("types", "show", "postgres", cwd=project, env=types_env)
    assert result.code == 1
    assert 'Error: Unknown connection type' in result.stderr
    assert '"postgres" is not a Polytomic connection type. Did you mean "postgresql"' in result.stderr


def test_scaffold_with_an_enum_and_nested_objects(project, types_env) -> None:
    """webhook: an enum (auth_method) and nested blocks (basic, header, oauth). The
    required fields are filled; each nested block is written commented out, and enabling
    one (with the enum value that selects it) gives a valid spec."""
    result = invoke("types", "scaffold", "webhook", "--name", "hook", cwd=project, env=types_env)
    assert result.code == 0, result.output
    text = result.stdout
    block = yaml.safe_load(text)["connections"]["hook"]
    assert block == {"name": "My webhook", "type": "webhook", "configuration": {
        "auth_method": "polytomic_secret", "url": "https://example.com/webhook"}}
    enum = enum_values(schema("webhook")["properties"]["auth_method"])
    comment = next(line for line in text.splitlines() if "Authentication method" in line)
    assert "(required); one of: " + ", ".join(enum[:4]) in comment
    for nested in ("basic", "header", "oauth"):
        assert f"      # {nested}:\n" in text
    assert "        # username: user@example.com\n" in text  # its fields, one level deeper

    enabled = text.replace("auth_method: polytomic_secret", "auth_method: basic")
    enabled = re.sub(r"^      # basic:$", "      basic:", enabled, flags=re.M)
    enabled = re.sub(r"^        # (username|password): ", r"        \1: ", enabled, flags=re.M)
    write(project / "specs" / "hook.yaml", enabled)
    valid = invoke("validate", cwd=project, env=types_env)
    assert valid.code == 0, valid.output
    config = yaml.safe_load(enabled)["connections"]["hook"]["configuration"]
    assert config["basic"] == {"password": "secret", "username": "user@example.com"}

    broken = enabled.replace("auth_method: basic", "auth_method: basik")
    write(project / "specs" / "hook.yaml", broken)
    [d] = diagnostics(invoke("validate", cwd=project, env=types_env).stderr)
    assert d["attribute"] == "connection.hook.configuration.auth_method"
    assert all(f'"{v}"' in d["detail"] for v in enum)


def test_scaffold_secrets_are_placeholders_named_after_the_local_name(project, types_env) -> None:
    result = invoke("types", "scaffold", "postgresql", "--name", "warehouse", cwd=project,
                    env=types_env)
    assert result.code == 0, result.output
    config = yaml.safe_load(result.stdout)["connections"]["warehouse"]["configuration"]
    assert config["password"] == "${env:POLYCTL_WAREHOUSE_PASSWORD}"
    assert '# ssh_private_key: "${env:POLYCTL_WAREHOUSE_SSH_PRIVATE_KEY}"' in result.stdout


@pytest.mark.parametrize("type_id", ["intercom", "notion"])
def test_scaffold_of_a_type_that_needs_no_settings(project, types_env, type_id: str) -> None:
    result = invoke("types", "scaffold", type_id, cwd=project, env=types_env)
    assert result.code == 0, result.output
    assert yaml.safe_load(result.stdout)["connections"][f"my_{type_id}"]["configuration"] == {}
    write(project / "specs" / "main.yaml", result.stdout)
    assert invoke("validate", cwd=project, env=types_env).code == 0
