"""Secrets — literal, `${env:…}`, `${file:…}`, schema-sensitive and masked by the API —
never appear in any output (text or JSON plan, apply progress, errors, show, state
commands) or any file polyctl writes (state, backup, journal, saved plan, imported
specs). The `pc` fixture scans everything again when each e2e test ends."""

from __future__ import annotations

import json
import signal

from e2e_helpers import Org, Polyctl, api_connection, wait_until, write

LITERAL = "literal-pw-Q1w2"
FROM_ENV = "env-token-E3r4"
FROM_FILE = "file-token-T5y6"
HEADER_ENV = "header-key-U7i8"
PG_PASSWORD = "pg-password-O9p0"
OAUTH = "oauth-secret-A1s2"
OUTSIDE = "outside-secret-D3f4"
ROTATED = "rotated-token-G5h6"


def _specs(pc: Polyctl, url: str = "https://s.example.com") -> None:
    write(pc.root / "specs" / "secrets" / "token.txt", FROM_FILE + "\n")
    pc.specs(f"""
        connections:
          basic:
            name: Basic
            configuration:
              url: {url}
              auth:
                basic: {{username: svc, password: {LITERAL}}}
          env:
            name: Env
            configuration:
              url: {url}/env
              auth:
                header: {{name: Authorization, value: "Bearer ${{env:TOKEN}}"}}
              headers:
                - {{name: X-Api-Key, value: "${{env:HEADER_KEY}}"}}
          file:
            name: File
            configuration:
              url: https://file.example.com
              auth:
                oauth:
                  client_id: cid
                  client_secret: "${{file:secrets/token.txt}}"
                  token_endpoint: https://file.example.com/token
              parameters:
                - {{name: key, value: "${{file:secrets/token.txt}}"}}
          oauth:
            name: OAuth
            configuration:
              url: https://oauth.example.com
              auth:
                oauth: {{client_id: cid, client_secret: {OAUTH}, token_endpoint: https://o.example.com/t}}
          pg:
            name: Warehouse
            type: postgresql
            configuration:
              hostname: db.example.com
              username: loader
              password: {PG_PASSWORD}
              database: analytics
              port: 5432
        """)


def test_secrets_never_leave_memory(pc: Polyctl, org: Org, sandbox, proxy_for) -> None:
    pc.env.update(TOKEN=FROM_ENV, HEADER_KEY=HEADER_ENV)
    pc.secrets |= {LITERAL, FROM_ENV, FROM_FILE, HEADER_ENV, PG_PASSWORD, OAUTH, OUTSIDE, ROTATED}
    _specs(pc)

    assert pc("validate").code == 0
    assert pc("plan").code == 0
    pc.plan_json()
    assert pc("plan", "--out", "first.json").code == 0
    assert pc("show", "first.json").code == 0
    assert pc("show", "first.json", "--json").code == 0
    assert pc("apply", "--auto-approve").code == 0
    live = org.by_name()
    assert live["Warehouse"]["configuration"]["password"] == "********"  # masked by the API
    assert live["Basic"]["configuration"]["auth"]["basic"]["password"] == "********"
    pc.assert_no_changes()  # masked values are not drift
    for args in (("show",), ("show", "--json"), ("state", "list"), ("state", "show", "connection.env"),
                 ("state", "show", "connection.pg"), ("state", "pull"), ("refresh",)):
        assert pc(*args).code == 0, args
    assert "(sensitive value)" in pc("state", "show", "connection.env").stdout

    # a secret-bearing value changed outside polyctl: drift is seen, never shown
    env_conn = live["Env"]
    org.sdk.connections.update(env_conn["id"], name="Env", configuration={
        "url": "https://s.example.com/env",
        "auth": {"header": {"name": "Authorization", "value": f"Bearer {FROM_ENV}"}},
        "headers": [{"name": "X-Api-Key", "value": OUTSIDE}]})
    drift = pc("plan")
    assert "# connection.env has changed" in drift.stdout
    assert "(sensitive value)" in drift.stdout
    drift_json = pc.plan_json()
    assert [d["address"] for d in drift_json["resource_drift"]] == ["connection.env"]
    pc.apply()

    # an update and a rotation (stale saved plan), then a crash that leaves a journal
    _specs(pc, url="https://s.example.com/v2")
    assert pc("plan", "--out", "second.json").code == 0
    pc.env["TOKEN"] = ROTATED
    stale = pc("apply", "second.json")
    assert stale.code == 1 and "stale" in stale.output.lower()
    pc.apply("--replace", "connection.oauth")
    pc.specs({"late": {"name": "Late", "configuration": api_connection(
        "https://late.example.com", secret="${env:TOKEN}")}}, file="late.yaml")
    proxy = proxy_for(sandbox, hold={("POST", "/api/connections")})
    running = pc.popen("apply", "--auto-approve", "--replace", "connection.env",
                       env={"POLYTOMIC_DEPLOYMENT_URL": proxy.url})
    assert wait_until(lambda: proxy.count_arrived("POST /api/connections") >= 1, timeout=60)
    running.signal(signal.SIGKILL)
    running.wait()
    assert pc.journal(), "the crash should leave a journal to scan"
    assert not pc.leaked_secrets()
    proxy.release()
    pc.apply()
    pc.assert_no_changes()

    # import --all of connections made outside: placeholders, never the values
    org.create("Outside", {"url": "https://outside.example.com",
                           "auth": {"basic": {"username": "u", "password": OUTSIDE}}})
    imported = pc("import", "--all", "--out", "specs/imported.yaml")
    assert imported.code == 0, imported.output
    text = (pc.root / "specs" / "imported.yaml").read_text()
    assert "${env:POLYCTL_OUTSIDE_AUTH_BASIC_PASSWORD}" in text

    # debug output and errors stay clean too
    assert pc("--debug", "plan").code == 1  # the imported spec's variable is unset
    pc.env["POLYCTL_OUTSIDE_AUTH_BASIC_PASSWORD"] = OUTSIDE
    assert pc("--debug", "apply", "--auto-approve").code == 0
    assert pc("destroy", "--auto-approve").code == 0

    state_files = [p for p in pc.written_files() if p.name.startswith("polyctl.state")]
    assert any(p.name.endswith(".backup") for p in state_files)
    plans = [json.loads((pc.root / f).read_text()) for f in ("first.json", "second.json")]
    assert all(p["kind"] == "polyctl-plan" for p in plans)
    leaks = pc.leaked_secrets()
    assert not leaks, leaks


def test_adopting_an_interrupted_create_stores_no_secret(pc: Polyctl, org: Org, sandbox,
                                                         proxy_for) -> None:
    """A create killed in flight lands; before the next run the spec changed (the secret
    was rotated), so the live connection is adopted as it is — its interpolated header
    value must still go into the state as a digest, never as text."""
    pc.env.update(HEADER_KEY=HEADER_ENV)
    pc.secrets |= {HEADER_ENV, ROTATED}
    pc.specs({"h": {"name": "H", "configuration": {
        "url": "https://h.example.com",
        "headers": [{"name": "X-Api-Key", "value": "${env:HEADER_KEY}"}]}}})
    proxy = proxy_for(sandbox, hold={("POST", "/api/connections")})
    running = pc.popen("apply", "--auto-approve", env={"POLYTOMIC_DEPLOYMENT_URL": proxy.url})
    assert wait_until(lambda: proxy.count_arrived("POST /api/connections") == 1, timeout=60)
    running.signal(signal.SIGKILL)  # its create is in flight
    running.wait()
    proxy.release()
    assert wait_until(lambda: len(org.connections()) == 1, timeout=30)  # it landed

    pc.env["HEADER_KEY"] = ROTATED
    rerun = pc("apply", "--auto-approve")
    assert rerun.code == 0, rerun.output
    assert "adopted connection" in rerun.stderr
    assert org.names() == ["H"]
    leaks = pc.leaked_secrets()
    assert not leaks, leaks
    pc.assert_no_changes()
