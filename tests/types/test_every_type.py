"""Every connection type of the contract's folder, end to end: its scaffold fills the
required fields from the schema's examples and validates; all 226 connections are
created in one apply and re-plan to no changes; no secret appears in any output or
file; nothing server-owned is ever sent. (One batched run: see conftest.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from types_helpers import (
    ENV_REF, NAMES, PLAN_FILE, TYPE_IDS, diagnostics, display_name, expected_keys, local_name,
    required_settable, scaffold_block, schema, sensitive, server_owned, settable,
)

by_type = pytest.mark.parametrize("type_id", TYPE_IDS)
# types with a settable top-level secret (the apply's spec sets every one of them)
SECRET_TYPES = [t for t in TYPE_IDS if any(sensitive(n) for n in settable(schema(t)).values())]
SECRET_SCAN_RUNS = ("validate_scaffolds", "validate", "plan", "show_plan", "show_plan_json", "apply", "replan",
                    "show", "show_json", "state_pull")


@pytest.fixture(scope="module")
def seen(every_type) -> dict[str, Any]:
    """The run's JSON outputs parsed once, keyed for the per-type tests."""
    runs = every_type["runs"]
    return {
        "state": json.loads(runs["state_pull"]["stdout"])["resources"],
        "replan": {rc["address"]: rc
                   for rc in json.loads(runs["replan"]["stdout"])["resource_changes"]},
        "drift": json.loads(runs["replan"]["stdout"])["resource_drift"],
        "live": {c["name"]: c for c in every_type["live"]},
        "sent": {s["body"]["name"]: s for s in every_type["sent"]},
    }


def test_the_folder_holds_226_types_with_a_schema_each() -> None:
    assert len(TYPE_IDS) == len(set(TYPE_IDS)) == 226
    assert all(schema(t)["type"] == "object" for t in TYPE_IDS)
    assert len(SECRET_TYPES) == 213


# -- 1. scaffolds -----------------------------------------------------------------------


def _check_object(type_id: str, node: dict[str, Any], value: Any, path: tuple, *,
                  top: bool) -> None:
    where = ".".join(("configuration",) + path)
    assert isinstance(value, dict), f"{where}: {value!r}"
    assert set(value) == expected_keys(node, top=top), \
        f"{where}: written {sorted(value)}, required {sorted(expected_keys(node, top=top))}"
    props = settable(node)
    for key, item in value.items():
        sub = props[key]
        if sensitive(sub):
            assert isinstance(item, str) and ENV_REF.match(item), \
                f"{where}.{key} is sensitive: expected an ${{env:…}} placeholder, got {item!r}"
        elif sub.get("type") == "object" and sub.get("properties"):
            _check_object(type_id, sub, item, path + (key,), top=False)
        elif sub.get("examples"):
            assert item == sub["examples"][0], f"{where}.{key}: {item!r} is not the first example"


@by_type
def test_scaffold_fills_required_fields_from_examples(every_type, type_id: str) -> None:
    run = every_type["scaffolds"][type_id]
    assert run["code"] == 0, run["stderr"]
    block = scaffold_block(run["stdout"], type_id)
    assert block["name"] == display_name(type_id) and block["type"] == type_id
    configuration = block["configuration"] or {}
    _check_object(type_id, schema(type_id), configuration, (), top=True)
    assert configuration or not required_settable(schema(type_id))


@by_type
def test_scaffold_validates_with_its_variables_set(every_type, type_id: str) -> None:
    for label, count in (("validate_scaffolds", "scaffolds/"), ("validate", "specs/")):
        run = every_type["runs"][label]
        address = f"connection.{local_name(type_id)}"
        mine = [d for d in diagnostics(run["stdout"] + run["stderr"])
                if d["attribute"] == address or (d["attribute"] or "").startswith(address + ".")]
        assert not mine, (label, mine)
        assert run["code"] == 0, run["stderr"]
        assert f"Success! 226 connections in {count} (1 file) are valid." in run["stdout"]


@pytest.mark.parametrize("type_id", ["strackr"])
def test_an_integer_secret_is_given_a_number(every_type, type_id: str) -> None:
    """strackr.api_id is an integer and sensitive: its variable holds digits, and the
    interpolated string is converted (the spec validates, the API gets a number)."""
    [(var, value)] = [(k, v) for k, v in every_type["secrets"][type_id].items()
                      if k.endswith("API_ID")]
    assert value.isdigit()
    [sent] = [s for s in every_type["sent"] if s["body"]["name"] == display_name(type_id)]
    assert sent["body"]["configuration"]["api_id"] == int(value)
    assert every_type["runs"]["validate_scaffolds"]["code"] == 0


# -- 3. apply all, then no changes -----------------------------------------------------


def test_one_apply_creates_all_226_and_the_replan_is_clean(every_type) -> None:
    runs = every_type["runs"]
    assert runs["plan"]["code"] == 0, runs["plan"]["stderr"]
    assert "Plan: 226 to add, 0 to change, 0 to destroy." in runs["plan"]["stdout"]
    assert runs["apply"]["code"] == 0, runs["apply"]["stderr"]
    assert "Apply complete! Resources: 226 added, 0 changed, 0 destroyed." in runs["apply"]["stdout"]
    assert runs["replan"]["code"] == 0, runs["replan"]["stdout"] + runs["replan"]["stderr"]
    replan = json.loads(runs["replan"]["stdout"])
    assert replan["has_changes"] is False and replan["resource_drift"] == []
    assert len(replan["resource_changes"]) == 226
    assert len(every_type["live"]) == 226
    assert sorted(c["type"]["id"] for c in every_type["live"]) == sorted(TYPE_IDS)


@by_type
def test_created_in_the_sandbox_and_replanned_as_no_op(seen, type_id: str) -> None:
    live = seen["live"][display_name(type_id)]
    assert live["type"]["id"] == type_id and live["type"]["name"] == NAMES[type_id]
    address = f"connection.{local_name(type_id)}"
    assert seen["state"][address]["id"] == live["id"]
    assert seen["state"][address]["type"] == type_id
    assert seen["replan"][address]["action"] == "no-op", seen["replan"][address]
    assert not [d for d in seen["drift"] if d["address"] == address]


# -- 4. secrets never appear -----------------------------------------------------------


@pytest.mark.parametrize("type_id", SECRET_TYPES)
def test_no_secret_value_appears_in_any_output_or_file(every_type, seen, type_id: str) -> None:
    secrets = every_type["secrets"][type_id]
    top = {k for k, n in settable(schema(type_id)).items() if sensitive(n)}
    sent = seen["sent"][display_name(type_id)]["body"]["configuration"]
    assert top <= set(sent), "every top-level secret is set"
    assert len(secrets) >= len(top)
    texts = {f"polyctl {' '.join(r['args'])}": r["stdout"] + r["stderr"]
             for label, r in every_type["runs"].items() if label in SECRET_SCAN_RUNS}
    texts.update(every_type["files"])
    assert PLAN_FILE in every_type["files"] and "polyctl.state.json" in every_type["files"]
    assert "polyctl.state.json.backup" in every_type["files"]
    assert '"op":"create"' in every_type["files"]["polyctl.state.json.journal (during apply)"]
    leaks = [f"{where}: {value}" for where, text in texts.items()
             for value in secrets.values() if value in text]
    assert not leaks, leaks
    # ... and yet each was sent as set, and its digest is in the state
    for key in top:
        assert str(sent[key]) in secrets.values(), key
        stored = seen["state"][f"connection.{local_name(type_id)}"]["configuration"][key]
        assert stored["$sensitive"].startswith("sha256:"), (key, stored)


def test_secrets_are_shown_as_sensitive_value(every_type) -> None:
    for label in ("plan", "show_plan", "apply", "show"):
        assert "(sensitive value)" in every_type["runs"][label]["stdout"], label


# -- 6. server-owned fields are never sent ---------------------------------------------


@by_type
def test_never_sends_a_read_only_or_hidden_field(seen, type_id: str) -> None:
    sent = seen["sent"][display_name(type_id)]
    assert sent["method"] == "POST" and sent["body"]["type"] == type_id
    raw = schema(type_id)
    owned = {k for k, v in (raw.get("properties") or {}).items() if server_owned(v)}
    configuration = sent["body"]["configuration"]
    assert not owned & set(configuration)
    assert set(configuration) <= set(settable(raw))
    # what the sandbox stored came from us, or is a default it filled in itself
    live = seen["live"][display_name(type_id)]
    for key in owned & set(live["configuration"]):
        assert live["configuration"][key] == raw["properties"][key].get("default"), key
