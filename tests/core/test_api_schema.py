"""Type `api` is the seed's schema exactly: every field accepted when right, and a
located, explained error when wrong (through `polyctl validate --json` and `plan`)."""

from __future__ import annotations

import textwrap

import pytest
from core_helpers import changes_by_address, errors, invoke, locate, plan_json, spec

HEAD = """\
connections:
  c:
    name: C
    configuration:
"""


def with_configuration(body: str) -> str:
    """A one-connection spec whose configuration is `body` (lines 5 onward)."""
    return HEAD + textwrap.indent(textwrap.dedent(body).strip("\n"), " " * 6) + "\n"


# -- valid: each field, and what the plan would send (sensitive leaves masked) ------------

VALID = {
    "http url": ("url: http://api.example.com", {"url": "http://api.example.com"}),
    "https url with port, path and query": (
        "url: https://api.example.com:8443/v2?x=1",
        {"url": "https://api.example.com:8443/v2?x=1"}),
    "basic auth": (
        """
        url: https://x.example.com
        auth:
          basic: {username: alice, password: s3cret}
        """,
        {"url": "https://x.example.com",
         "auth": {"basic": {"username": "alice", "password": None}}}),
    "basic auth, username only": (
        """
        url: https://x.example.com
        auth: {basic: {username: alice}}
        """,
        {"url": "https://x.example.com", "auth": {"basic": {"username": "alice"}}}),
    "header auth": (
        """
        url: https://x.example.com
        auth:
          header: {name: Authorization, value: Bearer abc}
        """,
        {"url": "https://x.example.com",
         "auth": {"header": {"name": "Authorization", "value": None}}}),
    "oauth, every field": (
        """
        url: https://x.example.com
        auth:
          oauth:
            client_id: cid
            client_secret: csecret
            token_endpoint: https://x.example.com/token
            extra_form_data: [{name: audience, value: api}]
            scopes: [read, write]
            auth_style: 2
        """,
        {"url": "https://x.example.com",
         "auth": {"oauth": {"client_id": "cid", "client_secret": None,
                            "token_endpoint": "https://x.example.com/token",
                            "extra_form_data": [{"name": "audience", "value": "api"}],
                            "scopes": ["read", "write"], "auth_style": 2}}}),
    "query auth": (
        """
        url: https://x.example.com
        auth:
          query: [{name: api_key, value: k}]
        """,
        {"url": "https://x.example.com", "auth": {"query": [{"name": "api_key", "value": "k"}]}}),
    "body, healthcheck, headers, parameters": (
        """
        url: https://x.example.com
        body: '{"a": [1, 2]}'
        healthcheck: https://x.example.com/health
        headers: [{name: Accept, value: application/json}]
        parameters: [{name: units, value: metric}]
        """,
        {"url": "https://x.example.com", "body": '{"a": [1, 2]}',
         "healthcheck": "https://x.example.com/health",
         "headers": [{"name": "Accept", "value": "application/json"}],
         "parameters": [{"name": "units", "value": "metric"}]}),
    "body that is a JSON string": ('url: https://x.example.com\nbody: \'"text"\'',
                                   {"url": "https://x.example.com", "body": '"text"'}),
    "explicit null means not set": ("url: https://x.example.com\nbody: null\nauth: ~",
                                    {"url": "https://x.example.com"}),
}


@pytest.mark.parametrize("body, expected", VALID.values(), ids=VALID.keys())
def test_valid_configuration_is_accepted_and_planned(project, body, expected):
    spec(project, "c.yaml", with_configuration(body))

    assert errors(project) == []
    after = changes_by_address(plan_json(project))["connection.c"]["after"]
    assert after["configuration"] == expected


def test_seed_example_validates(project):
    spec(project, "example.yaml", """
        connections:
          example:
            name: Example
            configuration:
              auth:
                header: {name: foo, value: bar}
              url: https://example.com
        """)
    result = invoke("validate", cwd=project)
    assert result.code == 0, result.output
    assert "Success! 1 connection in specs/ (1 file) are valid." in result.stdout


# -- invalid: summary, exact place, attribute path and what was expected ------------------
# `at` is a piece of the spec text; the error must point at its first character.

INVALID = {
    "url missing": (
        "healthcheck: https://x.example.com",
        "Missing required attribute", "configuration:", "configuration",
        'configuration must set "url" (a string).'),
    "ftp url": (
        "url: ftp://files.example.com",
        "Invalid value", "ftp://", "configuration.url",
        "configuration.url: expected an http:// or https:// URL, such as "
        'https://api.example.com (got string "ftp://files.example.com").'),
    "url without host": (
        "url: https://",
        "Invalid value", "https://", "configuration.url",
        "configuration.url: expected an http:// or https:// URL, such as "
        'https://api.example.com (got string "https://").'),
    "url without scheme": (
        "url: api.example.com",
        "Invalid value", "api.example.com", "configuration.url", None),
    "url as a number": (
        "url: 42",
        "Incorrect attribute value type", "42", "configuration.url",
        "configuration.url: expected a string, got integer 42. "
        "Quote the value to make it a string."),
    "url as a list": (
        "url: [https://a.example.com]",
        "Incorrect attribute value type", "[https", "configuration.url",
        "configuration.url: expected a string, got a list."),
    "basic username as a number": (
        "url: https://x.example.com\nauth: {basic: {username: 1234}}",
        "Incorrect attribute value type", "1234", "configuration.auth.basic.username",
        "configuration.auth.basic.username: expected a string, got integer 1234. "
        "Quote the value to make it a string."),
    "basic as a list": (
        "url: https://x.example.com\nauth: {basic: [alice]}",
        "Incorrect attribute value type", "[alice]", "configuration.auth.basic",
        "configuration.auth.basic: expected a mapping, got a list."),
    "auth as a string": (
        "url: https://x.example.com\nauth: basic",
        "Incorrect attribute value type", "basic", "configuration.auth",
        'configuration.auth: expected a mapping, got string "basic".'),
    "header without name": (
        "url: https://x.example.com\nauth:\n  header: {value: v}",
        "Missing required attribute", "header:", "configuration.auth.header",
        'configuration.auth.header must set "name" (a string).'),
    "header without value": (
        "url: https://x.example.com\nauth:\n  header: {name: n}",
        "Missing required attribute", "header:", "configuration.auth.header",
        'configuration.auth.header must set "value" (a string).'),
    "oauth client_id as a boolean": (
        "url: https://x.example.com\nauth: {oauth: {client_id: true}}",
        "Incorrect attribute value type", "true", "configuration.auth.oauth.client_id",
        "configuration.auth.oauth.client_id: expected a string, got boolean true. "
        "Quote the value to make it a string."),
    "oauth token_endpoint as a mapping": (
        "url: https://x.example.com\nauth: {oauth: {token_endpoint: {u: 1}}}",
        "Incorrect attribute value type", "{u: 1}", "configuration.auth.oauth.token_endpoint",
        "configuration.auth.oauth.token_endpoint: expected a string, got a mapping."),
    "oauth auth_style as a string": (
        "url: https://x.example.com\nauth: {oauth: {auth_style: 'one'}}",
        "Incorrect attribute value type", "'one'", "configuration.auth.oauth.auth_style",
        'configuration.auth.oauth.auth_style: expected a whole number, got string "one".'),
    "oauth auth_style as a fraction": (
        "url: https://x.example.com\nauth: {oauth: {auth_style: 1.5}}",
        "Incorrect attribute value type", "1.5", "configuration.auth.oauth.auth_style",
        "configuration.auth.oauth.auth_style: expected a whole number, got number 1.5."),
    "oauth auth_style as a boolean": (
        "url: https://x.example.com\nauth: {oauth: {auth_style: false}}",
        "Incorrect attribute value type", "false", "configuration.auth.oauth.auth_style",
        "configuration.auth.oauth.auth_style: expected a whole number, got boolean false."),
    "oauth scopes as a string": (
        "url: https://x.example.com\nauth: {oauth: {scopes: read}}",
        "Incorrect attribute value type", "read", "configuration.auth.oauth.scopes",
        "configuration.auth.oauth.scopes: expected a list (a set: order does not matter, "
        'no duplicates), got string "read".'),
    "oauth scope that is a number": (
        "url: https://x.example.com\nauth: {oauth: {scopes: [read, 7]}}",
        "Incorrect attribute value type", "7]", "configuration.auth.oauth.scopes[1]",
        "configuration.auth.oauth.scopes[1]: expected a string, got integer 7. "
        "Quote the value to make it a string."),
    "extra_form_data element without value": (
        "url: https://x.example.com\nauth:\n  oauth:\n    extra_form_data: [{name: a}]",
        "Missing required attribute", "{name: a}",
        "configuration.auth.oauth.extra_form_data[0]",
        'configuration.auth.oauth.extra_form_data[0] must set "value" (a string).'),
    "query element without name": (
        "url: https://x.example.com\nauth:\n  query:\n    - value: k",
        "Missing required attribute", "value: k", "configuration.auth.query[0]",
        'configuration.auth.query[0] must set "name" (a string).'),
    "query as a mapping": (
        "url: https://x.example.com\nauth:\n  query: {api_key: k}",
        "Incorrect attribute value type", "{api_key", "configuration.auth.query",
        "configuration.auth.query: expected a list (a set: order does not matter, no "
        "duplicates), got a mapping."),
    "body that is not JSON": (
        "url: https://x.example.com\nbody: '{not json'",
        "Invalid value", "'{not", "configuration.body",
        "configuration.body: expected valid JSON text (Expecting property name enclosed in "
        'double quotes at line 1, column 2) (got string "{not json").'),
    "body as a mapping": (
        "url: https://x.example.com\nbody: {a: 1}",
        "Incorrect attribute value type", "{a: 1}", "configuration.body",
        "configuration.body: expected a string, got a mapping."),
    "healthcheck as a list": (
        "url: https://x.example.com\nhealthcheck: []",
        "Incorrect attribute value type", "[]", "configuration.healthcheck",
        "configuration.healthcheck: expected a string, got a list."),
    "headers as a mapping": (
        "url: https://x.example.com\nheaders: {Accept: application/json}",
        "Incorrect attribute value type", "{Accept", "configuration.headers",
        "configuration.headers: expected a list (a set: order does not matter, no "
        "duplicates), got a mapping."),
    "header element without value": (
        "url: https://x.example.com\nheaders:\n  - name: Accept",
        "Missing required attribute", "name: Accept", "configuration.headers[0]",
        'configuration.headers[0] must set "value" (a string).'),
    "header element value as a number": (
        "url: https://x.example.com\nheaders:\n  - {name: X-Version, value: 2}",
        "Incorrect attribute value type", "2}", "configuration.headers[0].value",
        "configuration.headers[0].value: expected a string, got integer 2. "
        "Quote the value to make it a string."),
    "parameter element that is a string": (
        "url: https://x.example.com\nparameters: [units=metric]",
        "Incorrect attribute value type", "units=", "configuration.parameters[0]",
        'configuration.parameters[0]: expected a mapping, got string "units=metric".'),
    "configuration as a list": (
        "- url: https://x.example.com",
        "Incorrect attribute value type", "- url", "configuration",
        "configuration: expected a mapping, got a list."),
}


@pytest.mark.parametrize("body, summary, at, path, detail", INVALID.values(), ids=INVALID.keys())
def test_invalid_configuration_is_a_located_error(project, body, summary, at, path, detail):
    text = with_configuration(body)
    spec(project, "c.yaml", text)

    [error] = errors(project)

    line, column = locate(text, at)
    assert error["summary"] == summary
    assert error["where"] == f"specs/c.yaml:{line}:{column}"
    assert error["attribute"] == f"connection.c.{path}"
    if detail is not None:
        assert error["detail"] == detail


@pytest.mark.parametrize("body", [
    "url: https://x.example.com\nauth: {basic: {password: 123456}}",
    "url: https://x.example.com\nauth: {header: {name: n, value: 123456}}",
    "url: https://x.example.com\nauth: {oauth: {client_secret: 123456}}",
], ids=["password", "header value", "client_secret"])
def test_wrong_type_on_a_sensitive_field_does_not_echo_the_value(project, body):
    spec(project, "c.yaml", with_configuration(body))

    result = invoke("validate", cwd=project)

    assert result.code == 1
    assert "expected a string, got a sensitive value." in result.stderr
    assert "123456" not in result.output


def test_invalid_url_from_the_environment_is_not_echoed(project):
    spec(project, "c.yaml", with_configuration('url: "${env:API_URL}"'))

    result = invoke("validate", cwd=project, env={"API_URL": "ftp://hunter2@files.internal"})

    assert result.code == 1
    assert "Invalid value" in result.stderr
    assert "configuration.url: expected an http:// or https:// URL" in result.stderr
    assert "hunter2" not in result.output and "files.internal" not in result.output


# -- the connection block itself --------------------------------------------------------

CONNECTION_INVALID = {
    "name missing": (
        "connections:\n  c:\n    configuration: {url: https://x.example.com}\n",
        "Missing required attribute", "c:", "connection.c",
        'A connection must set "name" (a string).'),
    "name empty": (
        "connections:\n  c:\n    name: ' '\n    configuration: {url: https://x.example.com}\n",
        "Invalid value", "' '", "connection.c.name", "name: must not be empty."),
    "name as a number": (
        "connections:\n  c:\n    name: 2024\n    configuration: {url: https://x.example.com}\n",
        "Incorrect attribute value type", "2024", "connection.c.name",
        "name: expected a string, got integer 2024. Quote the value to make it a string."),
    "configuration missing": (
        "connections:\n  c:\n    name: C\n",
        "Missing required attribute", "c:", "connection.c",
        'A connection must set "configuration" (a mapping).'),
    "type as a number": (
        "connections:\n  c:\n    name: C\n    type: 5\n    configuration: {url: https://x.example.com}\n",
        "Incorrect attribute value type", "5", "connection.c.type",
        "type: expected a string, got integer 5. Quote the value to make it a string."),
    "type that is not an id": (
        "connections:\n  c:\n    name: C\n    type: my type\n    configuration: {}\n",
        "Invalid connection type", "my type", "connection.c.type",
        '"my type" is not a connection type id (such as api or postgresql).'),
    "organization that is not a UUID": (
        "connections:\n  c:\n    name: C\n    organization: acme\n"
        "    configuration: {url: https://x.example.com}\n",
        "Invalid organization", "acme", "connection.c.organization",
        'organization: expected an organization UUID, got string "acme".'),
    "force_destroy as a string": (
        "connections:\n  c:\n    name: C\n    force_destroy: 'true'\n"
        "    configuration: {url: https://x.example.com}\n",
        "Incorrect attribute value type", "'true'", "connection.c.force_destroy",
        'force_destroy: expected true or false, got string "true".'),
    "lifecycle as a list": (
        "connections:\n  c:\n    name: C\n    lifecycle: [prevent_destroy]\n"
        "    configuration: {url: https://x.example.com}\n",
        "Incorrect attribute value type", "[prevent", "connection.c.lifecycle",
        "lifecycle: expected a mapping, got a list."),
    "prevent_destroy as a number": (
        "connections:\n  c:\n    name: C\n    lifecycle: {prevent_destroy: 1}\n"
        "    configuration: {url: https://x.example.com}\n",
        "Incorrect attribute value type", "1}", "connection.c.lifecycle.prevent_destroy",
        "lifecycle.prevent_destroy: expected true or false, got integer 1."),
    "ignore_changes as a string": (
        "connections:\n  c:\n    name: C\n    lifecycle: {ignore_changes: name}\n"
        "    configuration: {url: https://x.example.com}\n",
        "Incorrect attribute value type", "name}", "connection.c.lifecycle.ignore_changes",
        'lifecycle.ignore_changes: expected a list of attribute paths or "all", got '
        'string "name".'),
    "ignore_changes with an unknown configuration path": (
        "connections:\n  c:\n    name: C\n    lifecycle: {ignore_changes: [configuration.urll]}\n"
        "    configuration: {url: https://x.example.com}\n",
        "Invalid ignore_changes path", "configuration.urll",
        "connection.c.lifecycle.ignore_changes[0]",
        '"configuration.urll" is not an attribute of connection type "api". '
        'Did you mean "configuration.url"?'),
    "ignore_changes on something that cannot be ignored": (
        "connections:\n  c:\n    name: C\n    lifecycle: {ignore_changes: [nmae]}\n"
        "    configuration: {url: https://x.example.com}\n",
        "Invalid ignore_changes path", "nmae", "connection.c.lifecycle.ignore_changes[0]",
        '"nmae" cannot be ignored. Did you mean "name"? Expected name or '
        "configuration.<path>."),
    "local name with a dot": (
        "connections:\n  my.conn:\n    name: C\n    configuration: {url: https://x.example.com}\n",
        "Invalid local name", "my.conn", None,
        '"my.conn" must start with a letter or underscore and contain only letters, digits, '
        "underscores and dashes."),
    "connection block that is a string": (
        "connections:\n  c: https://x.example.com\n",
        "Invalid connection block", "https", None,
        "connection.c: expected a mapping of attributes, got string \"https://x.example.com\"."),
    "connections as a list": (
        "connections:\n  - c\n",
        "Invalid connections block", "- c", None,
        "Expected a mapping of local names to connections, got a list."),
}


def _connection_cases():
    for key, case in CONNECTION_INVALID.items():
        yield pytest.param(*case, id=key)


@pytest.mark.parametrize("text, summary, at, attribute, detail", _connection_cases())
def test_invalid_connection_block_is_a_located_error(project, text, summary, at, attribute,
                                                     detail):
    spec(project, "c.yaml", text)

    [error] = errors(project)

    line, column = locate(text, at)
    assert error == {"summary": summary, "where": f"specs/c.yaml:{line}:{column}",
                     "attribute": attribute, "detail": detail}


# -- unknown keys, with a suggestion, at every level -----------------------------------

TYPOS = {
    "top-level key": (
        "conections:\n  c: {}\n", "conections", None, "connections",
        "Unsupported top-level key"),
    "connection key": (
        "connections:\n  c:\n    name: C\n    orgnization: x\n"
        "    configuration: {url: https://x.example.com}\n",
        "orgnization", "connection.c.orgnization", "organization", "Unsupported attribute"),
    "lifecycle key": (
        "connections:\n  c:\n    name: C\n    lifecycle:\n      prevent_destory: true\n"
        "    configuration: {url: https://x.example.com}\n",
        "prevent_destory", "connection.c.lifecycle.prevent_destory", "prevent_destroy",
        "Unsupported attribute"),
    "configuration key": (
        with_configuration("url: https://x.example.com\nhealtcheck: /health"),
        "healtcheck", "connection.c.configuration.healtcheck", "healthcheck",
        "Unsupported attribute"),
    "auth key": (
        with_configuration("url: https://x.example.com\nauth:\n  baisc: {username: u}"),
        "baisc", "connection.c.configuration.auth.baisc", "basic", "Unsupported attribute"),
    "basic key": (
        with_configuration("url: https://x.example.com\nauth:\n  basic: {usrname: u}"),
        "usrname", "connection.c.configuration.auth.basic.usrname", "username",
        "Unsupported attribute"),
    "header key": (
        with_configuration("url: https://x.example.com\nauth:\n  header: {name: n, valeu: v}"),
        "valeu", "connection.c.configuration.auth.header.valeu", "value",
        "Unsupported attribute"),
    "oauth key": (
        with_configuration("url: https://x.example.com\nauth:\n  oauth: {client_secert: s}"),
        "client_secert", "connection.c.configuration.auth.oauth.client_secert",
        "client_secret", "Unsupported attribute"),
    "oauth scopes": (
        with_configuration("url: https://x.example.com\nauth:\n  oauth: {scope: [a]}"),
        "scope:", "connection.c.configuration.auth.oauth.scope", "scopes",
        "Unsupported attribute"),
    "set element key": (
        with_configuration("url: https://x.example.com\nheaders:\n  - {nam: A, value: b}"),
        "nam:", "connection.c.configuration.headers[0].nam", "name", "Unsupported attribute"),
}


@pytest.mark.parametrize("text, key, attribute, suggestion, summary", TYPOS.values(),
                         ids=TYPOS.keys())
def test_unknown_key_is_located_with_a_suggestion(project, text, key, attribute, suggestion,
                                                  summary):
    spec(project, "c.yaml", text)

    found = [e for e in errors(project) if e["summary"] == summary]

    assert len(found) == 1, found
    [error] = found
    line, column = locate(text, key)
    assert error["where"] == f"specs/c.yaml:{line}:{column}"
    assert error["attribute"] == attribute
    assert f'Did you mean "{suggestion}"?' in error["detail"]


def test_unknown_key_far_from_any_has_no_suggestion_but_lists_the_keys(project):
    spec(project, "c.yaml", with_configuration("url: https://x.example.com\nzzzz: 1"))

    [error] = errors(project)

    assert "Did you mean" not in error["detail"]
    assert error["detail"] == (
        'An attribute named "zzzz" is not expected in configuration. Expected one of: '
        "auth, body, headers, healthcheck, parameters, url.")


def test_x_prefixed_top_level_keys_are_free_for_anchors(project):
    spec(project, "c.yaml", """
        x-common: &common
          url: https://x.example.com
        connections:
          c:
            name: C
            configuration:
              <<: *common
              healthcheck: /health
        """)

    assert errors(project) == []
    after = changes_by_address(plan_json(project))["connection.c"]["after"]
    assert after["configuration"] == {"url": "https://x.example.com", "healthcheck": "/health"}


# -- other connection types: any mapping for now ----------------------------------------

def test_other_types_accept_any_mapping(project):
    spec(project, "pg.yaml", """
        connections:
          warehouse:
            name: Warehouse
            type: postgresql
            configuration:
              hostname: db.internal
              port: 5432
              ssl: true
              anything: {nested: [1, two, {three: 3}]}
        """)

    assert errors(project) == []
    rc = changes_by_address(plan_json(project))["connection.warehouse"]
    assert rc["connection_type"] == "postgresql"
    assert rc["after"]["configuration"] == {
        "hostname": "db.internal", "port": 5432, "ssl": True,
        "anything": {"nested": [1, "two", {"three": 3}]}}


def test_other_types_still_need_a_mapping(project):
    text = "connections:\n  w:\n    name: W\n    type: postgresql\n    configuration: [a]\n"
    spec(project, "pg.yaml", text)

    [error] = errors(project)

    assert error["summary"] == "Incorrect attribute value type"
    assert error["where"] == "specs/pg.yaml:5:20"
    assert error["attribute"] == "connection.w.configuration"


def test_type_defaults_to_api_and_api_is_checked(project):
    spec(project, "c.yaml", "connections:\n  c:\n    name: C\n    configuration: {host: x}\n")

    summaries = sorted(e["summary"] for e in errors(project))

    assert summaries == ["Missing required attribute", "Unsupported attribute"]
