"""`polyctl destroy` and `plan --destroy`: every managed connection goes (and only those),
prevent_destroy stops the whole run, force_destroy recorded in state cascades."""

from __future__ import annotations

from e2e_helpers import Org, Polyctl, api_connection, delta, writes


def _conn(name: str, **extra) -> dict:
    return {"name": name, "configuration": api_connection(f"https://{name.lower()}.example.com"),
            **extra}


def test_destroy_removes_every_managed_connection_and_nothing_else(pc: Polyctl, org: Org,
                                                                   sandbox) -> None:
    outside = org.create("Not Mine", api_connection("https://outside.example.com"))
    pc.specs({"a": _conn("A"), "b": _conn("B"), "c": _conn("C", force_destroy=True)})
    pc.apply()
    model = org.model("On C", pc.ids()["connection.c"])

    plan = pc("plan", "--destroy", "--detailed-exitcode")
    assert plan.code == 2
    for address in ("connection.a", "connection.b", "connection.c"):
        assert f"# {address} will be destroyed" in plan.stdout
    assert f'#   - model "On C" ({model["id"]})' in plan.stdout  # c's cascade is listed
    assert "Plan: 0 to add, 0 to change, 3 to destroy." in plan.stdout
    assert sorted(org.names()) == ["A", "B", "C", "Not Mine"]  # plan changed nothing

    before = sandbox.stats()
    result = pc("destroy", "--auto-approve")
    assert result.code == 0, result.output
    assert "Destroy complete! Resources: 3 destroyed." in result.stdout
    assert delta(before, sandbox.stats())["by_route"]["DELETE /api/connections/{id}"] == {"200": 3}
    assert org.names() == ["Not Mine"]
    assert org.connections()[0]["id"] == outside["id"]
    assert not org.exists("model", model["id"])
    assert pc.resources() == {}

    # the specs still declare them: a plain plan would create them again
    assert pc.actions() == {"connection.a": "create", "connection.b": "create",
                            "connection.c": "create"}
    again = pc("destroy", "--auto-approve")
    assert again.code == 0 and "No changes." in again.stdout


def test_destroy_asks_first(pc: Polyctl, org: Org) -> None:
    pc.specs({"a": _conn("A")})
    pc.apply()
    refused = pc("destroy", stdin="no\n")
    assert refused.code == 1
    assert "Do you really want to destroy all managed connections?" in refused.stdout
    assert org.names() == ["A"]
    assert pc("destroy", stdin="yes\n").code == 0
    assert org.names() == []


def test_prevent_destroy_fails_the_whole_destroy(pc: Polyctl, org: Org, sandbox) -> None:
    pc.specs({"a": _conn("A"), "kept": _conn("Kept", lifecycle={"prevent_destroy": True})})
    pc.apply()
    before = sandbox.stats()
    for args in (("plan", "--destroy"), ("destroy", "--auto-approve")):
        result = pc(*args)
        assert result.code == 1
        assert "Instance cannot be destroyed" in result.stderr
        assert "connection.kept" in result.stderr
    assert writes(delta(before, sandbox.stats())) == 0
    assert sorted(org.names()) == ["A", "Kept"]

    # removing the spec block does not lift it: the state remembers
    pc.specs({"a": _conn("A")})
    removed = pc("apply", "--auto-approve")
    assert removed.code == 1
    assert "its state records lifecycle.prevent_destroy" in removed.stderr
    assert sorted(org.names()) == ["A", "Kept"]

    # lifting it is an apply of its own (state only), then the destroy goes through
    pc.specs({"a": _conn("A"), "kept": _conn("Kept", lifecycle={"prevent_destroy": False})})
    assert pc.actions() == {"connection.kept": "state-only"}
    pc.apply()
    assert pc("destroy", "--auto-approve").code == 0
    assert org.names() == []


def test_destroy_target_destroys_only_that_one(pc: Polyctl, org: Org) -> None:
    pc.specs({"a": _conn("A"), "b": _conn("B")})
    pc.apply()
    plan = pc.plan_json("--destroy", "--target", "connection.b")
    assert [(rc["address"], rc["action"]) for rc in plan["resource_changes"]] == [
        ("connection.b", "delete")]
    assert pc("destroy", "--auto-approve", "--target", "connection.b").code == 0
    assert org.names() == ["A"]
    assert set(pc.resources()) == {"connection.a"}
