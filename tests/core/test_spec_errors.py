"""Where a spec problem is reported: file:line:column and attribute path, exactly, for
bad YAML, bad types, missing keys and duplicates — all of a run's problems at once,
exit code 1, never a traceback."""

from __future__ import annotations

import json

import pytest
from core_helpers import assert_clean, errors, invoke, run_cli, spec

BAD_YAML = {
    "unclosed flow sequence": (
        "connections:\n"
        "  c:\n"
        "    name: C\n"
        "    configuration:\n"
        "      headers: [{name: a, value: b}\n"
        "      url: https://x.example.com\n",
        "specs/bad.yaml:6:7", "did not find expected ',' or ']'"),
    "unclosed flow sequence at end of file": (
        "connections: [a, b\n", "specs/bad.yaml:2:1", "did not find expected ',' or ']'"),
    "bad indentation": (
        "connections:\n"
        "  c:\n"
        "    name: C\n"
        "   configuration: {}\n",
        "specs/bad.yaml:4:4", "did not find expected key"),
    "tab indentation": (
        "connections:\n"
        "  c:\n"
        "\tname: C\n",
        "specs/bad.yaml:3:1", "cannot start any token"),
    "unterminated quoted string": (
        'connections:\n  c: {name: "C\n',
        "specs/bad.yaml:3:1", "unexpected end of stream"),
}


@pytest.mark.parametrize("text, where, problem", BAD_YAML.values(), ids=BAD_YAML.keys())
def test_invalid_yaml_points_at_the_spot(project, text, where, problem):
    spec(project, "bad.yaml", text)

    result = invoke("validate", cwd=project)

    assert result.code == 1
    assert_clean(result)
    assert result.stderr.startswith("Error: Invalid YAML\n")
    assert f"  on {where}\n" in result.stderr
    assert problem in result.stderr


def test_value_that_does_not_fit_its_explicit_tag_is_located(project):
    spec(project, "c.yaml", """
        connections:
          c:
            name: !!int many
            force_destroy: !!bool maybe
            configuration: {url: !!binary aGVsbG8=}
        """)

    found = [e for e in errors(project) if e["summary"] == "Invalid YAML value"]

    assert [(e["where"], e["detail"]) for e in found] == [
        ("specs/c.yaml:3:11", '"many" is not a valid int.'),
        ("specs/c.yaml:4:20", '"maybe" is not a valid bool.'),
    ]
    [unsupported] = [e for e in errors(project) if e["summary"] == "Unsupported YAML tag"]
    assert unsupported["where"] == "specs/c.yaml:5:26"
    result = invoke("validate", cwd=project)
    assert result.code == 1
    assert_clean(result)


def test_dates_stay_the_text_written(project):
    """JSON has no dates: an unquoted 2024-01-01 is the string "2024-01-01" (PyYAML
    alone would make a datetime that no API payload, state or plan can hold)."""
    spec(project, "c.yaml", """
        connections:
          c:
            name: C
            configuration:
              url: https://c.example.com
              auth: {oauth: {scopes: [2024-01-01, !!timestamp 2001-12-14 21:59:43.10 -5]}}
        """)

    result = invoke("plan", "--no-refresh", "--json", cwd=project)

    assert result.code == 0, result.output
    [change] = json.loads(result.stdout)["resource_changes"]
    assert sorted(change["after"]["configuration"]["auth"]["oauth"]["scopes"]) == [
        "2001-12-14 21:59:43.10 -5", "2024-01-01"]


def test_several_documents_in_one_file_are_refused_at_the_second(project):
    spec(project, "c.yaml", "connections: {}\n---\nconnections: {}\n")

    [error] = errors(project)

    assert error["summary"] == "Multiple YAML documents"
    assert error["where"] == "specs/c.yaml:3:1"


def test_text_error_names_file_line_column_and_attribute(project):
    spec(project, "main.yaml", """
        connections:
          api:
            name: API
            configuration:
              url: https://x.example.com
              healthchek: /health
        """)

    result = invoke("validate", cwd=project)

    assert result.code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: Unsupported attribute\n"
        "\n"
        "  on specs/main.yaml:6:7, in connection.api.configuration.healthchek\n"
        "\n"
        'An attribute named "healthchek" is not expected in configuration. Did you mean '
        '"healthcheck"? Expected one of: auth, body, headers, healthcheck, parameters, url.\n'
        "\n")


def test_duplicate_key_in_one_mapping_names_both_places(project):
    spec(project, "d.yaml", """
        connections:
          d:
            name: D
            configuration:
              url: https://one.example.com
              headers: []
              url: https://two.example.com
        """)

    [error] = errors(project)

    assert error["summary"] == 'Duplicate key "url"'
    assert error["where"] == "specs/d.yaml:7:7"
    assert error["attribute"] == "connection.d.configuration.url"
    assert error["detail"] == ("The key is also defined at specs/d.yaml:5:7; each key may "
                               "appear once.")


def test_duplicate_local_name_across_files_names_both_places(project):
    spec(project, "a.yaml", """
        connections:
          shared:
            name: From A
            configuration: {url: https://a.example.com}
        """)
    spec(project, "sub/b.yml", """
        # b comes second: files are read in path order
        connections:
          other:
            name: Other
            configuration: {url: https://o.example.com}
          shared:
            name: From B
            configuration: {url: https://b.example.com}
        """)

    [error] = errors(project)

    assert error == {
        "summary": 'Duplicate connection "shared"',
        "where": "specs/sub/b.yml:6:3",
        "attribute": "connection.shared",
        "detail": "connection.shared is also declared at specs/a.yaml:2:3. Local names must "
                  "be unique across all spec files.",
    }


def test_every_problem_of_every_file_is_reported_in_one_run(project):
    spec(project, "1-yaml.yaml", "connections:\n  x: [\n")
    spec(project, "2-types.yaml", """
        connections:
          typed:
            name: 7
            force_destroy: maybe
            configuration:
              url: ftp://x
              headers: {a: b}
        """)
    spec(project, "3-missing.yaml", """
        connections:
          bare:
            lifecycle: {prevent_destroy: true}
        """)
    spec(project, "4-dup.yaml", """
        connections:
          typed:
            name: Again
            configuration: {url: https://x.example.com}
        """)

    found = [(e["where"], e["summary"]) for e in errors(project)]

    assert found == [
        ("specs/1-yaml.yaml:3:1", "Invalid YAML"),
        ("specs/2-types.yaml:3:11", "Incorrect attribute value type"),
        ("specs/2-types.yaml:4:20", "Incorrect attribute value type"),
        ("specs/2-types.yaml:6:12", "Invalid value"),
        ("specs/2-types.yaml:7:16", "Incorrect attribute value type"),
        ("specs/3-missing.yaml:2:3", "Missing required attribute"),
        ("specs/3-missing.yaml:2:3", "Missing required attribute"),
        ("specs/4-dup.yaml:2:3", 'Duplicate connection "typed"'),
    ]
    result = invoke("validate", cwd=project)
    assert result.code == 1
    assert result.stderr.count("Error: ") == len(found)
    assert_clean(result)


def test_plan_reports_spec_errors_the_same_way_and_exits_1(project):
    spec(project, "c.yaml", "connections:\n  c:\n    name: C\n    configuration: {urll: x}\n")

    result = invoke("plan", "--no-refresh", cwd=project)

    assert result.code == 1
    assert "  on specs/c.yaml:4:21, in connection.c.configuration.urll\n" in result.stderr
    assert "  on specs/c.yaml:4:5, in connection.c.configuration\n" in result.stderr
    assert "Plan:" not in result.output
    assert_clean(result)


def test_spec_errors_as_a_real_process_exit_1_without_traceback(project):
    spec(project, "bad.yaml", "connections:\n  c:\n\tname: C\n")
    spec(project, "worse.yaml", "connections:\n  d: {name: D, configuration: {url: 3}}\n")

    result = run_cli("validate", cwd=project)

    assert result.code == 1
    assert "on specs/bad.yaml:3:1" in result.stderr
    assert "on specs/worse.yaml:2:37, in connection.d.configuration.url" in result.stderr
    assert_clean(result)


def test_missing_specs_directory_is_an_error(project):
    result = invoke("validate", "--specs", "nowhere", cwd=project)

    assert result.code == 1
    assert "Specs directory not found" in result.stderr
    assert '"nowhere" is not a directory' in result.stderr


def test_empty_and_comment_only_files_are_fine(project):
    spec(project, "empty.yaml", "")
    spec(project, "comments.yml", "# nothing yet\n")
    spec(project, "no-connections.yaml", "x-anchors: {a: 1}\n")

    result = invoke("validate", cwd=project)

    assert result.code == 0, result.output
    assert "Success! 0 connections in specs/ (3 files) are valid." in result.stdout


def test_only_yaml_files_are_read_and_hidden_ones_are_skipped(project):
    spec(project, "notes.txt", "connections: [\n")
    spec(project, ".hidden.yaml", "connections: [\n")
    spec(project, ".git/x.yaml", "connections: [\n")
    spec(project, "ok.yml", "connections:\n  c: {name: C, configuration: {url: https://c.io}}\n")

    result = invoke("validate", cwd=project)

    assert result.code == 0, result.output
    assert "1 connection in specs/ (1 file)" in result.stdout


BODY = """\
connections:
  a:
    name: A
    configuration:
      url: https://a.example.com
      headers:
        - {name: X, value: 1}
  b:
    name: B
    lifecycle: {ignore_changes: [configuration.urll]}
    configuration:
      url: ftp://b
      auth:
        header: {name: n}
"""


@pytest.mark.parametrize("preamble", [
    "",                                        # an ordinary file
    "x-base: &base {url: https://x.io}\nx-copy: *base\n",  # anchors and aliases
    "x-tagged: !!str 5\n",                     # an explicit tag
    "x-merged:\n  <<: {a: 1}\n",               # a merge key
], ids=["plain", "anchors", "tag", "merge key"])
def test_locations_are_exact_however_the_file_is_read(project, preamble):
    spec(project, "c.yaml", preamble + BODY)
    shift = preamble.count("\n")

    found = [(e["where"], e["attribute"]) for e in errors(project)]

    assert found == [
        (f"specs/c.yaml:{7 + shift}:28", "connection.a.configuration.headers[0].value"),
        (f"specs/c.yaml:{10 + shift}:34", "connection.b.lifecycle.ignore_changes[0]"),
        (f"specs/c.yaml:{12 + shift}:12", "connection.b.configuration.url"),
        (f"specs/c.yaml:{14 + shift}:9", "connection.b.configuration.auth.header"),
    ]


def test_duplicate_local_name_in_one_file_names_both_places(project):
    spec(project, "c.yaml", """
        connections:
          c: {name: C, configuration: {url: "https://c.example.com"}}
          c: {name: D, configuration: {url: "https://d.example.com"}}
        """)

    [error] = errors(project)

    assert error["summary"] == 'Duplicate key "c"'
    assert error["where"] == "specs/c.yaml:3:3"
    assert error["attribute"] == "connection.c"
    assert error["detail"] == ("The key is also defined at specs/c.yaml:2:3; each key may "
                               "appear once.")


def test_nan_and_infinity_are_refused_where_they_are_written(project):
    """YAML has .nan and .inf; JSON, which the API takes and the state is, has neither."""
    spec(project, "c.yaml", """
        connections:
          c:
            name: C
            configuration:
              url: https://c.example.com
              auth: {oauth: {auth_style: .inf, client_id: x}}
              headers: [{name: n, value: -.Inf}, {name: m, value: .NaN}]
        """)

    found = [e for e in errors(project) if e["summary"] == "Invalid number"]

    assert [(e["where"], e["attribute"]) for e in found] == [
        ("specs/c.yaml:6:34", "connection.c.configuration.auth.oauth.auth_style"),
        ("specs/c.yaml:7:34", "connection.c.configuration.headers[0].value"),
        ("specs/c.yaml:7:59", "connection.c.configuration.headers[1].value"),
    ]
    assert "the API takes JSON, which has no NaN or infinity" in found[0]["detail"]


def test_an_interpolated_number_too_large_for_json_stays_a_string():
    from polyctl.schema.attributes import _coerce
    from polyctl.values import Secret

    assert _coerce("number", Secret("2.5e3")) == Secret(2500.0)
    assert _coerce("number", Secret("1e999")) == Secret("1e999")  # not infinity
