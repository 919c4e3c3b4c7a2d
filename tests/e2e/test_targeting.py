"""`--target ADDR` and `--replace ADDR` on plan and apply."""

from __future__ import annotations

from e2e_helpers import Org, Polyctl, api_connection, connection_requests, delta


def _specs(pc: Polyctl, version: str) -> None:
    pc.specs({name: {"name": name.upper(), "configuration": api_connection(
        f"https://{name}.example.com/{version}")} for name in ("a", "b", "c")})


def test_target_limits_plan_and_apply(pc: Polyctl, org: Org, sandbox) -> None:
    _specs(pc, "v1")
    plan = pc.plan_json("--target", "connection.a", "--target", "connection.c")
    assert sorted(rc["address"] for rc in plan["resource_changes"]) == ["connection.a",
                                                                         "connection.c"]
    assert pc("apply", "--auto-approve", "--target", "connection.a").code == 0
    assert org.names() == ["A"]
    assert set(pc.resources()) == {"connection.a"}

    pc.apply()
    _specs(pc, "v2")
    before = sandbox.stats()
    assert pc("apply", "--auto-approve", "--target", "connection.b").code == 0
    assert connection_requests(delta(before, sandbox.stats()))["PUT /api/connections/{id}"] == 1
    urls = {name: c["configuration"]["url"] for name, c in org.by_name().items()}
    assert urls == {"A": "https://a.example.com/v1", "B": "https://b.example.com/v2",
                    "C": "https://c.example.com/v1"}
    assert pc.actions() == {"connection.a": "update", "connection.c": "update"}

    unknown = pc("plan", "--target", "connection.zz")
    assert unknown.code == 1 and "Invalid --target address" in unknown.stderr


def test_replace_forces_a_new_connection(pc: Polyctl, org: Org) -> None:
    _specs(pc, "v1")
    pc.apply()
    old = pc.ids()
    plan = pc("plan", "--replace", "connection.b")
    assert "# connection.b must be replaced" in plan.stdout
    assert "replacement requested with --replace" in plan.stdout
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in plan.stdout

    result = pc("apply", "--auto-approve", "--replace", "connection.b")
    assert "Resources: 1 added, 0 changed, 1 destroyed." in result.stdout
    new = pc.ids()
    live = org.by_name()
    assert sorted(live) == ["A", "B", "C"]
    assert new["connection.b"] != old["connection.b"]
    assert live["B"]["id"] == new["connection.b"]
    assert not org.exists("connection", old["connection.b"])
    assert new["connection.a"] == old["connection.a"] and new["connection.c"] == old["connection.c"]
    pc.assert_no_changes()

    bad = pc("plan", "--replace", "connection.nope")
    assert bad.code == 1 and "Invalid --replace address" in bad.stderr
    saved = pc("plan", "--out", "p.json")
    assert saved.code == 0
    mixed = pc("apply", "p.json", "--replace", "connection.a")
    assert mixed.code == 1 and "Incompatible options" in mixed.stderr
