"""Golden files pin the text and JSON plan for a fixed spec set and a fixed state.

`fixtures/golden/` holds the specs (one connection per action) and the state (fixed
lineage, salt and ids, so nothing needs normalising but the polyctl version in the
JSON). Regenerate after an intended change with:

    POLYCTL_UPDATE_GOLDEN=1 python -m pytest tests/core/test_golden.py

and review the diff of `tests/core/golden/` like code.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from core_helpers import assert_clean, invoke

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
FIXTURE = HERE / "fixtures" / "golden"
UPDATE = os.environ.get("POLYCTL_UPDATE_GOLDEN") == "1"
ENV = {"GOLDEN_TOKEN": "golden-token-value"}
SECRETS = ("golden-token-value", "rotated-client-secret", "old-client-secret",
           "legacy-password")


@pytest.fixture
def golden_project(project: Path) -> Path:
    shutil.rmtree(project / "specs")
    shutil.copytree(FIXTURE / "specs", project / "specs")
    state = project / "polyctl.state.json"
    shutil.copyfile(FIXTURE / "state.json", state)
    state.chmod(0o600)
    return project


def check(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with POLYCTL_UPDATE_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (f"{name} differs from the golden file; if the change is "
                                "intended, regenerate with POLYCTL_UPDATE_GOLDEN=1")


def normalised_json(text: str) -> str:
    data = json.loads(text)
    data["polyctl_version"] = "<polyctl version>"
    return json.dumps(data, indent=2) + "\n"


def test_text_plan_matches_golden(golden_project):
    result = invoke("plan", "--no-refresh", cwd=golden_project, env=ENV)

    assert result.code == 0, result.output
    assert_clean(result)
    assert result.stderr == ""
    check("plan.txt", result.stdout)


def test_json_plan_matches_golden(golden_project):
    result = invoke("plan", "--no-refresh", "--json", cwd=golden_project, env=ENV)

    assert result.code == 0, result.output
    check("plan.json", normalised_json(result.stdout))


def test_saved_plan_renders_the_same_text_and_json(golden_project):
    saved = invoke("plan", "--no-refresh", "--out", "golden.plan", cwd=golden_project, env=ENV)
    text = invoke("show", "golden.plan", cwd=golden_project)
    as_json = invoke("show", "golden.plan", "--json", cwd=golden_project)

    assert saved.code == text.code == as_json.code == 0, saved.output + text.output
    assert saved.stdout.startswith(text.stdout)
    assert saved.stdout[len(text.stdout):] == (
        "\nSaved the plan to: golden.plan\n"
        "To perform exactly these actions, run: polyctl apply golden.plan\n")
    if not UPDATE:
        assert text.stdout == (GOLDEN / "plan.txt").read_text(encoding="utf-8")
        assert normalised_json(as_json.stdout) == (GOLDEN / "plan.json").read_text(
            encoding="utf-8")


def test_golden_plan_covers_every_action():
    plan = json.loads((GOLDEN / "plan.json").read_text(encoding="utf-8"))

    actions = {rc["address"]: rc["action"] for rc in plan["resource_changes"]}
    assert actions == {
        "connection.billing": "update", "connection.guarded": "state-only",
        "connection.legacy": "delete", "connection.new_api": "create",
        "connection.steady": "no-op", "connection.warehouse": "replace"}
    billing = {tuple(c["path"]): c for c in
               next(rc for rc in plan["resource_changes"]
                    if rc["address"] == "connection.billing")["changes"]}
    assert ("configuration", "auth", "oauth", "token_endpoint") in billing  # nested
    assert billing[("configuration", "auth", "oauth", "client_secret")]["sensitive"]
    assert billing[("configuration", "headers")]["kind"] in ("add", "remove")  # set
    assert plan["summary"] == {"add": 2, "change": 2, "destroy": 2}


def test_golden_files_hold_no_secret():
    for path in [*GOLDEN.iterdir(), FIXTURE / "state.json"]:
        text = path.read_text(encoding="utf-8")
        for secret in SECRETS:
            assert secret not in text, f"{secret} in {path}"
