"""force_destroy exactly as the seed says, with real dependents (a model, a model sync
and a bulk sync created over HTTP) that are really kept or really gone afterwards."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from e2e_helpers import Org, Polyctl, api_connection, delta, writes

WEBHOOK = {"url": "https://hooks.example.com", "auth_method": "header",
           "header": {"name": "X-Hook", "value": "h"}}
HINT = "Set force_destroy: true on this connection and apply once"


@dataclass
class Dependents:
    model: dict
    sync: dict
    bulk_sync: dict

    def messages(self) -> list[str]:
        return [f'Connection is used by model "{self.model["name"]}" ({self.model["id"]})',
                f'Connection is used by sync "{self.sync["name"]}" ({self.sync["id"]})',
                f'Connection is used by bulk_sync "{self.bulk_sync["name"]}" '
                f'({self.bulk_sync["id"]})']

    def listed(self) -> list[str]:
        return [f'#   - model "{self.model["name"]}" ({self.model["id"]})',
                f'#   - sync "{self.sync["name"]}" ({self.sync["id"]})',
                f'#   - bulk_sync "{self.bulk_sync["name"]}" ({self.bulk_sync["id"]})']

    def all_exist(self, org: Org) -> bool:
        return all(org.exists(kind, obj["id"]) for kind, obj in
                   (("model", self.model), ("sync", self.sync), ("bulk_sync", self.bulk_sync)))

    def none_exist(self, org: Org) -> bool:
        return not any(org.exists(kind, obj["id"]) for kind, obj in
                       (("model", self.model), ("sync", self.sync), ("bulk_sync", self.bulk_sync)))


def used_spec(force_destroy: bool | None = None, type_: str = "api") -> dict:
    block: dict = {"name": "Warehouse API",
                   "configuration": api_connection("https://warehouse.example.com")}
    if type_ != "api":
        block.update(type=type_, configuration=WEBHOOK)
    if force_destroy is not None:
        block["force_destroy"] = force_destroy
    return block


SPARE = {"name": "Spare", "configuration": api_connection("https://spare.example.com")}


def make_dependents(org: Org, connection_id: str) -> Dependents:
    outside = org.create("Outside CRM", api_connection("https://crm.example.com"))
    model = org.model("Orders", connection_id)
    sync = org.sync("Orders to CRM", connection_id, [model["id"]])
    bulk = org.bulk_sync("Warehouse mirror", connection_id, outside["id"])
    return Dependents(model, sync, bulk)


@pytest.fixture
def in_use(pc: Polyctl, org: Org) -> Dependents:
    """connection.used (with a model, a sync and a bulk sync) and connection.spare, applied
    without force_destroy."""
    pc.specs({"used": used_spec(), "spare": SPARE})
    pc.apply()
    deps = make_dependents(org, pc.ids()["connection.used"])
    assert pc.resources()["connection.used"]["force_destroy"] is False
    return deps


def test_setting_force_destroy_alone_is_a_state_only_change(pc: Polyctl, org: Org, sandbox,
                                                            in_use: Dependents) -> None:
    pc.specs({"used": used_spec(force_destroy=True), "spare": SPARE})
    plan = pc("plan", "--detailed-exitcode")
    assert plan.code == 2
    assert "# connection.used will be updated in state only (no API call)" in plan.stdout
    assert "~ force_destroy = false -> true" in plan.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan.stdout

    before = sandbox.stats()
    applied = pc.apply()
    assert "connection.used: State updated" in applied.stdout
    assert writes(delta(before, sandbox.stats())) == 0  # no API call changed anything
    assert pc.resources()["connection.used"]["force_destroy"] is True
    assert in_use.all_exist(org)
    pc.assert_no_changes()


def test_force_destroy_set_in_the_same_run_as_a_destroy_has_no_effect(
        pc: Polyctl, org: Org, in_use: Dependents) -> None:
    pc.specs({"used": used_spec(force_destroy=True), "spare": SPARE})
    plan = pc("plan", "--destroy")
    assert plan.code == 0
    assert ("Warning: connection.used: force_destroy is set in the spec but not yet in state"
            in plan.stdout)
    assert "cascade-deleted:" not in plan.stdout  # nothing will be cascade-deleted

    result = pc("destroy", "--auto-approve")
    assert result.code == 1
    for message in in_use.messages():
        assert message in result.stderr
    assert HINT in result.stderr
    assert "connection.spare: Destruction complete" in result.stdout  # the rest completes
    assert "Apply incomplete. Resources: 0 added, 0 changed, 1 destroyed. 1 operation(s) failed." \
        in result.stdout
    assert in_use.all_exist(org)
    assert sorted(org.names()) == ["Outside CRM", "Warehouse API"]
    state = pc.resources()
    assert set(state) == {"connection.used"}
    assert state["connection.used"]["force_destroy"] is False  # the destroy did not record it


def test_force_destroy_set_in_the_same_run_as_a_replace_has_no_effect(
        pc: Polyctl, org: Org, in_use: Dependents) -> None:
    used_id = pc.ids()["connection.used"]
    pc.specs({"used": used_spec(force_destroy=True, type_="webhook"),
              "spare": {**SPARE, "name": "Spare v2"}})
    plan = pc("plan")
    assert "# connection.used must be replaced" in plan.stdout
    assert ("Warning: connection.used: force_destroy is set in the same run as a replacement"
            in plan.stdout)
    assert "cascade-deleted:" not in plan.stdout

    result = pc("apply", "--auto-approve")
    assert result.code == 1
    for message in in_use.messages():
        assert message in result.stderr
    assert "Modifications complete" in result.stdout  # spare's update still ran
    assert "connection.used: Not started" in result.stdout  # the create after the failed delete
    assert in_use.all_exist(org)
    live = org.by_name()
    assert sorted(live) == ["Outside CRM", "Spare v2", "Warehouse API"]
    assert live["Warehouse API"]["id"] == used_id and live["Warehouse API"]["type"]["id"] == "api"
    state = pc.resources()
    assert state["connection.used"]["id"] == used_id
    assert state["connection.used"]["type"] == "api"
    assert state["connection.used"]["force_destroy"] is False


def test_in_use_without_force_destroy_fails_keeps_it_and_finishes_the_rest(
        pc: Polyctl, org: Org, in_use: Dependents) -> None:
    used_id = pc.ids()["connection.used"]
    pc.specs({"fresh": {"name": "Fresh", "configuration": api_connection("https://f.example.com")}})
    result = pc("apply", "--auto-approve")
    assert result.code == 1
    assert f"Error: connection.used (delete): {in_use.messages()[0]}" in result.stderr
    for message in in_use.messages():
        assert message in result.stderr
    assert HINT in result.stderr
    assert "Resources: 1 added, 0 changed, 1 destroyed. 1 operation(s) failed." in result.stdout
    assert in_use.all_exist(org)
    assert sorted(org.names()) == ["Fresh", "Outside CRM", "Warehouse API"]
    assert pc.ids()["connection.used"] == used_id
    assert set(pc.resources()) == {"connection.fresh", "connection.used"}


def test_with_force_destroy_recorded_the_destroy_cascades(pc: Polyctl, org: Org, sandbox,
                                                          proxy_for, in_use: Dependents) -> None:
    pc.specs({"used": used_spec(force_destroy=True), "spare": SPARE})
    pc.apply()  # records force_destroy (state only)
    pc.specs({"spare": SPARE})

    plan = pc("plan")
    assert "# connection.used will be destroyed" in plan.stdout
    assert "# force_destroy: these dependents will be cascade-deleted:" in plan.stdout
    for line in in_use.listed():
        assert line in plan.stdout
    deps = {(d["type"], d["id"]) for d in next(
        rc for rc in pc.plan_json()["resource_changes"] if rc["address"] == "connection.used"
    )["dependents"]}
    assert deps == {("model", in_use.model["id"]), ("sync", in_use.sync["id"]),
                    ("bulk_sync", in_use.bulk_sync["id"])}

    proxy = proxy_for(sandbox)
    pc.env["POLYTOMIC_DEPLOYMENT_URL"] = proxy.url
    result = pc.apply()
    assert "Resources: 0 added, 0 changed, 1 destroyed." in result.stdout
    [delete] = proxy.exchanges("DELETE")
    assert delete.query == "force=true"
    assert in_use.none_exist(org)
    assert sorted(org.names()) == ["Outside CRM", "Spare"]  # the other end of the bulk sync stays
    assert set(pc.resources()) == {"connection.spare"}


def test_with_force_destroy_recorded_a_replace_cascades(pc: Polyctl, org: Org,
                                                        in_use: Dependents) -> None:
    pc.specs({"used": used_spec(force_destroy=True), "spare": SPARE})
    pc.apply()
    pc.specs({"used": used_spec(force_destroy=True, type_="webhook"), "spare": SPARE})
    plan = pc("plan")
    assert "# connection.used must be replaced" in plan.stdout
    assert "Warning" not in plan.stdout
    for line in in_use.listed():
        assert line in plan.stdout
    pc.apply()
    assert in_use.none_exist(org)
    assert org.by_name()["Warehouse API"]["type"]["id"] == "webhook"


def test_after_import_force_destroy_is_unset_until_an_apply_records_it(
        pc: Polyctl, org: Org, sandbox) -> None:
    legacy = org.create("Legacy API", api_connection("https://legacy.example.com"))
    deps = make_dependents(org, legacy["id"])
    pc.specs({"legacy": {"name": "Legacy API", "force_destroy": True,
                         "configuration": api_connection("https://legacy.example.com")}})
    assert pc("import", "connection.legacy", legacy["id"]).code == 0
    assert pc.resources()["connection.legacy"]["force_destroy"] is None

    # destroying now ignores the spec's force_destroy: the connection is in use
    plan = pc("plan", "--destroy")
    assert "force_destroy is set in the spec but not yet in state" in plan.stdout
    result = pc("destroy", "--auto-approve")
    assert result.code == 1
    for message in deps.messages():
        assert message in result.stderr
    assert deps.all_exist(org) and org.exists("connection", legacy["id"])
    assert pc.resources()["connection.legacy"]["force_destroy"] is None

    # one apply records it (no API call), then the destroy cascades
    assert pc.actions() == {"connection.legacy": "state-only"}
    before = sandbox.stats()
    pc.apply()
    assert writes(delta(before, sandbox.stats())) == 0
    assert pc.resources()["connection.legacy"]["force_destroy"] is True
    plan = pc("plan", "--destroy")
    for line in deps.listed():
        assert line in plan.stdout
    assert pc("destroy", "--auto-approve").code == 0
    assert deps.none_exist(org)
    assert not org.exists("connection", legacy["id"])
    assert pc.resources() == {}
