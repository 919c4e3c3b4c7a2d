"""Connection-type schemas come from the API once and are cached under .polyctl/cache/:
a type never seen is fetched on first use, a fresh cache answers without the API, a
stale one (older than 24 h) is fetched again, `--refresh-schemas` ignores it,
`validate --offline` never calls the API and says which types it could not check, and
an unknown type id is an error naming the closest known ids. Requests are counted by
the sandbox itself."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from types_helpers import CONNECTION_TYPES, diagnostics, invoke, schema, write

LIST = "GET /api/connection_types"
ONE = "GET /api/connection_types/{id}"
DAY = 24 * 3600

SPEC = """
connections:
  db:
    name: DB
    type: postgresql
    configuration:
      hostname: db.example.com
      username: app
      password: "${env:DB_PASSWORD}"
      database: app
      port: 5432
      ssl: true
"""
MYSQL = """
connections:
  shop:
    name: Shop
    type: mysql
    configuration:
      hostname: shop.example.com
      account: app
      passwd: "${env:SHOP_PASSWORD}"
      dbname: shop
      port: 3306
"""
SECRETS = {"DB_PASSWORD": "cache-test-pw-1", "SHOP_PASSWORD": "cache-test-pw-2"}


def requests(sandbox) -> Counter:
    stats = sandbox.stats()
    out = Counter({route: sum(outcomes.values()) for route, outcomes in stats["by_route"].items()})
    out["total"] = stats["total_requests"]
    return out


def cache_dir(project: Path) -> Path:
    [folder] = list((project / ".polyctl" / "cache").glob("*/connection-types"))
    return folder


def age(folder: Path, seconds: float) -> None:
    """Make every cached file `seconds` old."""
    then = time.time() - seconds
    for path in folder.iterdir():
        os.utime(path, (then, then))


def tamper(folder: Path) -> None:
    """A cached postgresql schema in which `ssl` is a string: `ssl: true` fails with it."""
    path = folder / "postgresql.json"
    raw = json.loads(path.read_text())
    raw["properties"]["ssl"] = {"type": "string", "title": "Tampered"}
    path.write_text(json.dumps(raw))


def validate(project: Path, env: dict[str, str], *args: str):
    return invoke("validate", *args, cwd=project, env={**env, **SECRETS})


@pytest.fixture
def spec(project: Path) -> Path:
    return write(project / "specs" / "main.yaml", SPEC)


def test_a_type_never_seen_is_fetched_on_first_use_then_cached(
        project, spec, types_sandbox, types_env) -> None:
    assert not (project / ".polyctl").exists()
    first = validate(project, types_env)
    assert first.code == 0, first.output
    assert "not checked" not in first.output
    seen = requests(types_sandbox)
    assert (seen[LIST], seen[ONE]) == (1, 1)
    folder = cache_dir(project)
    assert json.loads((folder / "postgresql.json").read_text()) == schema("postgresql")
    assert "postgresql" in json.loads((folder / "_types.json").read_text())

    again = validate(project, types_env)
    assert again.code == 0, again.output
    assert requests(types_sandbox)["total"] == seen["total"]  # the cache answered

    # another type, first seen now: only its schema is fetched
    write(project / "specs" / "shop.yaml", MYSQL)
    both = validate(project, types_env)
    assert both.code == 0, both.output
    after = requests(types_sandbox)
    assert (after[LIST], after[ONE]) == (1, 2)
    assert json.loads((folder / "mysql.json").read_text()) == schema("mysql")


def test_a_type_first_seen_by_apply_is_created(project, spec, types_sandbox, types_env) -> None:
    applied = invoke("apply", "--auto-approve", cwd=project, env={**types_env, **SECRETS})
    assert applied.code == 0, applied.output
    assert "1 added" in applied.stdout
    assert (cache_dir(project) / "postgresql.json").is_file()
    replan = invoke("plan", "--detailed-exitcode", cwd=project, env={**types_env, **SECRETS})
    assert replan.code == 0, replan.output


def test_a_fresh_cache_is_used_and_a_stale_one_is_fetched_again(
        project, spec, types_sandbox, types_env) -> None:
    assert validate(project, types_env).code == 0
    folder = cache_dir(project)
    tamper(folder)
    before = requests(types_sandbox)

    # fresh, and still fresh at 23 hours: the (tampered) cache decides, no request
    for hours in (0, 23):
        age(folder, hours * 3600)
        used = validate(project, types_env)
        assert used.code == 1, used.output
        assert "configuration.ssl: expected a string, got boolean true" in used.stderr
        assert requests(types_sandbox)["total"] == before["total"]

    # stale: fetched again, the cache rewritten with what the API serves
    age(folder, DAY + 3600)
    refreshed = validate(project, types_env)
    assert refreshed.code == 0, refreshed.output
    after = requests(types_sandbox)
    assert after[ONE] == before[ONE] + 1 and after[LIST] == before[LIST] + 1
    assert json.loads((folder / "postgresql.json").read_text()) == schema("postgresql")
    assert time.time() - (folder / "postgresql.json").stat().st_mtime < 600


def test_a_stale_type_list_is_fetched_again(project, spec, types_sandbox, types_env) -> None:
    assert validate(project, types_env).code == 0
    folder = cache_dir(project)
    (folder / "_types.json").write_text(json.dumps(["mysql"]))  # no postgresql
    fresh = validate(project, types_env)
    assert fresh.code == 1
    assert 'Unknown connection type' in fresh.stderr
    age(folder, DAY + 60)
    stale = validate(project, types_env)
    assert stale.code == 0, stale.output
    assert "postgresql" in json.loads((folder / "_types.json").read_text())


def test_refresh_schemas_ignores_a_fresh_cache(project, spec, types_sandbox, types_env) -> None:
    assert validate(project, types_env).code == 0
    folder = cache_dir(project)
    tamper(folder)
    before = requests(types_sandbox)
    refetched = validate(project, types_env, "--refresh-schemas")
    assert refetched.code == 0, refetched.output
    after = requests(types_sandbox)
    assert after[ONE] == before[ONE] + 1 and after[LIST] == before[LIST] + 1
    assert json.loads((folder / "postgresql.json").read_text()) == schema("postgresql")
    # the other commands take it too
    tamper(folder)
    shown = invoke("types", "show", "postgresql", "--refresh-schemas", cwd=project, env=types_env)
    assert shown.code == 0 and "Tampered" not in shown.stdout
    assert requests(types_sandbox)[ONE] == after[ONE] + 1


def test_offline_with_a_cold_cache_says_which_types_it_could_not_check(
        project, spec, types_sandbox, types_env) -> None:
    write(project / "specs" / "shop.yaml", MYSQL)
    write(project / "specs" / "api.yaml", """
        connections:
          hook:
            name: Hook
            configuration: {url: https://hook.example.com}
        """)
    offline = validate(project, types_env, "--offline")
    assert offline.code == 0, offline.output
    assert "Success! 3 connections" in offline.stdout
    assert 'Warning: Connection type "mysql" not checked' in offline.stderr
    assert 'Warning: Connection type "postgresql" not checked' in offline.stderr
    assert '"api" not checked' not in offline.stderr  # built in
    assert "not in the schema cache" in offline.stderr
    assert requests(types_sandbox)["total"] == 0
    assert not (project / ".polyctl" / "cache").exists()

    # something else wrong: exit 1, and still said which types were not checked
    write(project / "specs" / "api.yaml", """
        connections:
          hook:
            name: Hook
            configuration: {urll: https://hook.example.com}
        """)
    failing = validate(project, types_env, "--offline")
    assert failing.code == 1
    assert 'Did you mean "url"?' in failing.stderr
    assert 'Connection type "postgresql" not checked' in failing.stderr
    as_json = json.loads(validate(project, types_env, "--offline", "--json").stdout)
    severities = sorted(d["severity"] for d in as_json["diagnostics"])
    assert severities == ["error", "error", "warning", "warning"]  # urll; url missing
    assert as_json["valid"] is False and as_json["error_count"] == 2
    assert requests(types_sandbox)["total"] == 0


def test_offline_with_a_warm_cache_validates_without_the_api(
        project, spec, types_sandbox, types_env) -> None:
    assert validate(project, types_env).code == 0
    age(cache_dir(project), 30 * DAY)  # offline, even a stale cache beats nothing
    write(project / "specs" / "main.yaml", SPEC.replace("ssl: true", "ssl: maybe"))
    before = requests(types_sandbox)["total"]
    offline = validate(project, types_env, "--offline")
    assert offline.code == 1
    [d] = diagnostics(offline.stderr)
    assert (d["file"], d["line"], d["attribute"]) == (
        "specs/main.yaml", 11, "connection.db.configuration.ssl")
    assert "expected true or false" in d["detail"]
    assert requests(types_sandbox)["total"] == before

    write(project / "specs" / "main.yaml", SPEC)
    types_sandbox.stop()  # nothing to answer: any attempt would leave a type unchecked
    ok = validate(project, types_env, "--offline")
    assert ok.code == 0, ok.output
    assert "not checked" not in ok.output and "Warning" not in ok.output


@pytest.mark.parametrize(("typo", "meant"), [("postgres", "postgresql"), ("mysq", "mysql"),
                                              ("hubspt", "hubspot")])
def test_an_unknown_type_names_the_closest_known_ids(
        project, types_sandbox, types_env, typo: str, meant: str) -> None:
    write(project / "specs" / "main.yaml", SPEC.replace("type: postgresql", f"type: {typo}"))
    result = validate(project, types_env)
    assert result.code == 1
    [d] = diagnostics(result.stderr)
    assert d["summary"] == "Unknown connection type"
    assert (d["file"], d["line"], d["column"]) == ("specs/main.yaml", 4, 11)
    assert d["attribute"] == "connection.db.type"
    assert f'"{typo}" is not a Polytomic connection type.' in d["detail"]
    assert f'"{meant}"' in d["detail"].partition("Did you mean")[2]
    assert requests(types_sandbox)[ONE] == 0  # decided from the id list alone

    # offline, the cached id list decides the same way
    offline = validate(project, types_env, "--offline")
    assert offline.code == 1 and "Did you mean" in offline.stderr and f'"{meant}"' in offline.stderr


def test_the_cache_belongs_to_its_deployment(project, spec, tmp_path, types_sandbox,
                                              types_env) -> None:
    """Two deployments never share cached schemas."""
    from polyctl.sandbox import SandboxConfig, start_sandbox

    assert validate(project, types_env).code == 0
    with start_sandbox(SandboxConfig(port=0, db_path=tmp_path / "other.db",
                                     connection_types_dir=CONNECTION_TYPES)) as other:
        env = {"POLYTOMIC_DEPLOYMENT_URL": other.url, "POLYTOMIC_API_KEY": other.api_key}
        assert validate(project, env).code == 0
        assert requests(other)[ONE] == 1
    assert len(list((project / ".polyctl" / "cache").glob("*/connection-types"))) == 2
