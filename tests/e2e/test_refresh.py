"""Refresh: one list call per organization, per-id GETs only when listing is forbidden,
and `--refresh-only` / `polyctl refresh` that record drift without touching Polytomic."""

from __future__ import annotations

import uuid

from e2e_helpers import Org, Polyctl, api_connection, connection_requests, delta, writes


def _specs(n: int, organization: str | None = None, prefix: str = "svc") -> dict:
    out = {}
    for i in range(n):
        block = {"name": f"{prefix.title()} {i:02d}",
                 "configuration": api_connection(f"https://{prefix}{i}.example.com")}
        if organization:
            block["organization"] = organization
        out[f"{prefix}_{i:02d}"] = block
    return out


def test_refresh_lists_once_for_twenty_connections(pc: Polyctl, org: Org, sandbox) -> None:
    pc.specs(_specs(20))
    pc.apply()
    assert len(org.connections()) == 20

    for command in (("plan",), ("refresh",), ("apply", "--auto-approve")):
        before = sandbox.stats()
        result = pc(*command)
        assert result.code == 0, result.output
        requests = connection_requests(delta(before, sandbox.stats()))
        assert requests == {"GET /api/connections": 1}, (command, requests)


def test_refresh_lists_once_per_organization(pc: Polyctl, sandbox) -> None:
    """Partner credentials managing two organizations: one list call for each."""
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    pc.env = {"POLYTOMIC_DEPLOYMENT_URL": sandbox.url, "POLYTOMIC_PARTNER_KEY": sandbox.partner_key}
    pc.specs({**_specs(3, first, "one"), **_specs(4, second, "two")})
    pc.apply()

    before = sandbox.stats()
    pc.assert_no_changes()
    requests = connection_requests(delta(before, sandbox.stats()))
    assert requests == {"GET /api/connections": 2}
    state = pc.resources()
    assert {r["organization_id"] for r in state.values()} == {first, second}


def test_refresh_falls_back_to_one_get_per_id_when_listing_is_forbidden(
        pc: Polyctl, org: Org, sandbox, proxy_for) -> None:
    pc.specs(_specs(5))
    pc.apply()
    gone = org.by_name()["Svc 03"]["id"]
    org.sdk.connections.delete(gone)

    # The sandbox cannot forbid only the list; a proxy answers that one with 403.
    proxy = proxy_for(sandbox, forbid={("GET", "/api/connections")})
    pc.env["POLYTOMIC_DEPLOYMENT_URL"] = proxy.url
    plan = pc.plan_json()
    routes = sorted(e.route for e in proxy.exchanges())
    ids = sorted(pc.ids().values())
    assert routes == ["GET /api/connections"] + sorted(f"GET /api/connections/{i}" for i in ids)
    assert [e.status for e in proxy.exchanges("GET") if e.path == "/api/connections"] == [403]
    assert [d["address"] for d in plan["resource_drift"]] == ["connection.svc_03"]
    assert {rc["address"]: rc["action"] for rc in plan["resource_changes"]
            if rc["action"] != "no-op"} == {"connection.svc_03": "create"}


def test_refresh_only_records_drift_without_touching_polytomic(pc: Polyctl, org: Org,
                                                               sandbox) -> None:
    pc.specs(_specs(3))
    pc.apply()
    live = org.by_name()
    org.sdk.connections.update(live["Svc 00"]["id"], name="Svc 00 (by hand)",
                               configuration=api_connection("https://changed.example.com"))
    org.sdk.connections.delete(live["Svc 01"]["id"])
    serial = pc.state()["serial"]

    before = sandbox.stats()
    plan = pc("plan", "--refresh-only", "--detailed-exitcode")
    assert plan.code == 2, plan.output
    assert "changed outside polyctl" in plan.stdout
    assert "# connection.svc_00 has changed" in plan.stdout
    assert "# connection.svc_01 has been deleted" in plan.stdout
    assert "will be created" not in plan.stdout and "will be updated" not in plan.stdout
    assert pc.state()["serial"] == serial  # plan writes nothing

    applied = pc("apply", "--refresh-only", "--auto-approve")
    assert applied.code == 0, applied.output
    assert writes(delta(before, sandbox.stats())) == 0
    state = pc.resources()
    assert state["connection.svc_00"]["name"] == "Svc 00 (by hand)"
    assert state["connection.svc_00"]["configuration"]["url"] == "https://changed.example.com"
    assert "connection.svc_01" not in state
    assert pc.state()["serial"] > serial
    assert org.names() == ["Svc 00 (by hand)", "Svc 02"]  # Polytomic untouched

    # the drift is now the state's truth: the next plan is the update that reverts it
    assert pc.actions() == {"connection.svc_00": "update", "connection.svc_01": "create"}
    assert pc.plan_json()["resource_drift"] == []

    # `polyctl refresh` does the same, unasked
    org.sdk.connections.update(live["Svc 02"]["id"], name="Svc 02 (by hand)",
                               configuration=api_connection("https://svc2.example.com"))
    before = sandbox.stats()
    refreshed = pc("refresh")
    assert refreshed.code == 0, refreshed.output
    assert writes(delta(before, sandbox.stats())) == 0
    assert pc.resources()["connection.svc_02"]["name"] == "Svc 02 (by hand)"
    assert org.names() == ["Svc 00 (by hand)", "Svc 02 (by hand)"]

    # and the normal apply reverts everything
    pc.apply()
    assert org.names() == ["Svc 00", "Svc 01", "Svc 02"]
    pc.assert_no_changes()


def test_masked_secrets_never_count_as_drift(pc: Polyctl, org: Org, sandbox) -> None:
    pc.env["TOKEN"] = "masked-token-5d1"
    pc.secrets.add("masked-token-5d1")
    pc.specs({"a": {"name": "A", "configuration": {
        "url": "https://a.example.com",
        "auth": {"header": {"name": "Authorization", "value": "${env:TOKEN}"},
                 "oauth": {"client_id": "c", "client_secret": "${env:TOKEN}",
                           "token_endpoint": "https://a.example.com/token"}}}}})
    pc.apply()
    assert org.by_name()["A"]["configuration"]["auth"]["oauth"]["client_secret"] == "********"
    plan = pc.plan_json()
    assert plan["resource_drift"] == []
    assert [rc["action"] for rc in plan["resource_changes"]] == ["no-op"]
