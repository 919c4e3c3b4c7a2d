"""Apply order and concurrency, observed on the wire by a recording proxy: creates and
updates before deletes, a replacement's delete before its create (or the reverse with
create_before_destroy), `--parallelism` bounding the requests in flight, and output
in plan order whatever the timing."""

from __future__ import annotations

import re
from pathlib import Path

from e2e_helpers import Org, Polyctl, api_connection

WEBHOOK = {"url": "https://hooks.example.com", "auth_method": "header",
           "header": {"name": "X-Hook", "value": "h"}}


def _conn(name: str, url: str) -> dict:
    return {"name": name, "configuration": api_connection(url)}


def _initial() -> dict:
    return {
        "keep": _conn("Keep", "https://keep.example.com"),
        "upd": _conn("Upd", "https://upd.example.com"),
        "rep": _conn("Rep", "https://rep.example.com"),
        "cbd": {**_conn("Cbd", "https://cbd.example.com"),
                "lifecycle": {"create_before_destroy": True}},
        "del1": _conn("Del1", "https://del1.example.com"),
        "del2": _conn("Del2", "https://del2.example.com"),
    }


def _mixed() -> dict:
    return {
        "keep": _conn("Keep", "https://keep.example.com"),
        "upd": _conn("Upd", "https://upd.example.com/v2"),
        "rep": {"name": "Rep", "type": "webhook", "configuration": WEBHOOK},
        "cbd": {"name": "Cbd", "type": "webhook", "configuration": WEBHOOK,
                "lifecycle": {"create_before_destroy": True}},
        "new1": _conn("New1", "https://new1.example.com"),
        "new2": _conn("New2", "https://new2.example.com"),
    }


def test_creates_and_updates_run_before_deletes(pc: Polyctl, org: Org, sandbox, proxy_for) -> None:
    pc.specs(_initial())
    pc.apply()
    old = pc.ids()
    pc.specs(_mixed())
    assert pc.actions() == {"connection.upd": "update", "connection.rep": "replace",
                            "connection.cbd": "replace", "connection.new1": "create",
                            "connection.new2": "create", "connection.del1": "delete",
                            "connection.del2": "delete"}

    sandbox.set_faults(latency_ms=60)
    proxy = proxy_for(sandbox)
    pc.env["POLYTOMIC_DEPLOYMENT_URL"] = proxy.url
    result = pc.apply("--parallelism", "3")
    assert "Resources: 4 added, 1 changed, 4 destroyed." in result.stdout

    wire = [e for e in proxy.exchanges() if e.method in ("POST", "PUT", "DELETE")]

    def deleting(address: str):
        [e] = [e for e in wire if e.method == "DELETE" and e.path.endswith(old[address])]
        return e

    new_ids = pc.ids()
    assert sum(e.method == "POST" for e in wire) == 4
    assert [e.path for e in wire if e.method == "PUT"] == [f"/api/connections/{old['connection.upd']}"]

    plain_deletes = [deleting("connection.del1"), deleting("connection.del2"),
                     deleting("connection.cbd")]  # cbd's old object is deposed, then deleted
    first_phase = [e for e in wire if e.method in ("POST", "PUT")] + [deleting("connection.rep")]
    assert max(e.finished for e in first_phase) <= min(e.started for e in plain_deletes), (
        "a delete started before every create/update had finished")
    # replace without create_before_destroy: delete the old one, then create the new one
    rep_delete = deleting("connection.rep")
    assert any(e.method == "POST" and e.started >= rep_delete.finished for e in wire)
    # replace with create_before_destroy: the old one is deleted only after all creates
    assert deleting("connection.cbd").started >= max(e.finished for e in wire if e.method == "POST")

    live = org.by_name()
    assert sorted(live) == ["Cbd", "Keep", "New1", "New2", "Rep", "Upd"]
    assert live["Rep"]["type"]["id"] == "webhook" and live["Cbd"]["type"]["id"] == "webhook"
    assert new_ids["connection.rep"] != old["connection.rep"]
    assert new_ids["connection.cbd"] != old["connection.cbd"]
    assert not any("#deposed" in a for a in pc.resources())
    pc.assert_no_changes()


def test_parallelism_bounds_requests_in_flight(pc: Polyctl, org: Org, sandbox, proxy_for) -> None:
    proxy = proxy_for(sandbox)
    pc.env["POLYTOMIC_DEPLOYMENT_URL"] = proxy.url
    sandbox.set_faults(latency_ms=150)

    def batch(prefix: str) -> dict:
        return {f"{prefix}{i}": _conn(f"{prefix.upper()} {i}", f"https://{prefix}{i}.example.com")
                for i in range(8)}

    pc.specs(batch("p"), file="p.yaml")
    pc.apply("--parallelism", "2")
    posts = proxy.exchanges("POST")
    slow = span(posts)
    assert len(posts) == 8
    assert proxy.max_in_flight(posts) == 2

    proxy.clear()
    pc.specs(batch("q"), file="q.yaml")
    pc.apply("--parallelism", "8")
    posts = proxy.exchanges("POST")
    assert len(posts) == 8
    assert proxy.max_in_flight(posts) > 2
    # 8 creates at 150 ms, 2 at a time, cannot take less than four rounds (how much
    # faster 8 at a time is depends on the machine's load: their overlap is the proof)
    assert slow >= 4 * 0.150
    assert len(org.connections()) == 16


def span(exchanges) -> float:
    """Seconds from the first request's start to the last one's end."""
    return max(e.finished for e in exchanges) - min(e.started for e in exchanges)


def _normalised(text: str) -> list[str]:
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)
    text = re.sub(r"after \d+(\.\d+)?s", "after <t>", text)
    text = re.sub(r"deposed object [0-9a-f]{8}", "deposed object <id>", text)
    return text.splitlines()


def test_output_follows_plan_order_across_runs(pc: Polyctl, org: Org, sandbox,
                                               tmp_path: Path) -> None:
    """The same mixed plan applied in two organizations prints the same lines, in plan
    order, although the operations finish in different orders."""
    other_org = org.new_org()
    twin_root = tmp_path / "twin"
    (twin_root / "specs").mkdir(parents=True)
    twin = Polyctl(twin_root, {**pc.env, "POLYTOMIC_API_KEY": other_org.api_key})
    outputs = []
    for project in (pc, twin):
        project.specs(_initial())
        project.apply()
        project.specs(_mixed())
        sandbox.set_faults(latency_ms=40)
        outputs.append(project.apply("--parallelism", "10").stdout)
        sandbox.set_faults(latency_ms=0)
    first, second = (_normalised(o) for o in outputs)
    assert first == second
    progress = [line.split(":")[0] for line in first
                if re.match(r"connection\.\w+(\s\(deposed object [^)]+\))?: ", line)]
    addresses = [p.split(" ")[0] for p in progress]
    # each operation prints its start and end lines together, in plan order (by address;
    # a replacement's two operations together), whatever order they ran and ended in
    assert addresses == [
        "connection.cbd", "connection.cbd", "connection.cbd", "connection.cbd",
        "connection.del1", "connection.del1",
        "connection.del2", "connection.del2",
        "connection.new1", "connection.new1",
        "connection.new2", "connection.new2",
        "connection.rep", "connection.rep", "connection.rep", "connection.rep",
        "connection.upd", "connection.upd",
    ], first
    assert "(deposed object" in progress[2] and "(deposed object" not in progress[0]
    other_org.close()
