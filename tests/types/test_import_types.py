"""`import --all` adopts connections of any type: specs written per type with every
secret as an `${env:…}` placeholder (the variables listed), and once they are set the
specs validate against each type's schema and the next plan only sends the secrets."""

from __future__ import annotations

import json
import re

import polytomic
import pytest
import yaml
from types_helpers import ENV_REF, invoke, schema, sensitive, server_owned

# created outside polyctl, with the official SDK; secrets are what the scan looks for
CREATED = {
    "Warehouse": ("postgresql", {"hostname": "db.example.com", "username": "etl",
                                 "password": "imp-pg-pw-4c1a", "database": "dw", "port": 5432}),
    "Affiliates": ("strackr", {"api_id": 48213377, "api_key": "imp-strackr-key-9e0b",
                               "currency_type": "EUR"}),
    "Lake": ("s3", {"auth_mode": "access_key_and_secret", "s3_bucket_name": "s3://lake/raw",
                    "s3_bucket_region": "eu-west-1", "aws_access_key_id": "AKIAIMPORT",
                    "aws_secret_access_key": "imp-s3-secret-77d2"}),
    "Support": ("zendesk_support", {"domain": "acme.zendesk.com", "auth_method": "oauth",
                                    "oauth_refresh_token": "imp-zd-refresh-1f3c",
                                    # set by Polytomic's OAuth flow, never by a spec
                                    "oauth_token_expiry": "2030-01-01T00:00:00Z"}),
    "Drop": ("sftp", {"auth_mode": "password", "ssh_host": "sftp.example.com",
                      "ssh_user": "drop", "ssh_password": "imp-sftp-pw-20ae"}),
}
SECRET_VALUES = {"imp-pg-pw-4c1a", "48213377", "imp-strackr-key-9e0b", "imp-s3-secret-77d2",
                 "imp-zd-refresh-1f3c", "imp-sftp-pw-20ae"}


def secret_keys(type_id: str, configuration: dict) -> set[str]:
    props = schema(type_id)["properties"]
    return {k for k in configuration if sensitive(props[k]) and not server_owned(props[k])}


@pytest.fixture
def imported(project, types_sandbox, types_env):
    sdk = polytomic.Polytomic(token=types_sandbox.api_key, base_url=types_sandbox.url,
                              max_retries=0)
    ids = {}
    for name, (type_id, configuration) in CREATED.items():
        ids[name] = sdk.connections.create(name=name, type=type_id,
                                           configuration=configuration).data.id
    result = invoke("import", "--all", "--out", "specs/imported.yaml", cwd=project, env=types_env)
    return result, ids, sdk


def test_import_all_writes_a_spec_per_type_with_secret_placeholders(project, imported) -> None:
    result, ids, _ = imported
    assert result.code == 0, result.output
    assert "Imported 5 connection(s)" in result.stdout
    text = (project / "specs" / "imported.yaml").read_text()
    blocks = yaml.safe_load(text)["connections"]
    by_name = {b["name"]: b for b in blocks.values()}
    assert set(by_name) == set(CREATED)

    listed_out = re.findall(r"^  (POLYCTL_[A-Z0-9_]+)$", result.stdout, re.M)
    listed_file = re.findall(r"^#   (POLYCTL_[A-Z0-9_]+)$", text, re.M)
    assert listed_out == listed_file and len(set(listed_out)) == len(listed_out)
    placeholders = []
    for name, (type_id, configuration) in CREATED.items():
        block = by_name[name]
        assert block["type"] == type_id
        written = block["configuration"]
        for key in secret_keys(type_id, configuration):
            m = ENV_REF.match(str(written.get(key)))
            assert m, f"{name}.{key} is sensitive: {written.get(key)!r}"
            placeholders.append(m.group(1))
        for key, value in configuration.items():
            if key not in secret_keys(type_id, configuration) and \
                    not server_owned(schema(type_id)["properties"][key]):
                assert written[key] == value, (name, key)
    assert sorted(placeholders) == sorted(listed_out)
    for secret in SECRET_VALUES:
        assert secret not in text and secret not in result.output
        assert secret not in (project / "polyctl.state.json").read_text()

    state = json.loads((project / "polyctl.state.json").read_text())["resources"]
    assert {r["id"] for r in state.values()} == set(ids.values())


def test_imported_specs_validate_and_the_next_plan_only_sends_secrets(
        project, imported, types_env) -> None:
    result, ids, sdk = imported
    assert result.code == 0, result.output
    text = (project / "specs" / "imported.yaml").read_text()
    blocks = yaml.safe_load(text)["connections"]
    env = dict(types_env)
    for local, block in blocks.items():
        type_id, configuration = CREATED[block["name"]]
        for key, value in block["configuration"].items():
            m = ENV_REF.match(str(value))
            if m:
                env[m.group(1)] = str(configuration[key])

    unset = invoke("validate", cwd=project, env=types_env)
    assert unset.code == 1 and "POLYCTL_" in unset.stderr  # the variables are needed

    valid = invoke("validate", cwd=project, env=env)
    assert valid.code == 0, valid.output
    assert "not checked" not in valid.output

    plan = json.loads(invoke("plan", "--json", cwd=project, env=env).stdout)
    actions = {rc["address"]: rc["action"] for rc in plan["resource_changes"]}
    assert set(actions.values()) <= {"update", "state-only", "no-op"}, actions
    for rc in plan["resource_changes"]:
        type_id, configuration = CREATED[rc["after"]["name"]]
        content = [tuple(c["path"]) for c in rc["changes"] if c["path"][0] != "force_destroy"]
        expected = {("configuration", k) for k in secret_keys(type_id, configuration)}
        assert set(content) == expected, (rc["address"], content)
        assert all(c["sensitive"] for c in rc["changes"] if c["path"][0] == "configuration")
    shown = invoke("plan", cwd=project, env=env)
    assert "(sensitive value)" in shown.stdout
    for secret in SECRET_VALUES:
        assert secret not in shown.output

    applied = invoke("apply", "--auto-approve", cwd=project, env=env)
    assert applied.code == 0, applied.output
    assert "0 added" in applied.stdout and "0 destroyed" in applied.stdout
    assert len(sdk.connections.list().data) == len(CREATED)  # updated, not re-created
    clean = invoke("plan", "--detailed-exitcode", cwd=project, env=env)
    assert clean.code == 0, clean.output
    assert "oauth_token_expiry" not in text  # server-owned: not the spec's to say
