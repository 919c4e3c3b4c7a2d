"""A real `polyctl apply` process SIGKILLed anywhere, then run again: the organization
converges to the specs exactly — no duplicate connection, none lost, no orphan — the
state stays parseable and its serial never goes back.

Kill points are a fixed list: wall-clock delays after the process starts (startup,
planning, the first requests) and moments counted on the sandbox (after the k-th write
was committed, while up to `parallelism` more are in flight under injected latency).
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

import pytest

from e2e_helpers import Org, Polyctl, api_connection, wait_until, writes

N = 30
PARALLELISM = "4"
LATENCY_MS = 40
SECRET = "crash-secret-77aa"
WEBHOOK = {"url": "https://hooks.example.com", "auth_method": "header",
           "header": {"name": "X-Hook", "value": "h"}}

# ("start", s): s seconds after the process starts (startup, planning);
# ("request", s): s seconds after the sandbox saw its first request;
# ("writes", k): once k POST/PUT/DELETE were committed (up to 3 more are in flight).
KILL_POINTS = [
    ("start", 0.0), ("request", 0.0), ("request", 0.05), ("request", 0.12), ("request", 0.25),
    ("writes", 1), ("writes", 3), ("writes", 7), ("writes", 13), ("writes", 20),
    ("writes", 27), ("writes", 30),
]


def _creates(n: int = N) -> dict:
    return {f"c{i:02d}": {"name": f"Crash {i:02d}", "configuration": api_connection(
        f"https://c{i}.example.com", secret="${env:CRASH_TOKEN}")} for i in range(n)}


def _serial(pc: Polyctl) -> int:
    if not pc.state_path.exists():
        return 0
    return json.loads(pc.state_path.read_text())["serial"]  # must always parse


def kill_at(pc: Polyctl, sandbox, point: tuple[str, float], *args: str) -> int:
    """Start `polyctl apply --auto-approve`, SIGKILL it at `point`; its exit code."""
    kind, value = point
    base = sandbox.stats()
    running = pc.popen("apply", "--auto-approve", "--parallelism", PARALLELISM, *args)
    if kind == "writes":
        assert wait_until(lambda: writes(sandbox.stats()) - writes(base) >= value
                          or running.proc.poll() is not None, timeout=60)
    elif kind == "request":
        assert wait_until(lambda: sandbox.stats()["total_requests"] > base["total_requests"]
                          or running.proc.poll() is not None, timeout=60)
    time.sleep(value if kind != "writes" else 0)
    running.kill()
    return running.wait().code


def assert_converged(pc: Polyctl, org: Org, specs: dict, serials: list[int]) -> None:
    live = org.connections()
    names = Counter(c["name"] for c in live)
    assert [n for n, k in names.items() if k > 1] == [], "duplicate connections"
    assert sorted(names) == sorted(block["name"] for block in specs.values()), "lost or orphaned"
    by_name = {c["name"]: c for c in live}
    for block in specs.values():
        conn = by_name[block["name"]]
        assert conn["type"]["id"] == block.get("type", "api")
        assert conn["configuration"]["url"] == block["configuration"]["url"]
    state = pc.resources()
    assert sorted(state) == sorted(f"connection.{a}" for a in specs)
    assert {r["id"] for r in state.values()} == {c["id"] for c in live}
    assert serials == sorted(serials) and serials[-1] > serials[0], serials
    assert pc.journal() == []
    pc.assert_no_changes()


@pytest.mark.parametrize("point", KILL_POINTS, ids=[f"{k}-{v}" for k, v in KILL_POINTS])
def test_killed_create_run_converges(pc: Polyctl, org: Org, sandbox, point) -> None:
    pc.env["CRASH_TOKEN"] = SECRET
    pc.secrets.add(SECRET)
    specs = _creates()
    pc.specs(specs)
    sandbox.set_faults(latency_ms=LATENCY_MS)
    serials = [_serial(pc)]

    code = kill_at(pc, sandbox, point)
    if point[0] == "writes" and point[1] < N:
        assert code == -signal.SIGKILL  # it cannot have finished: creates were left
    serials.append(_serial(pc))
    assert not pc.leaked_secrets()  # the journal a crash leaves holds no secret either
    made = len(org.connections())
    assert made <= N

    sandbox.set_faults(latency_ms=0)
    journal = pc.journal()
    rerun = pc("apply", "--auto-approve")
    assert rerun.code == 0, rerun.output
    in_flight = sum(e["type"] == "pending" for e in journal) - sum(e["type"] == "done" for e in journal)
    if in_flight:
        assert f"{in_flight} in flight." in rerun.stderr
    serials.append(_serial(pc))
    assert_converged(pc, org, specs, serials)


def test_killed_recovery_run_converges_too(pc: Polyctl, org: Org, sandbox) -> None:
    """Killed mid-apply, then the run that recovers is killed too, then a third finishes."""
    pc.env["CRASH_TOKEN"] = SECRET
    pc.secrets.add(SECRET)
    specs = _creates()
    pc.specs(specs)
    sandbox.set_faults(latency_ms=LATENCY_MS)
    serials = [_serial(pc)]
    assert kill_at(pc, sandbox, ("writes", 9)) == -signal.SIGKILL
    serials.append(_serial(pc))
    assert kill_at(pc, sandbox, ("writes", 9)) == -signal.SIGKILL
    serials.append(_serial(pc))
    sandbox.set_faults(latency_ms=0)
    final = pc("apply", "--auto-approve")
    assert final.code == 0, final.output
    assert "Recovered an interrupted run" in final.stderr
    serials.append(_serial(pc))
    assert_converged(pc, org, specs, serials)


def _mixed_before() -> dict:
    specs = {}
    for i in range(4):
        specs[f"upd{i}"] = {"name": f"Upd {i}", "configuration": api_connection(f"https://u{i}.example.com")}
        specs[f"del{i}"] = {"name": f"Del {i}", "configuration": api_connection(f"https://d{i}.example.com")}
        specs[f"rep{i}"] = {"name": f"Rep {i}", "configuration": api_connection(f"https://r{i}.example.com"),
                            "lifecycle": {"create_before_destroy": i % 2 == 1}}
    return specs


def _mixed_after() -> dict:
    specs = {}
    for i in range(4):
        specs[f"upd{i}"] = {"name": f"Upd {i} v2", "configuration": api_connection(
            f"https://u{i}.example.com/v2", secret="${env:CRASH_TOKEN}")}
        specs[f"rep{i}"] = {"name": f"Rep {i}", "type": "webhook", "configuration": WEBHOOK,
                            "lifecycle": {"create_before_destroy": i % 2 == 1}}
    for i in range(6):
        specs[f"new{i}"] = {"name": f"New {i}", "configuration": api_connection(f"https://n{i}.example.com")}
    return specs


MIXED_POINTS = [1, 6, 13]


@pytest.mark.parametrize("after_writes", MIXED_POINTS)
def test_killed_mixed_run_converges(pc: Polyctl, org: Org, sandbox, after_writes: int) -> None:
    """Updates, deletes, replacements (both orders) and creates, killed part-way."""
    pc.env["CRASH_TOKEN"] = SECRET
    pc.secrets.add(SECRET)
    pc.specs(_mixed_before())
    pc.apply()
    specs = _mixed_after()
    pc.specs(specs)
    # 4 PUT + 4 DELETE + 4×(DELETE+POST) + 6 POST = 22 writes
    assert Counter(pc.actions().values()) == {"update": 4, "delete": 4, "replace": 4, "create": 6}
    sandbox.set_faults(latency_ms=LATENCY_MS)
    serials = [_serial(pc)]
    assert kill_at(pc, sandbox, ("writes", after_writes)) == -signal.SIGKILL
    serials.append(_serial(pc))
    assert not pc.leaked_secrets()
    sandbox.set_faults(latency_ms=0)
    rerun = pc("apply", "--auto-approve")
    assert rerun.code == 0, rerun.output
    serials.append(_serial(pc))
    assert_converged(pc, org, specs, serials)
    assert not any("#deposed" in a for a in pc.resources())


def test_create_still_in_flight_when_the_next_run_starts_is_not_duplicated(
        pc: Polyctl, org: Org, sandbox, proxy_for) -> None:
    """The killed run's creates land only after the next run has recovered and created
    them again: the next run must reuse their Idempotency-Keys, so they are replays."""
    specs = _creates(3)
    pc.env["CRASH_TOKEN"] = SECRET
    pc.specs(specs)
    proxy = proxy_for(sandbox, hold={("POST", "/api/connections")})
    running = pc.popen("apply", "--auto-approve", "--parallelism", "3",
                       env={"POLYTOMIC_DEPLOYMENT_URL": proxy.url})
    assert wait_until(lambda: proxy.count_arrived("POST /api/connections") == 3, timeout=60)
    running.kill()
    running.wait()

    rerun = pc("apply", "--auto-approve")  # straight to the sandbox: nothing has landed
    assert rerun.code == 0, rerun.output
    assert "3 in flight." in rerun.stderr
    assert "Apply complete! Resources: 3 added" in rerun.stdout
    proxy.release()  # now the dead run's three requests reach the sandbox
    assert wait_until(lambda: len(proxy.exchanges("POST")) == 3, timeout=30)
    assert [e.status for e in proxy.exchanges("POST")] == [200, 200, 200]
    names = Counter(c["name"] for c in org.connections())
    assert names == Counter(block["name"] for block in specs.values()), "duplicate connections"
    assert {r["id"] for r in pc.resources().values()} == {c["id"] for c in org.connections()}
    pc.assert_no_changes()
