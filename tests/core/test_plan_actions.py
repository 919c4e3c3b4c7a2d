"""Every plan action, through `plan --no-refresh` (JSON and text) against hand-made
state: create, update, replace, delete, no-op, state-only; ignore_changes;
prevent_destroy (also after the spec block is gone); force_destroy warnings;
--target, --replace, --destroy and --detailed-exitcode."""

from __future__ import annotations

import pytest
from core_helpers import (
    ORG, OTHER_ORG, assert_clean, changes_by_address, invoke, plan_json, read_state, resource,
    spec, write_state,
)

URL = "https://c.example.com"


def one(name: str = "C", *, extra: str = "", configuration: str = f"{{url: {URL}}}") -> str:
    return (f"connections:\n  c:\n    name: {name}\n{extra}"
            f"    configuration: {configuration}\n")


def state_with(project, **kw) -> None:
    write_state(project, {"connection.c": resource("id-c", kw.pop("name", "C"),
                                                   {"url": URL}, **kw)})


def the_change(project, *args: str) -> dict:
    return changes_by_address(plan_json(project, *args))["connection.c"]


def text_plan(project, *args: str, env=None):
    result = invoke("plan", "--no-refresh", *args, cwd=project, env=env)
    assert_clean(result)
    return result


# -- create / update / delete / no-op -----------------------------------------------------

def test_create(project):
    spec(project, "c.yaml", one())

    rc = the_change(project)
    text = text_plan(project).stdout

    assert (rc["action"], rc["actions"], rc["before"], rc["id"]) == ("create", ["create"], None, None)
    assert rc["after"] == {"name": "C", "type": "api", "organization": None,
                           "force_destroy": False,
                           "lifecycle": {"prevent_destroy": False,
                                         "create_before_destroy": False, "ignore_changes": []},
                           "configuration": {"url": URL}}
    assert "  # connection.c will be created\n  + resource \"connection\" \"c\" {\n" in text
    assert "      + id            = (known after apply)\n" in text
    assert text.endswith("Plan: 1 to add, 0 to change, 0 to destroy.\n")


def test_update_in_place(project):
    state_with(project, name="Old")
    spec(project, "c.yaml", one("New", configuration=f"{{url: {URL}, healthcheck: /up}}"))

    rc = the_change(project)
    text = text_plan(project).stdout

    assert (rc["action"], rc["actions"], rc["id"]) == ("update", ["update"], "id-c")
    assert [(c["path"], c["kind"], c["before"], c["after"]) for c in rc["changes"]] == [
        (["configuration", "healthcheck"], "add", None, "/up"),
        (["name"], "update", "Old", "New"),
    ]
    assert "  # connection.c will be updated in-place\n" in text
    assert '      ~ name          = "Old" -> "New"\n' in text
    assert '          + healthcheck = "/up"\n' in text
    assert text.endswith("Plan: 0 to add, 1 to change, 0 to destroy.\n")


def test_delete(project):
    state_with(project)

    rc = the_change(project)
    text = text_plan(project).stdout

    assert (rc["action"], rc["actions"], rc["after"], rc["id"]) == ("delete", ["delete"], None, "id-c")
    assert rc["before"]["configuration"] == {"url": URL}
    assert "  # connection.c will be destroyed\n  - resource \"connection\" \"c\" {\n" in text
    assert '      - id            = "id-c" -> null\n' in text
    assert text.endswith("Plan: 0 to add, 0 to change, 1 to destroy.\n")


def test_no_op(project):
    state_with(project)
    spec(project, "c.yaml", one())

    plan = plan_json(project)
    text = text_plan(project).stdout

    assert changes_by_address(plan)["connection.c"]["action"] == "no-op"
    assert plan["has_changes"] is False
    assert plan["summary"] == {"add": 0, "change": 0, "destroy": 0}
    assert text == "No changes. Your Polytomic connections match the specs.\n"


def test_nothing_at_all(project):
    result = text_plan(project)

    assert result.code == 0
    assert result.stdout == "No changes. Your Polytomic connections match the specs.\n"
    assert not (project / "polyctl.state.json").exists()  # plan never writes state


def test_destroy_with_nothing_managed_says_so(project):
    spec(project, "c.yaml", one())  # declared, never applied: nothing to destroy
    result = text_plan(project, "--destroy")

    assert result.code == 0
    assert result.stdout == "No changes. No objects need to be destroyed.\n"


# -- replace -------------------------------------------------------------------------------

def test_type_change_forces_replacement(project):
    state_with(project)
    spec(project, "c.yaml", one(extra="    type: postgresql\n",
                                configuration="{hostname: db}"))

    rc = the_change(project)
    text = text_plan(project).stdout

    assert (rc["action"], rc["actions"]) == ("replace", ["delete", "create"])
    assert rc["replace_paths"] == [["type"]]
    assert rc["replace_reasons"] == ['type changed from "api" to "postgresql"']
    assert "  # connection.c must be replaced\n" in text
    assert '  # (type changed from "api" to "postgresql")\n' in text
    assert '-/+ resource "connection" "c" {\n' in text
    assert '      ~ type          = "api" -> "postgresql" # forces replacement\n' in text
    assert text.endswith("Plan: 1 to add, 0 to change, 1 to destroy.\n")


def test_replacement_shows_the_id_only_as_known_after_apply(project):
    state_with(project)
    spec(project, "c.yaml", one(extra="    type: postgresql\n", configuration="{hostname: db}"))

    text = text_plan(project).stdout

    assert '      ~ id = "id-c" -> (known after apply)\n' in text
    assert text.count(" id ") == 1, text


def test_organization_change_forces_replacement(project):
    state_with(project, organization=ORG, organization_id=ORG)
    spec(project, "c.yaml", one(extra=f"    organization: {OTHER_ORG}\n"))

    rc = the_change(project)
    text = text_plan(project).stdout

    assert rc["action"] == "replace"
    assert rc["replace_paths"] == [["organization"]]
    assert rc["replace_reasons"] == [f'organization changed from "{ORG}" to "{OTHER_ORG}"']
    assert (f'      ~ organization = "{ORG}" -> "{OTHER_ORG}" # forces replacement\n'
            in text)


def test_naming_the_organization_a_connection_already_lives_in_is_no_change(project):
    state_with(project, organization=None, organization_id=ORG)
    spec(project, "c.yaml", one(extra=f"    organization: {ORG}\n"))

    assert the_change(project)["action"] == "no-op"


def test_moving_from_the_default_organization_names_the_old_one_plainly(project):
    state_with(project, organization=None, organization_id=ORG)
    spec(project, "c.yaml", one(extra=f"    organization: {OTHER_ORG}\n"))

    rc = the_change(project)

    assert rc["action"] == "replace"
    [reason] = rc["replace_reasons"]
    assert "None" not in reason, reason  # a Python repr is not for users
    assert reason == f'organization changed from null to "{OTHER_ORG}"'


def test_dropping_organization_from_the_spec_keeps_the_connection_where_it_is(project):
    state_with(project, organization=ORG, organization_id=ORG)
    spec(project, "c.yaml", one())

    assert the_change(project)["action"] == "no-op"


def test_create_before_destroy_replacement(project):
    state_with(project, create_before_destroy=True)
    spec(project, "c.yaml", one(extra="    type: rest\n    lifecycle: "
                                      "{create_before_destroy: true}\n",
                                configuration="{x: 1}"))

    rc = the_change(project)
    text = text_plan(project).stdout

    assert (rc["action"], rc["actions"], rc["create_before_destroy"]) == (
        "replace", ["create", "delete"], True)
    assert "+/- create replacement and then destroy\n" in text
    assert '+/- resource "connection" "c" {\n' in text


def test_replace_flag_forces_replacement_without_changes(project):
    state_with(project)
    spec(project, "c.yaml", one())

    rc = the_change(project, "--replace", "connection.c")
    text = text_plan(project, "--replace", "connection.c").stdout

    assert rc["action"] == "replace"
    assert rc["replace_reasons"] == ["replacement requested with --replace"]
    assert rc["replace_paths"] == []
    assert "  # (replacement requested with --replace)\n" in text


def test_replace_flag_with_unknown_address_suggests(project):
    state_with(project)
    spec(project, "c.yaml", one())

    result = text_plan(project, "--replace", "connection.cc")

    assert result.code == 1
    assert "Error: Invalid --replace address" in result.stderr
    assert '"connection.cc" is not declared in the specs or recorded in state. ' \
           'Did you mean "connection.c"?' in result.stderr


def test_replace_flag_on_something_not_yet_managed_is_refused(project):
    spec(project, "c.yaml", one())

    result = text_plan(project, "--replace", "connection.c")

    assert result.code == 1
    assert "Error: Cannot replace" in result.stderr


# -- state-only --------------------------------------------------------------------------

def test_force_destroy_alone_is_a_state_only_change(project):
    state_with(project)
    spec(project, "c.yaml", one(extra="    force_destroy: true\n"))

    rc = the_change(project)
    plan = plan_json(project)
    text = text_plan(project).stdout

    assert (rc["action"], rc["actions"]) == ("state-only", ["update"])
    assert [(c["path"], c["before"], c["after"]) for c in rc["changes"]] == [
        (["force_destroy"], False, True)]
    assert plan["summary"] == {"add": 0, "change": 1, "destroy": 0}
    assert "  # connection.c will be updated in state only (no API call)\n" in text
    assert "      ~ force_destroy = false -> true\n" in text


@pytest.mark.parametrize("lifecycle, path", [
    ("{prevent_destroy: true}", ["lifecycle", "prevent_destroy"]),
    ("{create_before_destroy: true}", ["lifecycle", "create_before_destroy"]),
    ("{ignore_changes: [name]}", ["lifecycle", "ignore_changes"]),
])
def test_lifecycle_alone_is_a_state_only_change(project, lifecycle, path):
    state_with(project)
    spec(project, "c.yaml", one(extra=f"    lifecycle: {lifecycle}\n"))

    rc = the_change(project)

    assert rc["action"] == "state-only"
    assert [c["path"][:2] for c in rc["changes"]] == [path]


def test_state_only_and_content_change_together_is_an_update(project):
    state_with(project)
    spec(project, "c.yaml", one("Renamed", extra="    force_destroy: true\n"))

    rc = the_change(project)

    assert rc["action"] == "update"
    assert [c["path"] for c in rc["changes"]] == [["force_destroy"], ["name"]]


# -- ignore_changes ------------------------------------------------------------------------

@pytest.mark.parametrize("ignored", [
    "[configuration.headers]", "[configuration]", "all",
])
def test_ignore_changes_keeps_the_prior_value(project, ignored):
    write_state(project, {"connection.c": resource(
        "id-c", "C", {"url": URL, "headers": [{"name": "A", "value": "1"}]},
        ignore_changes=("all",) if ignored == "all" else (ignored[1:-1],))})
    spec(project, "c.yaml", one(extra=f"    lifecycle: {{ignore_changes: {ignored}}}\n",
                                configuration=f"{{url: {URL}, headers: [{{name: A, value: '2'}}]}}"))

    assert the_change(project)["action"] == "no-op"


def test_ignore_changes_on_name(project):
    state_with(project, name="Old", ignore_changes=("name",))
    spec(project, "c.yaml", one("New", extra="    lifecycle: {ignore_changes: [name]}\n"))

    assert the_change(project)["action"] == "no-op"


def test_ignore_changes_leaves_other_attributes_planned(project):
    write_state(project, {"connection.c": resource(
        "id-c", "C", {"url": URL, "healthcheck": "/a"},
        ignore_changes=("configuration.healthcheck",))})
    spec(project, "c.yaml", one("New", extra="    lifecycle: {ignore_changes: "
                                             "[configuration.healthcheck]}\n",
                                configuration=f"{{url: {URL}/v2, healthcheck: /b}}"))

    rc = the_change(project)

    assert rc["action"] == "update"
    assert [c["path"] for c in rc["changes"]] == [["configuration", "url"], ["name"]]
    assert rc["after"]["configuration"]["healthcheck"] == "/a"


def test_ignore_changes_added_in_the_same_run_only_changes_lifecycle(project):
    state_with(project, name="Old")
    spec(project, "c.yaml", one("New", extra="    lifecycle: {ignore_changes: [name]}\n"))

    rc = the_change(project)

    assert rc["action"] == "state-only"
    assert [c["path"][0] for c in rc["changes"]] == ["lifecycle"]


def test_ignore_changes_all_does_not_hide_a_replacement(project):
    state_with(project, ignore_changes=("all",))
    spec(project, "c.yaml", one(extra="    type: rest\n    lifecycle: {ignore_changes: all}\n",
                                configuration="{x: 1}"))

    assert the_change(project)["action"] == "replace"


# -- prevent_destroy ---------------------------------------------------------------------

def test_prevent_destroy_blocks_a_delete_from_the_spec(project):
    state_with(project, prevent_destroy=True)
    spec(project, "c.yaml", one(extra="    lifecycle: {prevent_destroy: true}\n"))

    result = text_plan(project, "--destroy")

    assert result.code == 1
    assert "Error: Instance cannot be destroyed" in result.stderr
    assert "  on specs/c.yaml:2:3, in connection.c\n" in result.stderr
    assert "its spec sets lifecycle.prevent_destroy" in result.stderr
    assert "Plan:" not in result.stdout


def test_prevent_destroy_survives_removal_of_the_spec_block(project):
    state_with(project, prevent_destroy=True)
    spec(project, "other.yaml", "connections: {}\n")

    result = text_plan(project)
    as_json = invoke("plan", "--no-refresh", "--json", cwd=project)

    for run in (result, as_json):
        assert run.code == 1
        assert "Error: Instance cannot be destroyed" in run.stderr
        assert ("its state records lifecycle.prevent_destroy (the spec block was removed, "
                "which does not lift it)") in run.stderr
    assert as_json.stdout == ""


def test_prevent_destroy_set_in_the_spec_only_still_protects(project):
    # not yet applied, but the spec asks for it: a destroy plan must not go ahead
    state_with(project)
    spec(project, "c.yaml", one(extra="    lifecycle: {prevent_destroy: true}\n"))

    assert text_plan(project, "--destroy").code == 1


def test_prevent_destroy_lifted_in_the_spec_allows_destroy(project):
    state_with(project, prevent_destroy=True)
    spec(project, "c.yaml", one(extra="    lifecycle: {prevent_destroy: false}\n"))

    assert the_change(project, "--destroy")["action"] == "delete"


def test_prevent_destroy_blocks_a_replacement(project):
    state_with(project, prevent_destroy=True)
    spec(project, "c.yaml", one(extra="    type: rest\n    lifecycle: {prevent_destroy: true}\n",
                                configuration="{x: 1}"))

    result = text_plan(project)

    assert result.code == 1
    assert "Error: Instance cannot be destroyed" in result.stderr
    assert ('connection.c has lifecycle.prevent_destroy set, but the plan calls for it to be '
            'replaced (type changed from "api" to "rest")') in result.stderr


def test_prevent_destroy_blocks_a_requested_replacement(project):
    state_with(project, prevent_destroy=True)
    spec(project, "c.yaml", one(extra="    lifecycle: {prevent_destroy: true}\n"))

    result = text_plan(project, "--replace", "connection.c")

    assert result.code == 1
    assert "(replacement requested with --replace)" in result.stderr


# -- force_destroy at delete and replace ------------------------------------------------

def test_force_destroy_in_state_makes_the_delete_forced(project):
    state_with(project, force_destroy=True)

    rc = the_change(project)
    text = text_plan(project).stdout

    assert rc["force_delete"] is True
    assert rc["warnings"] == []
    assert "  # force_destroy: dependents, if any, will be cascade-deleted\n" in text


def test_force_destroy_set_in_the_same_run_as_a_destroy_warns(project):
    state_with(project)
    spec(project, "c.yaml", one(extra="    force_destroy: true\n"))

    plan = plan_json(project, "--destroy")
    text = text_plan(project, "--destroy").stdout

    rc = changes_by_address(plan)["connection.c"]
    assert (rc["action"], rc["force_delete"]) == ("delete", False)
    assert rc["warnings"] == [
        "force_destroy is set in the spec but not yet in state; the destroy uses the value in "
        "state, so dependents will not be cascade-deleted. Apply the force_destroy change "
        "first."]
    assert plan["warnings"] == rc["warnings"]
    assert f"Warning: connection.c: {rc['warnings'][0]}\n" in text


def test_force_destroy_set_in_the_same_run_as_a_replace_warns(project):
    state_with(project)
    spec(project, "c.yaml", one(extra="    type: rest\n    force_destroy: true\n",
                                configuration="{x: 1}"))

    rc = the_change(project)

    assert (rc["action"], rc["force_delete"]) == ("replace", False)
    assert len(rc["warnings"]) == 1
    assert rc["warnings"][0].startswith("force_destroy is set in the same run as a replacement")


def test_force_destroy_already_in_state_does_not_warn_on_replace(project):
    state_with(project, force_destroy=True)
    spec(project, "c.yaml", one(extra="    type: rest\n    force_destroy: true\n",
                                configuration="{x: 1}"))

    rc = the_change(project)

    assert (rc["action"], rc["force_delete"], rc["warnings"]) == ("replace", True, [])


# -- --target, --destroy, --detailed-exitcode ----------------------------------------------

@pytest.fixture
def three(project):
    write_state(project, {f"connection.{n}": resource(f"id-{n}", n.upper()) for n in "ab"})
    spec(project, "s.yaml", """
        connections:
          a: {name: A2, configuration: {url: "https://id-a.example.com"}}
          b: {name: B2, configuration: {url: "https://id-b.example.com"}}
          n: {name: N, configuration: {url: "https://n.example.com"}}
        """)
    return project


def test_target_limits_the_plan(three):
    plan = plan_json(three, "--target", "connection.b", "--target", "connection.n")

    assert [(rc["address"], rc["action"]) for rc in plan["resource_changes"]] == [
        ("connection.b", "update"), ("connection.n", "create")]
    assert plan["targets"] == ["connection.b", "connection.n"]


def test_unknown_target_is_an_error_with_a_suggestion(three):
    result = text_plan(three, "--target", "connection.bb")

    assert result.code == 1
    assert "Error: Invalid --target address" in result.stderr
    assert 'Did you mean "connection.b"?' in result.stderr


def test_destroy_plans_every_managed_connection_and_creates_nothing(three):
    plan = plan_json(three, "--destroy")
    text = text_plan(three, "--destroy").stdout

    assert plan["mode"] == "destroy"
    assert [(rc["address"], rc["action"]) for rc in plan["resource_changes"]] == [
        ("connection.a", "delete"), ("connection.b", "delete")]
    assert text.endswith("Plan: 0 to add, 0 to change, 2 to destroy.\n")


def test_destroy_with_target(three):
    plan = plan_json(three, "--destroy", "--target", "connection.a")

    assert [(rc["address"], rc["action"]) for rc in plan["resource_changes"]] == [
        ("connection.a", "delete")]


def test_every_action_in_one_plan_is_summarised(project):
    write_state(project, {
        "connection.upd": resource("id-upd", "Old"),
        "connection.rep": resource("id-rep", "Rep"),
        "connection.del": resource("id-del", "Del"),
        "connection.same": resource("id-same", "Same"),
        "connection.flag": resource("id-flag", "Flag"),
    })
    spec(project, "s.yaml", """
        connections:
          new: {name: New, configuration: {url: "https://new.example.com"}}
          upd: {name: New name, configuration: {url: "https://id-upd.example.com"}}
          rep: {name: Rep, type: rest, configuration: {x: 1}}
          same: {name: Same, configuration: {url: "https://id-same.example.com"}}
          flag: {name: Flag, force_destroy: true, configuration: {url: "https://id-flag.example.com"}}
        """)

    plan = plan_json(project)

    assert {rc["address"]: rc["action"] for rc in plan["resource_changes"]} == {
        "connection.del": "delete", "connection.flag": "state-only",
        "connection.new": "create", "connection.rep": "replace",
        "connection.same": "no-op", "connection.upd": "update"}
    assert plan["summary"] == {"add": 2, "change": 2, "destroy": 2}
    assert text_plan(project).stdout.endswith("Plan: 2 to add, 2 to change, 2 to destroy.\n")


@pytest.mark.parametrize("setup, code", [
    ("none", 0), ("create", 2), ("state-only", 2), ("error", 1),
])
def test_detailed_exitcode(project, setup, code):
    if setup in ("none", "state-only"):
        state_with(project)
    extra = "    force_destroy: true\n" if setup == "state-only" else ""
    configuration = "{url: ftp://x}" if setup == "error" else f"{{url: {URL}}}"
    spec(project, "c.yaml", one(extra=extra, configuration=configuration))

    assert text_plan(project, "--detailed-exitcode").code == code
    assert invoke("plan", "--no-refresh", "--json", "--detailed-exitcode",
                  cwd=project).code == code


def test_without_detailed_exitcode_changes_exit_0(project):
    spec(project, "c.yaml", one())

    assert text_plan(project).code == 0


def test_prevent_destroy_is_remembered_by_apply_and_outlives_the_spec(project, sandbox_env):
    spec(project, "c.yaml", one(extra="    lifecycle: {prevent_destroy: true}\n"))
    applied = invoke("apply", "--auto-approve", cwd=project, env=sandbox_env)
    assert applied.code == 0, applied.output
    (project / "specs" / "c.yaml").write_text("connections: {}\n")

    stored = read_state(project).resources["connection.c"]
    result = invoke("plan", cwd=project, env=sandbox_env)  # with a refresh, as users run it

    assert stored.lifecycle.prevent_destroy is True
    assert result.code == 1
    assert "its state records lifecycle.prevent_destroy" in result.stderr
    assert "Plan:" not in result.stdout
