"""Import: adopt one existing connection at a declared address, or every unmanaged one
with generated specs whose secrets are `${env:…}` placeholders."""

from __future__ import annotations

import json
import re

import yaml

from e2e_helpers import Org, Polyctl, api_connection, delta, writes

LEGACY_SECRET = "legacy-secret-4e1d"


def test_import_one(pc: Polyctl, org: Org, sandbox) -> None:
    pc.secrets.add(LEGACY_SECRET)
    legacy = org.create("Legacy", api_connection("https://legacy.example.com",
                                                 secret=LEGACY_SECRET, headers={"Accept": "*/*"}))
    pc.env["LEGACY_TOKEN"] = LEGACY_SECRET
    pc.specs({"legacy": {"name": "Legacy", "configuration": api_connection(
        "https://legacy.example.com", secret="${env:LEGACY_TOKEN}", headers={"Accept": "*/*"})}})

    undeclared = pc("import", "connection.legcy", legacy["id"])
    assert undeclared.code == 1
    assert '"connection.legcy" is not declared in the specs' in undeclared.stderr
    assert "connection.legacy" in undeclared.stderr  # did you mean
    missing = pc("import", "connection.legacy", "00000000-0000-4000-8000-000000000000")
    assert missing.code == 1 and "No connection with id" in missing.stderr
    assert not pc.state_path.exists() or pc.resources() == {}

    before = sandbox.stats()
    imported = pc("import", "connection.legacy", legacy["id"])
    assert imported.code == 0, imported.output
    assert writes(delta(before, sandbox.stats())) == 0
    state = pc.resources()["connection.legacy"]
    assert state["id"] == legacy["id"] and state["name"] == "Legacy"
    assert state["force_destroy"] is None  # unset until an apply records it
    assert state["configuration"]["url"] == "https://legacy.example.com"

    # already managed: the same address, or the same id at another address
    again = pc("import", "connection.legacy", legacy["id"])
    assert again.code == 1 and "already in the state" in again.stderr
    pc.specs({"other": {"name": "Legacy", "configuration": api_connection("https://x.example.com")}},
             file="other.yaml")
    twice = pc("import", "connection.other", legacy["id"])
    assert twice.code == 1
    assert f"Connection {legacy['id']} is already managed as connection.legacy" in twice.stderr
    (pc.root / "specs" / "other.yaml").unlink()

    # the secret came back masked, so it is unknown: the plan sends the spec's
    plan = pc.plan_json()
    [change] = [rc for rc in plan["resource_changes"] if rc["action"] != "no-op"]
    assert change["action"] == "update"
    paths = sorted(tuple(c["path"]) for c in change["changes"])
    assert ("configuration", "auth", "header", "value") in paths
    assert {p for p in paths if p[0] != "force_destroy"} == {
        ("configuration", "auth", "header", "value")}
    assert "(sensitive value)" in pc("plan").stdout
    pc.apply()
    assert org.by_name()["Legacy"]["id"] == legacy["id"]  # updated, not re-created
    assert len(org.connections()) == 1
    assert pc.resources()["connection.legacy"]["force_destroy"] is False
    pc.assert_no_changes()


def _create_unmanaged(org: Org) -> dict[str, dict]:
    made = {}
    made["orders1"] = org.create("Orders API", api_connection(
        "https://orders.example.com", secret="orders-secret-a1", headers={"X-Tpl": "${literal}"}))
    made["orders2"] = org.create("Orders API", api_connection("https://orders-eu.example.com",
                                                              secret="orders-secret-b2"))
    made["billing"] = org.create("Billing (prod)", {
        "url": "https://billing.example.com",
        "auth": {"basic": {"username": "svc", "password": "billing-pw-c3"},
                 "oauth": {"client_id": "cid", "client_secret": "billing-cs-d4",
                           "token_endpoint": "https://billing.example.com/token"}}})
    made["plain"] = org.create("42 Plain", api_connection("https://plain.example.com"))
    return made


def test_import_all_writes_specs_and_adopts_every_unmanaged_connection(
        pc: Polyctl, org: Org, sandbox) -> None:
    pc.secrets |= {"orders-secret-a1", "orders-secret-b2", "billing-pw-c3", "billing-cs-d4"}
    pc.specs({"mine": {"name": "Orders API", "configuration": api_connection("https://mine.example.com")}})
    pc.apply()  # already managed: not imported again, and its local name is taken
    made = _create_unmanaged(org)

    refused = pc("import", "--all", "--out", "imported.yaml")
    assert refused.code == 1 and "inside the specs directory" in refused.stderr

    before = sandbox.stats()
    result = pc("import", "--all", "--out", "specs/imported.yaml")
    assert result.code == 0, result.output
    assert writes(delta(before, sandbox.stats())) == 0
    assert "Imported 4 connection(s); specs written to specs/imported.yaml." in result.stdout

    text = (pc.root / "specs" / "imported.yaml").read_text()
    written = yaml.safe_load(text)["connections"]
    # stable, collision-free local names from display names (the managed one keeps "mine")
    assert sorted(written) == ["billing_prod", "c_42_plain", "orders_api", "orders_api_2"]
    by_url = {block["configuration"]["url"]: name for name, block in written.items()}
    assert by_url == {"https://orders.example.com": by_url["https://orders.example.com"],
                      "https://orders-eu.example.com": by_url["https://orders-eu.example.com"],
                      "https://billing.example.com": "billing_prod",
                      "https://plain.example.com": "c_42_plain"}
    # secrets are placeholders; the variables are listed in the file and the output
    env_vars = sorted(set(re.findall(r"\$\{env:([A-Z0-9_]+)\}", text)))
    assert len(env_vars) == 4
    for var in env_vars:
        assert var in result.stdout
        assert f"#   {var}" in text
    billing = written["billing_prod"]["configuration"]["auth"]
    assert billing["basic"] == {"username": "svc", "password": "${env:POLYCTL_BILLING_PROD_AUTH_BASIC_PASSWORD}"}
    assert billing["oauth"]["client_secret"] == "${env:POLYCTL_BILLING_PROD_AUTH_OAUTH_CLIENT_SECRET}"
    literal_header = written[by_url["https://orders.example.com"]]["configuration"]["headers"]
    assert literal_header == [{"name": "X-Tpl", "value": "$${literal}"}]

    state = pc.resources()
    assert set(state) == {"connection.mine", "connection.billing_prod", "connection.c_42_plain",
                          "connection.orders_api", "connection.orders_api_2"}
    assert {state[f"connection.{n}"]["id"] for n in written} == {m["id"] for m in made.values()}
    assert all(state[f"connection.{n}"]["force_destroy"] is None for n in written)

    # without the variables the specs do not load; with them, the plan updates only secrets
    unset = pc("plan")
    assert unset.code == 1 and env_vars[0] in unset.stderr
    secret_of = {"https://orders.example.com": "orders-secret-a1",
                 "https://orders-eu.example.com": "orders-secret-b2"}
    for var in env_vars:
        if "BILLING" in var:
            pc.env[var] = "billing-pw-c3" if "PASSWORD" in var else "billing-cs-d4"
        else:
            local = var.removeprefix("POLYCTL_").removesuffix("_AUTH_HEADER_VALUE").lower()
            pc.env[var] = secret_of[written[local]["configuration"]["url"]]
    plan = pc.plan_json()
    changed = {rc["address"]: rc for rc in plan["resource_changes"] if rc["action"] != "no-op"}
    assert {a: rc["action"] for a, rc in changed.items()} == {
        "connection.billing_prod": "update", "connection.orders_api": "update",
        "connection.orders_api_2": "update", "connection.c_42_plain": "state-only"}
    for address, rc in changed.items():
        content = [c for c in rc["changes"] if c["path"][0] not in ("force_destroy",)]
        assert content == [] or all(c["sensitive"] for c in content), (address, content)
    assert plan["resource_drift"] == []

    before = sandbox.stats()
    pc.apply()
    assert writes(delta(before, sandbox.stats())) == 3  # the three PUTs sending secrets
    assert len(org.connections()) == 5
    assert all(r["force_destroy"] is False for r in pc.resources().values())
    pc.assert_no_changes()

    # nothing left to import
    again = pc("import", "--all", "--out", "specs/more.yaml")
    assert again.code == 0 and "Nothing to import" in again.stdout
    assert not (pc.root / "specs" / "more.yaml").exists()


def test_import_all_names_are_stable(pc: Polyctl, org: Org, tmp_path) -> None:
    """Two organizations holding the same connections, created in another order, import
    to the same spec file (up to which twin gets the `_2`)."""
    other = org.new_org()
    for o, order in ((org, ["b", "a", "c"]), (other, ["c", "a", "b"])):
        for key in order:
            o.create({"a": "Zeta & Co", "b": "alpha-β", "c": "Zeta & Co"}[key],
                     api_connection(f"https://{key}.example.com"))
    twin_root = tmp_path / "twin"
    (twin_root / "specs").mkdir(parents=True)
    twin = Polyctl(twin_root, {**pc.env, "POLYTOMIC_API_KEY": other.api_key})
    files = []
    for project in (pc, twin):
        assert project("import", "--all", "--out", "specs/imported.yaml").code == 0
        files.append(yaml.safe_load((project.root / "specs" / "imported.yaml").read_text()))
    names = [sorted(f["connections"]) for f in files]
    assert names[0] == names[1] == ["alpha", "zeta_co", "zeta_co_2"]
    assert files[0]["connections"]["alpha"] == files[1]["connections"]["alpha"]
    assert json.dumps(files[0], sort_keys=True).count("Zeta & Co") == 2
    other.close()
