"""No secret value anywhere polyctl writes: stdout, stderr, the JSON plan, the saved
plan, the state and its backup — whether the secret was written literally in the spec,
came from the environment or from a file, or sits inside a set element."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from core_helpers import STATE_FILE, Result, assert_clean, invoke, spec

SPEC = """
connections:
  literal:
    name: Literal secrets
    configuration:
      url: https://literal.example.com
      auth:
        basic: {username: admin, password: "{password}"}
  oauth:
    name: OAuth
    configuration:
      url: https://oauth.example.com
      auth:
        oauth:
          client_id: polyctl
          client_secret: "{client_secret}"
          token_endpoint: https://oauth.example.com/token
          extra_form_data: [{name: audience, value: "${env:FORM_SECRET}"}]
  header:
    name: Header auth
    configuration:
      url: https://header.example.com
      auth:
        header: {name: Authorization, value: "{header_value}"}
  interpolated:
    name: Interpolated
    configuration:
      url: https://interpolated.example.com
      healthcheck: "https://interpolated.example.com/health?key=${env:ENV_SECRET}"
      auth:
        query: [{name: api_key, value: "${file:keys/query.txt}"}]
      headers:
        - {name: Accept, value: application/json}
        - {name: X-Api-Key, value: "${env:HEADER_SET_SECRET}"}
      parameters:
        - {name: token, value: "${file:keys/param.txt}"}
"""


def secrets(round: int) -> dict[str, str]:
    """Distinct, easy-to-grep secret strings per round (a rotation changes every one)."""
    return {key: f"{key.upper()}-s3cr3t-r{round}" for key in (
        "password", "client_secret", "header_value", "env_secret", "form_secret",
        "header_set_secret", "query_file", "param_file")}


def setup_round(project: Path, round: int) -> tuple[dict[str, str], dict[str, str]]:
    s = secrets(round)
    text = SPEC
    for key in ("password", "client_secret", "header_value"):
        text = text.replace("{" + key + "}", s[key])
    spec(project, "main.yaml", text)
    keys = project / "specs" / "keys"
    keys.mkdir(exist_ok=True)
    (keys / "query.txt").write_text(s["query_file"] + "\n")
    (keys / "param.txt").write_text(s["param_file"] + "\n")
    env = {"ENV_SECRET": s["env_secret"], "FORM_SECRET": s["form_secret"],
           "HEADER_SET_SECRET": s["header_set_secret"]}
    return s, env


def leaks(text: str, values) -> list[str]:
    return [v for v in values if v in text]


def files_written_by_polyctl(project: Path) -> dict[str, str]:
    """Everything in the project except the user's own specs and the sandbox database."""
    out = {}
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project)
        if path.is_file() and rel.parts[0] not in ("specs", ".polyctl"):
            out[rel.as_posix()] = path.read_bytes().decode("utf-8", "replace")
    return out


def test_no_secret_in_any_output_or_file(project, sandbox_env):
    all_secrets: list[str] = []
    outputs: list[tuple[str, Result]] = []

    def run(*args, env):
        result = invoke(*args, cwd=project, env={**sandbox_env, **env})
        outputs.append((" ".join(args), result))
        assert_clean(result)
        return result

    for round in (1, 2):
        values, env = setup_round(project, round)
        all_secrets += values.values()
        assert run("validate", env=env).code == 0
        assert run("validate", "--json", env=env).code == 0
        assert run("plan", "--no-refresh", env=env).code == 0
        plan_json = run("plan", "--no-refresh", "--json", env=env)
        assert plan_json.code == 0
        assert run("plan", "--no-refresh", "--out", f"round{round}.plan", env=env).code == 0
        assert run("show", f"round{round}.plan", env=env).code == 0
        assert run("show", f"round{round}.plan", "--json", env=env).code == 0
        applied = run("apply", "--auto-approve", env=env)
        assert applied.code == 0, applied.output
        assert run("plan", env=env).code == 0  # refreshed from the sandbox
        assert run("show", env=env).code == 0
        assert run("show", "--json", env=env).code == 0
        assert run("state", "pull", env=env).code == 0
        assert run("state", "show", "connection.interpolated", env=env).code == 0

    written = files_written_by_polyctl(project)
    assert {STATE_FILE, f"{STATE_FILE}.backup", "round1.plan", "round2.plan"} <= set(written)
    for command, result in outputs:
        assert leaks(result.stdout, all_secrets) == [], f"stdout of {command}"
        assert leaks(result.stderr, all_secrets) == [], f"stderr of {command}"
    for name, content in written.items():
        assert leaks(content, all_secrets) == [], name
    state = json.loads(written[STATE_FILE])
    backup = json.loads(written[f"{STATE_FILE}.backup"])
    assert len(backup["resources"]) == len(state["resources"]) == 4
    assert backup["serial"] < state["serial"]
    header = state["resources"]["connection.interpolated"]["configuration"]["headers"]
    assert {"name": "X-Api-Key", "value": {"$sensitive": header[1]["value"]["$sensitive"]}} \
        in header
    assert header[1]["value"]["$sensitive"].startswith("sha256:")


def test_a_rotated_secret_is_planned_as_a_change(project, sandbox_env):
    values, env = setup_round(project, 1)
    assert invoke("apply", "--auto-approve", cwd=project, env={**sandbox_env, **env}).code == 0
    values, env = setup_round(project, 2)

    result = invoke("plan", "--no-refresh", "--json", cwd=project, env={**sandbox_env, **env})

    plan = json.loads(result.stdout)
    actions = {rc["address"]: rc["action"] for rc in plan["resource_changes"]}
    assert actions == dict.fromkeys(["connection.header", "connection.interpolated",
                                     "connection.literal", "connection.oauth"], "update")
    changed = [c for rc in plan["resource_changes"] for c in rc["changes"]]
    assert all(c["sensitive"] for c in changed)
    assert leaks(result.output, values.values()) == []


@pytest.mark.parametrize("mistake", [
    "      urll: https://typo.example.com\n",
    "      headers: {{}}\n",
    "      body: '{{broken'\n",
])
def test_errors_in_a_spec_with_secrets_do_not_quote_it(project, mistake):
    values, env = setup_round(project, 1)
    text = (project / "specs" / "main.yaml").read_text()
    text = text.replace("      url: https://header.example.com\n",
                        "      url: https://header.example.com\n" + mistake.format())
    (project / "specs" / "main.yaml").write_text(text)

    for args in (("validate",), ("validate", "--json"), ("plan", "--no-refresh")):
        result = invoke(*args, cwd=project, env=env)
        assert result.code == 1
        assert leaks(result.output, values.values()) == [], args


def test_sensitive_value_with_the_wrong_type_is_not_echoed(project):
    spec(project, "c.yaml", """
        connections:
          c:
            name: C
            configuration:
              url: https://x.example.com
              auth:
                basic: {password: [the-listed-secret]}
                oauth: {client_secret: {k: the-mapped-secret}}
        """)

    result = invoke("validate", cwd=project)

    assert result.code == 1
    assert result.stderr.count("got a sensitive value.") == 2
    assert "the-listed-secret" not in result.output
    assert "the-mapped-secret" not in result.output


def test_invalid_url_built_from_the_environment_is_not_echoed(project):
    spec(project, "c.yaml", """
        connections:
          c:
            name: C
            configuration:
              url: "${env:SERVICE_URL}"
        """)

    result = invoke("validate", "--json", cwd=project,
                    env={"SERVICE_URL": "gopher://user:pa55word@internal-host"})

    assert result.code == 1
    assert "configuration.url: expected an http:// or https:// URL" in result.stdout
    assert "pa55word" not in result.output and "internal-host" not in result.output


def test_invalid_body_from_a_file_is_not_echoed(project):
    (project / "specs" / "body.json").write_text('{"token": "file-body-secret"\n')
    spec(project, "c.yaml", """
        connections:
          c:
            name: C
            configuration:
              url: https://x.example.com
              body: "${file:body.json}"
        """)

    result = invoke("validate", cwd=project)

    assert result.code == 1
    assert "configuration.body: expected valid JSON text" in result.stderr
    assert "file-body-secret" not in result.output
