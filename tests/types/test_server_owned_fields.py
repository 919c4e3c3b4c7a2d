"""Fields the server owns — `readOnly`, `readonly`, `hidden` without `api_field` — cannot
be written in a spec, are never sent, and are not drift when the API echoes them; and
defaults the server fills in for keys the spec left out are not drift either, while a
real out-of-band change of such a key still is."""

from __future__ import annotations

import json
from typing import Any

import polytomic
import yaml
from sandbox_proxy import SandboxProxy
from types_helpers import diagnostics, invoke, schema, server_owned, write

SECRETS = {"S3_SECRET": "owned-s3-secret-5b1f", "GMAIL_CLIENT_ID": "owned-gmail-id-77c0",
           "GMAIL_CLIENT_SECRET": "owned-gmail-cs-a9e2", "GMAIL_REFRESH": "owned-gmail-rt-31d4",
           "DB_PASSWORD": "owned-db-pw-0c6e"}

CONNECTIONS: dict[str, Any] = {
    "lake": {"name": "Lake", "type": "s3", "configuration": {
        "auth_mode": "access_key_and_secret", "s3_bucket_name": "s3://lake/raw",
        "s3_bucket_region": "us-east-1", "aws_access_key_id": "AKIAEXAMPLE",
        "aws_secret_access_key": "${env:S3_SECRET}"}},
    "mail": {"name": "Mail", "type": "gmail", "configuration": {
        "client_id": "${env:GMAIL_CLIENT_ID}", "client_secret": "${env:GMAIL_CLIENT_SECRET}",
        "oauth_refresh_token": "${env:GMAIL_REFRESH}"}},
    "hook": {"name": "Hook", "type": "webhook", "configuration": {
        "auth_method": "polytomic_secret", "url": "https://hooks.example.com/in"}},
}
# what the API may echo back without being asked (§5.8): server-owned fields
ECHOED = {"s3": {"aws_user": "arn:aws:iam::123456789012:user/polytomic", "external_id": "ext-81"},
          "gmail": {"user_email": "ops@example.com"},
          "webhook": {"secret": "********"}}


def owned_keys(type_id: str) -> set[str]:
    return {k for k, v in schema(type_id)["properties"].items() if server_owned(v)}


def specs(project, connections: dict[str, Any]) -> None:
    (project / "specs" / "main.yaml").write_text(
        yaml.safe_dump({"connections": connections}, sort_keys=False), encoding="utf-8")


def echo_server_owned(method: str, path: str, payload: Any) -> Any:
    if method == "GET" and path.startswith("/api/connections"):
        data = payload.get("data")
        for conn in data if isinstance(data, list) else [data]:
            if isinstance(conn, dict) and isinstance(conn.get("type"), dict):
                conn["configuration"].update(ECHOED.get(conn["type"]["id"], {}))
    return payload


# -- a spec cannot set them --------------------------------------------------------------

OWNED = [("notion", "workspace_name", "readOnly"), ("gmail", "user_email", "readonly"),
         ("gmail", "oauth_token_expiry", "hidden"), ("webhook", "secret", "readonly, sensitive"),
         ("upfluence", "oauth_refresh_token", "hidden, sensitive")]


def test_a_spec_setting_a_server_owned_field_is_rejected(project, types_env) -> None:
    lines, at = ["connections:"], {}
    required = {"webhook": ["auth_method: polytomic_secret", "url: https://hooks.example.com"],
                "upfluence": ["username: u@example.com", "password: \"${env:UPFLUENCE_PW}\""]}
    for i, (type_id, key, _) in enumerate(OWNED):
        lines += [f"  c{i}:", f"    name: C{i}", f"    type: {type_id}", "    configuration:",
                  f"      {key}: owned-value-{i}"]
        at[i] = len(lines)
        lines += [f"      {r}" for r in required.get(type_id, [])]
    # hidden *with* api_field is settable
    lines += ["  ok:", "    name: OK", "    type: gmail", "    configuration:",
              "      client_id: settable-through-api-field"]
    write(project / "specs" / "main.yaml", "\n".join(lines) + "\n")
    result = invoke("validate", cwd=project, env={**types_env, "UPFLUENCE_PW": "up-pw-1"})
    assert result.code == 1
    found = {d["attribute"]: d for d in diagnostics(result.stderr)}
    assert len(found) == len(OWNED), result.stderr
    for i, (type_id, key, flavour) in enumerate(OWNED):
        d = found[f"connection.c{i}.configuration.{key}"]
        assert d["summary"] == "Read-only attribute", (flavour, d)
        assert (d["file"], d["line"], d["column"]) == ("specs/main.yaml", at[i], 7)
        assert d["detail"] == f'"{key}" is set by Polytomic and cannot be written in a spec.'
        assert f"owned-value-{i}" not in result.output
    assert "connection.ok" not in result.stderr


# -- never sent, not drift when echoed ---------------------------------------------------


def test_server_owned_fields_echoed_back_are_not_drift_and_never_sent(
        project, types_sandbox) -> None:
    proxy = SandboxProxy(types_sandbox.url, rewrite=echo_server_owned)
    env = {"POLYTOMIC_DEPLOYMENT_URL": proxy.url, "POLYTOMIC_API_KEY": types_sandbox.api_key,
           **SECRETS}
    sdk = polytomic.Polytomic(token=types_sandbox.api_key, base_url=proxy.url, max_retries=0)
    try:
        specs(project, CONNECTIONS)
        applied = invoke("apply", "--auto-approve", cwd=project, env=env)
        assert applied.code == 0, applied.output
        # the proxy really echoes them
        listed = {c.name: c.configuration for c in sdk.connections.list().data}
        assert listed["Lake"]["aws_user"] == ECHOED["s3"]["aws_user"]
        assert listed["Hook"]["secret"] == "********"

        # the hidden OAuth expiry, written out of band, is really stored by the sandbox
        mail = next(c for c in sdk.connections.list().data if c.name == "Mail")
        sdk.connections.update(mail.id, name="Mail", type="gmail", configuration={
            "client_id": SECRETS["GMAIL_CLIENT_ID"],
            "client_secret": SECRETS["GMAIL_CLIENT_SECRET"],
            "oauth_refresh_token": SECRETS["GMAIL_REFRESH"],
            "oauth_token_expiry": "2030-01-01T00:00:00Z"})
        assert sdk.connections.get(mail.id).data.configuration["oauth_token_expiry"] == \
            "2030-01-01T00:00:00Z"

        replan = invoke("plan", "--detailed-exitcode", cwd=project, env=env)
        assert replan.code == 0, replan.output
        plan = json.loads(invoke("plan", "--json", cwd=project, env=env).stdout)
        assert plan["resource_drift"] == []
        state = json.loads(invoke("state", "pull", cwd=project, env=env).stdout)["resources"]
        for local, conn in CONNECTIONS.items():
            assert not owned_keys(conn["type"]) & set(state[f"connection.{local}"]["configuration"])

        # a change sends the spec's configuration: nothing the server owns
        changed = json.loads(json.dumps(CONNECTIONS))
        changed["lake"]["configuration"]["s3_bucket_name"] = "s3://lake/curated"
        changed["hook"]["configuration"]["url"] = "https://hooks.example.com/v2"
        changed["mail"]["configuration"]["client_id"] = "${env:GMAIL_CLIENT_ID_2}"
        specs(project, changed)
        env["GMAIL_CLIENT_ID_2"] = "owned-gmail-id-2-6a0d"
        updated = invoke("apply", "--auto-approve", cwd=project, env=env)
        assert updated.code == 0, updated.output
        assert "3 changed" in updated.stdout
        bodies = proxy.exchanges("POST") + proxy.exchanges("PUT")
        assert len(bodies) == 3 + 1 + 3  # creates, our out-of-band write, updates
        for sent in bodies:
            if sent.body["configuration"].get("oauth_token_expiry"):
                continue  # the out-of-band write above, not polyctl
            type_id = sent.body.get("type") or "gmail"
            assert not owned_keys(type_id) & set(sent.body["configuration"]), sent
        assert invoke("plan", "--detailed-exitcode", cwd=project, env=env).code == 0
    finally:
        proxy.stop()


# -- server defaults ---------------------------------------------------------------------

POSTGRES = {"db": {"name": "DB", "type": "postgresql", "configuration": {
    "hostname": "db.example.com", "username": "app", "password": "${env:DB_PASSWORD}",
    "database": "app", "port": 5432}}}
DEFAULTED = {"ssl": True, "ssh_user": "root", "ssh_port": 22, "client_certs": False,
             "change_detection": False}


def test_server_defaults_for_keys_the_spec_left_out_are_not_drift(
        project, types_sandbox, types_env) -> None:
    env = {**types_env, **SECRETS}
    sdk = polytomic.Polytomic(token=types_sandbox.api_key, base_url=types_sandbox.url,
                              max_retries=0)
    specs(project, POSTGRES)
    assert invoke("apply", "--auto-approve", cwd=project, env=env).code == 0
    [db] = sdk.connections.list().data
    live = sdk.connections.get(db.id).data.configuration
    assert {k: live[k] for k in DEFAULTED} == DEFAULTED  # filled in by the server
    clean = invoke("plan", "--detailed-exitcode", cwd=project, env=env)
    assert clean.code == 0, clean.output
    assert "No changes." in clean.stdout

    # the spec may also say the default itself: still nothing to do
    explicit = json.loads(json.dumps(POSTGRES))
    explicit["db"]["configuration"]["ssl"] = True
    specs(project, explicit)
    assert invoke("plan", "--detailed-exitcode", cwd=project, env=env).code == 0

    # a value other than the default, set outside polyctl, is a real change
    specs(project, POSTGRES)
    sdk.connections.update(db.id, name="DB", type="postgresql", configuration={
        **{k: v for k, v in live.items() if k != "password"},
        "password": SECRETS["DB_PASSWORD"], "ssl": False})
    drifted = invoke("plan", "--json", cwd=project, env=env)
    plan = json.loads(drifted.stdout)
    [drift] = plan["resource_drift"]
    assert [c["path"] for c in drift["changes"]] == [["configuration", "ssl"]]
    [change] = [rc for rc in plan["resource_changes"] if rc["address"] == "connection.db"]
    assert change["action"] == "update"
    assert invoke("apply", "--auto-approve", cwd=project, env=env).code == 0
    assert sdk.connections.get(db.id).data.configuration["ssl"] is True  # the default again
    assert invoke("plan", "--detailed-exitcode", cwd=project, env=env).code == 0
