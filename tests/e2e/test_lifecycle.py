"""The whole life of connections, over real HTTP: create, no-op, update, drift made with
the official SDK (changed and deleted outside polyctl), rename, type change (replace),
delete — checking the sandbox's real contents after every step."""

from __future__ import annotations

from e2e_helpers import Org, Polyctl, api_connection

MASK = "********"
HOOK = {"url": "https://hooks.example.com/beta", "auth_method": "header",
        "header": {"name": "X-Hook", "value": "X-Hook-Value"}}


def live_view(org: Org) -> dict[str, tuple[str, dict]]:
    """name → (type, configuration) of every connection in the sandbox (no duplicates)."""
    return {name: (c["type"]["id"], c["configuration"]) for name, c in org.by_name().items()}


def test_create_update_drift_rename_replace_delete(pc: Polyctl, org: Org) -> None:
    pc.env["ALPHA_TOKEN"] = "alpha-token-1f9e"
    pc.secrets |= {"alpha-token-1f9e", "beta-password-77c2"}
    pc.specs({
        "alpha": {"name": "Alpha", "configuration": api_connection(
            "https://alpha.example.com", secret="${env:ALPHA_TOKEN}", headers={"Accept": "application/json"})},
        "beta": {"name": "Beta", "configuration": {
            "url": "https://beta.example.com",
            "auth": {"basic": {"username": "svc", "password": "beta-password-77c2"}}}},
    })

    # create
    plan = pc("plan", "--detailed-exitcode")
    assert plan.code == 2 and "Plan: 2 to add, 0 to change, 0 to destroy." in plan.stdout
    assert org.connections() == []  # planning changes nothing
    applied = pc.apply()
    assert "Apply complete! Resources: 2 added, 0 changed, 0 destroyed." in applied.stdout
    assert live_view(org) == {
        "Alpha": ("api", {"url": "https://alpha.example.com",
                          "auth": {"header": {"name": "Authorization", "value": MASK}},
                          "headers": [{"name": "Accept", "value": "application/json"}]}),
        "Beta": ("api", {"url": "https://beta.example.com",
                         "auth": {"basic": {"username": "svc", "password": MASK}}}),
    }
    ids = pc.ids()
    assert ids == {"connection.alpha": org.by_name()["Alpha"]["id"],
                   "connection.beta": org.by_name()["Beta"]["id"]}

    # no-op
    pc.assert_no_changes()

    # edit → update in place
    pc.specs({
        "alpha": {"name": "Alpha", "configuration": api_connection(
            "https://alpha.example.com/v2", secret="${env:ALPHA_TOKEN}",
            headers={"Accept": "application/json", "X-Team": "data"})},
        "beta": {"name": "Beta", "configuration": {
            "url": "https://beta.example.com",
            "auth": {"basic": {"username": "svc", "password": "beta-password-77c2"}}}},
    })
    plan = pc("plan", "--detailed-exitcode")
    assert plan.code == 2
    assert "# connection.alpha will be updated in-place" in plan.stdout
    assert '~ url     = "https://alpha.example.com" -> "https://alpha.example.com/v2"' in plan.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan.stdout
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in pc.apply().stdout
    alpha = org.by_name()["Alpha"]
    assert alpha["id"] == ids["connection.alpha"]
    assert alpha["configuration"]["url"] == "https://alpha.example.com/v2"
    assert sorted(h["name"] for h in alpha["configuration"]["headers"]) == ["Accept", "X-Team"]
    assert len(org.connections()) == 2
    pc.assert_no_changes()

    # drift made outside polyctl with the official SDK: a header and the name changed,
    # and beta deleted
    drifted = {"url": "https://alpha.example.com/v2",
               "auth": {"header": {"name": "Authorization", "value": "alpha-token-1f9e"}},
               "headers": [{"name": "Accept", "value": "text/xml"},
                           {"name": "X-Team", "value": "data"}]}
    org.sdk.connections.update(alpha["id"], name="Alpha (edited by hand)", configuration=drifted)
    org.sdk.connections.delete(ids["connection.beta"])
    plan = pc("plan", "--detailed-exitcode")
    assert plan.code == 2
    drift_part, _, action_part = plan.stdout.partition("polyctl will perform the following actions")
    assert "changed outside polyctl" in drift_part
    assert "# connection.alpha has changed" in drift_part
    assert '~ name          = "Alpha" -> "Alpha (edited by hand)"' in drift_part
    assert '+ value = "text/xml"' in drift_part
    assert "# connection.beta has been deleted" in drift_part
    assert "# connection.alpha will be updated in-place" in action_part
    assert '~ name          = "Alpha (edited by hand)" -> "Alpha"' in action_part
    assert '+ value = "application/json"' in action_part
    assert "# connection.beta will be created" in action_part
    assert "Plan: 1 to add, 1 to change, 0 to destroy." in plan.stdout
    pc.apply()
    live = org.by_name()
    assert sorted(live) == ["Alpha", "Beta"]
    assert live["Alpha"]["id"] == ids["connection.alpha"]
    assert sorted((h["name"], h["value"]) for h in live["Alpha"]["configuration"]["headers"]) == [
        ("Accept", "application/json"), ("X-Team", "data")]
    assert live["Beta"]["id"] != ids["connection.beta"]  # re-created
    assert pc.ids()["connection.beta"] == live["Beta"]["id"]
    pc.assert_no_changes()

    # rename (display name): an update of the same connection
    pc.specs({
        "alpha": {"name": "Alpha Renamed", "configuration": api_connection(
            "https://alpha.example.com/v2", secret="${env:ALPHA_TOKEN}",
            headers={"Accept": "application/json", "X-Team": "data"})},
        "beta": {"name": "Beta", "configuration": {
            "url": "https://beta.example.com",
            "auth": {"basic": {"username": "svc", "password": "beta-password-77c2"}}}},
    })
    assert pc.actions() == {"connection.alpha": "update"}
    pc.apply()
    live = org.by_name()
    assert sorted(live) == ["Alpha Renamed", "Beta"]
    assert live["Alpha Renamed"]["id"] == ids["connection.alpha"]
    pc.assert_no_changes()

    # type change → replacement (-/+, forces replacement): the old one is really gone
    old_beta = live["Beta"]["id"]
    pc.specs({
        "alpha": {"name": "Alpha Renamed", "configuration": api_connection(
            "https://alpha.example.com/v2", secret="${env:ALPHA_TOKEN}",
            headers={"Accept": "application/json", "X-Team": "data"})},
        "beta": {"name": "Beta", "type": "webhook",
                 "configuration": HOOK},
    })
    plan = pc("plan")
    assert "# connection.beta must be replaced" in plan.stdout
    assert "-/+ resource" in plan.stdout
    assert '~ type          = "api" -> "webhook" # forces replacement' in plan.stdout
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in plan.stdout
    assert "Apply complete! Resources: 1 added, 0 changed, 1 destroyed." in pc.apply().stdout
    assert live_view(org)["Beta"] == ("webhook", HOOK)
    assert not org.exists("connection", old_beta)
    assert len(org.connections()) == 2
    pc.assert_no_changes()

    # delete: remove the spec block
    pc.specs({"beta": {"name": "Beta", "type": "webhook",
                       "configuration": HOOK}})
    plan = pc("plan")
    assert "# connection.alpha will be destroyed" in plan.stdout
    assert "Plan: 0 to add, 0 to change, 1 to destroy." in plan.stdout
    assert "Apply complete! Resources: 0 added, 0 changed, 1 destroyed." in pc.apply().stdout
    assert org.names() == ["Beta"]
    assert set(pc.resources()) == {"connection.beta"}
    pc.clear_specs()
    pc.apply()
    assert org.connections() == []
    assert pc.resources() == {}
    pc.assert_no_changes()


def test_readme_main_job_on_the_embedded_sandbox(pc: Polyctl) -> None:
    """`polyctl --sandbox apply --auto-approve` on the repository's specs/, as a real
    process; the embedded sandbox keeps its data, so the next plan is a no-op."""
    import shutil

    from e2e_helpers import root

    shutil.rmtree(pc.root / "specs")
    shutil.copytree(root.REPO / "specs", pc.root / "specs")
    pc.env = {}
    first = pc.process("--sandbox", "apply", "--auto-approve")
    assert first.code == 0, first.output
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in first.stdout
    again = pc.process("--sandbox", "plan", "--detailed-exitcode")
    assert again.code == 0, again.output
    assert "No changes." in again.stdout
