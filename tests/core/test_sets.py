"""Set-typed lists (`headers`, `parameters`, `auth.query`, `auth.oauth.extra_form_data`,
`auth.oauth.scopes`): order never matters, duplicates are errors, and a changed element
is one removal and one addition."""

from __future__ import annotations

import json

import pytest
from core_helpers import (
    changes_by_address, errors, invoke, plan_json, resource, run_cli, spec, write_state,
)

from polyctl.engine.diff import diff_records
from polyctl.schema import schema_for

STATE_CONFIG = {
    "url": "https://x.example.com",
    "headers": [{"name": "Accept", "value": "json"}, {"name": "X-A", "value": "1"},
                {"name": "X-B", "value": "2"}],
    "parameters": [{"name": "p1", "value": "a"}, {"name": "p2", "value": "b"}],
    "auth": {
        "query": [{"name": "q1", "value": "a"}, {"name": "q2", "value": "b"}],
        "oauth": {
            "client_id": "cid",
            "extra_form_data": [{"name": "f1", "value": "a"}, {"name": "f2", "value": "b"}],
            "scopes": ["read", "write", "admin"],
        },
    },
}

REORDERED = """
connections:
  c:
    name: C
    configuration:
      url: https://x.example.com
      headers:
        - {name: X-B, value: "2"}
        - {name: Accept, value: json}
        - {name: X-A, value: "1"}
      parameters:
        - {value: b, name: p2}
        - {name: p1, value: a}
      auth:
        query: [{name: q2, value: b}, {name: q1, value: a}]
        oauth:
          client_id: cid
          extra_form_data: [{name: f2, value: b}, {name: f1, value: a}]
          scopes: [admin, read, write]
"""


def test_reordering_every_set_is_no_change(project):
    write_state(project, {"connection.c": resource("id-c", "C", STATE_CONFIG)})
    spec(project, "c.yaml", REORDERED)

    plan = plan_json(project)
    text = invoke("plan", "--no-refresh", "--detailed-exitcode", cwd=project)

    assert changes_by_address(plan)["connection.c"]["action"] == "no-op"
    assert plan["has_changes"] is False
    assert text.code == 0
    assert "No changes." in text.stdout


def test_a_changed_element_is_a_removal_and_an_addition(project):
    write_state(project, {"connection.c": resource("id-c", "C", STATE_CONFIG)})
    spec(project, "c.yaml", REORDERED.replace('{name: X-A, value: "1"}', '{name: X-A, value: "9"}')
         .replace("scopes: [admin, read, write]", "scopes: [admin, read, delete]"))

    rc = changes_by_address(plan_json(project))["connection.c"]
    text = invoke("plan", "--no-refresh", cwd=project).stdout

    assert rc["action"] == "update"
    assert [(c["path"], c["kind"], c["before"], c["after"]) for c in rc["changes"]] == [
        (["configuration", "auth", "oauth", "scopes"], "remove", "write", None),
        (["configuration", "auth", "oauth", "scopes"], "add", None, "delete"),
        (["configuration", "headers"], "remove", {"name": "X-A", "value": "1"}, None),
        (["configuration", "headers"], "add", None, {"name": "X-A", "value": "9"}),
    ]
    assert (
        "          ~ headers = [\n"
        "              - {\n"
        '                  - name  = "X-A"\n'
        '                  - value = "1"\n'
        "                },\n"
        "              + {\n"
        '                  + name  = "X-A"\n'
        '                  + value = "9"\n'
        "                },\n"
        "                # (2 unchanged elements hidden)\n"
        "            ]\n") in text
    assert (
        "                  ~ scopes = [\n"
        '                      - "write",\n'
        '                      + "delete",\n'
        "                        # (2 unchanged elements hidden)\n"
        "                    ]\n") in text


def test_adding_and_removing_whole_elements(project):
    write_state(project, {"connection.c": resource("id-c", "C", STATE_CONFIG)})
    spec(project, "c.yaml", REORDERED.replace('        - {name: X-B, value: "2"}\n', "")
         .replace("[{name: q2, value: b}, {name: q1, value: a}]",
                  "[{name: q2, value: b}, {name: q1, value: a}, {name: q3, value: c}]"))

    rc = changes_by_address(plan_json(project))["connection.c"]

    assert [(c["path"], c["kind"]) for c in rc["changes"]] == [
        (["configuration", "auth", "query"], "add"),
        (["configuration", "headers"], "remove"),
    ]


SET_DUPLICATES = {
    "headers": ("headers:\n  - {name: A, value: b}\n  - {name: A, value: b}",
                "configuration.headers[1]", "{name: A, value: b}\n"),
    "parameters": ("parameters: [{name: p, value: v}, {value: v, name: p}]",
                   "configuration.parameters[1]", "{value: v"),
    "auth.query": ("auth:\n  query: [{name: k, value: v}, {name: k, value: v}]",
                   "configuration.auth.query[1]", "{name: k, value: v}]"),
    "extra_form_data": (
        "auth:\n  oauth:\n    extra_form_data:\n      - {name: a, value: b}\n"
        "      - {name: a, value: b}",
        "configuration.auth.oauth.extra_form_data[1]", "{name: a, value: b}\n"),
    "scopes": ("auth:\n  oauth: {scopes: [read, write, read]}",
               "configuration.auth.oauth.scopes[2]", "read]"),
}


@pytest.mark.parametrize("body, attribute, at", SET_DUPLICATES.values(),
                         ids=SET_DUPLICATES.keys())
def test_duplicate_set_elements_are_located_errors(project, body, attribute, at):
    text = ("connections:\n  c:\n    name: C\n    configuration:\n"
            "      url: https://x.example.com\n"
            + "".join(f"      {line}\n" for line in body.splitlines()))
    spec(project, "c.yaml", text)

    [error] = errors(project)

    set_path, _, index = attribute.rpartition("[")
    line, column = _last(text, at)  # the repeat, not the first
    assert error["summary"] == "Duplicate set element"
    assert error["attribute"] == f"connection.c.{attribute}"
    assert error["where"] == f"specs/c.yaml:{line}:{column}"
    assert error["detail"] == (f"{set_path} is a set: element {index[:-1]} repeats element "
                               "0. Remove one of them.")


def _last(text: str, needle: str) -> tuple[int, int]:
    before = text[:text.rindex(needle)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def test_same_name_with_different_values_is_not_a_duplicate(project):
    spec(project, "c.yaml", """
        connections:
          c:
            name: C
            configuration:
              url: https://x.example.com
              headers: [{name: Accept, value: a}, {name: Accept, value: b}]
        """)

    assert errors(project) == []


def test_duplicate_secrets_are_found_without_showing_them(project):
    spec(project, "c.yaml", """
        connections:
          c:
            name: C
            configuration:
              url: https://x.example.com
              headers:
                - {name: X-Key, value: "${env:KEY}"}
                - {name: X-Key, value: "${env:KEY}"}
        """)

    result = invoke("validate", cwd=project, env={"KEY": "dup-secret-value"})

    assert result.code == 1
    assert "Duplicate set element" in result.stderr
    assert "dup-secret-value" not in result.output


def test_set_changes_are_ordered_by_value_not_by_hash():
    schema = schema_for("api")
    before = {"configuration": {"headers": [{"name": n, "value": "1"} for n in "ABCDEFGH"]}}
    after = {"configuration": {"headers": [{"name": n, "value": "2"} for n in "HGFEDCBA"]}}

    changes = diff_records(before, after, schema, keys=("configuration",))

    assert [(c.kind, (c.before or c.after)["name"]) for c in changes] == (
        [("remove", n) for n in "ABCDEFGH"] + [("add", n) for n in "ABCDEFGH"])


def test_plan_json_is_identical_whatever_the_hash_seed(project):
    write_state(project, {"connection.c": resource("id-c", "C", {
        "url": "https://x.example.com",
        "headers": [{"name": n, "value": "1"} for n in "ABCDEF"]})})
    spec(project, "c.yaml", "connections:\n  c:\n    name: C\n    configuration:\n"
         "      url: https://x.example.com\n      headers:\n"
         + "".join(f"        - {{name: {n}, value: '2'}}\n" for n in "FEDCBA"))

    outputs = {run_cli("plan", "--no-refresh", "--json", cwd=project,
                       env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}

    assert len(outputs) == 1
    changes = json.loads(outputs.pop())["resource_changes"][0]["changes"]
    assert [c["kind"] for c in changes] == ["remove"] * 6 + ["add"] * 6


def test_canonical_form_sorts_sets_without_touching_its_input():
    api = schema_for("api")
    ordered = api.canonical({"url": "https://x.io", "headers": [
        {"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
        "auth": {"oauth": {"client_id": "c", "scopes": ["write", "read"]}}})
    assert ordered["headers"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert ordered["auth"]["oauth"]["scopes"] == ["read", "write"]
    unsorted = {"url": "https://x.io", "headers": [{"name": "B"}, {"name": "A"}]}
    api.canonical(unsorted)
    assert unsorted["headers"] == [{"name": "B"}, {"name": "A"}]  # a copy was sorted
    assert api.canonical(ordered) is ordered  # in order already: handed back, not copied
    # every set, at any depth
    assert api.canonical({"url": "u", "parameters": [{"name": "b"}, {"name": "a"}]}
                         )["parameters"] == [{"name": "a"}, {"name": "b"}]
