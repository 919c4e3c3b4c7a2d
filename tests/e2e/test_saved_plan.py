"""`plan --out FILE` then `apply FILE`: exactly the saved actions, or nothing when stale."""

from __future__ import annotations

import json

from e2e_helpers import Org, Polyctl, api_connection, connection_requests, delta, writes

TOKEN = "saved-plan-token-0a7b"


def _two(pc: Polyctl, url_a: str = "https://a.example.com", name_b: str = "B") -> None:
    pc.specs({
        "a": {"name": "A", "configuration": api_connection(url_a, secret="${env:TOKEN}")},
        "b": {"name": name_b, "configuration": api_connection("https://b.example.com")},
    })


def test_saved_plan_applies_exactly_what_it_shows(pc: Polyctl, org: Org, sandbox) -> None:
    pc.env["TOKEN"] = TOKEN
    pc.secrets.add(TOKEN)
    _two(pc)
    pc.apply()
    _two(pc, url_a="https://a.example.com/v2")
    pc.specs({"c": {"name": "C", "configuration": api_connection("https://c.example.com")}},
             file="more.yaml")

    saved = pc("plan", "--out", "p.json", "--detailed-exitcode")
    assert saved.code == 2, saved.output
    assert "To perform exactly these actions, run: polyctl apply p.json" in saved.stdout
    assert json.loads((pc.root / "p.json").read_text())["kind"] == "polyctl-plan"

    # the specs move on after the plan was saved: the saved plan still applies as shown
    _two(pc, url_a="https://a.example.com/v3", name_b="B renamed")
    before = sandbox.stats()
    applied = pc("apply", "p.json")
    assert applied.code == 0, applied.output
    assert "Enter a value" not in applied.output  # a saved plan is its own approval
    assert "Apply complete! Resources: 1 added, 1 changed, 0 destroyed." in applied.stdout
    assert connection_requests(delta(before, sandbox.stats())) == {
        "POST /api/connections": 1, "PUT /api/connections/{id}": 1}
    live = org.by_name()
    assert sorted(live) == ["A", "B", "C"]
    assert live["A"]["configuration"]["url"] == "https://a.example.com/v2"

    # the saved plan is spent: applying it again is stale
    again = pc("apply", "p.json")
    assert again.code == 1 and "stale" in again.output.lower()


def test_saved_plan_refused_when_the_state_moved_on(pc: Polyctl, org: Org, sandbox) -> None:
    pc.env["TOKEN"] = TOKEN
    pc.secrets.add(TOKEN)
    _two(pc)
    pc.apply()
    _two(pc, name_b="B2")
    assert pc("plan", "--out", "p.json").code == 0
    pc.specs({"c": {"name": "C", "configuration": api_connection("https://c.example.com")}},
             file="more.yaml")
    pc.apply()  # another apply in between: serial moves on
    serial = pc.state()["serial"]

    before = sandbox.stats()
    result = pc("apply", "p.json")
    assert result.code == 1
    assert "Saved plan is stale" in result.output
    assert f"now at serial {serial}" in result.output
    assert writes(delta(before, sandbox.stats())) == 0
    assert pc.state()["serial"] == serial
    assert sorted(org.names()) == ["A", "B2", "C"]


def test_saved_plan_refused_when_a_secret_changed(pc: Polyctl, org: Org, sandbox) -> None:
    pc.env["TOKEN"] = TOKEN
    pc.secrets |= {TOKEN, "rotated-token-9c3e"}
    _two(pc)
    pc.apply()
    _two(pc, url_a="https://a.example.com/v2")
    assert pc("plan", "--out", "p.json").code == 0
    state = pc.state()

    pc.env["TOKEN"] = "rotated-token-9c3e"  # the secret the plan depends on changed
    before = sandbox.stats()
    result = pc("apply", "p.json")
    assert result.code == 1
    assert "stale" in result.output.lower()
    assert "connection.a.configuration.auth.header.value" in result.output
    assert writes(delta(before, sandbox.stats())) == 0
    assert pc.state() == state
    assert org.by_name()["A"]["configuration"]["url"] == "https://a.example.com"

    # with the secret back, the same file applies
    pc.env["TOKEN"] = TOKEN
    assert pc("apply", "p.json").code == 0
    assert org.by_name()["A"]["configuration"]["url"] == "https://a.example.com/v2"


def test_saved_plan_refused_when_an_unrelated_secret_in_a_create_is_gone(pc: Polyctl,
                                                                         org: Org) -> None:
    pc.env["TOKEN"] = TOKEN
    pc.secrets.add(TOKEN)
    _two(pc)
    assert pc("plan", "--out", "p.json").code == 0
    pc.env.pop("TOKEN")
    pc.specs({"b": {"name": "B", "configuration": api_connection("https://b.example.com")}})
    result = pc("apply", "p.json")
    assert result.code == 1 and "stale" in result.output.lower()
    assert org.connections() == []


def test_saved_plan_for_a_new_project_applies(pc: Polyctl, org: Org) -> None:
    """The CI pipeline's first run: no state yet, `plan --out`, then `apply FILE`."""
    pc.env["TOKEN"] = TOKEN
    pc.secrets.add(TOKEN)
    _two(pc)
    assert not pc.state_path.exists()
    assert pc("plan", "--out", "p.json", "--detailed-exitcode").code == 2
    assert not pc.state_path.exists()  # planning writes no state
    applied = pc("apply", "p.json")
    assert applied.code == 0, applied.output
    assert sorted(org.names()) == ["A", "B"]
    assert pc.state()["lineage"] == json.loads((pc.root / "p.json").read_text())["lineage"]
    pc.assert_no_changes()
    # and a second plan of a new project cannot be applied over this one
    again = pc("apply", "p.json")
    assert again.code == 1 and "stale" in again.output.lower()
