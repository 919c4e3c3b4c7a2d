"""Ctrl-C during a real `polyctl apply` process: the first stops new operations, lets
the running ones finish, saves the state and releases the lock; a second exits at once,
and the next run adopts what was in flight without a duplicate."""

from __future__ import annotations

import signal
import time
from collections import Counter

from e2e_helpers import Org, Polyctl, api_connection, wait_until, writes

N = 24
PARALLELISM = 3


def _specs() -> dict:
    return {f"c{i:02d}": {"name": f"Int {i:02d}", "configuration": api_connection(
        f"https://c{i}.example.com")} for i in range(N)}


def _start(pc: Polyctl, sandbox, latency_ms: int):
    """Start applying; return once the first wave of creates is committed and the next
    wave has been sent (so requests are in flight, sleeping in the sandbox)."""
    sandbox.set_faults(latency_ms=latency_ms)
    base = writes(sandbox.stats())
    running = pc.popen("apply", "--auto-approve", "--parallelism", str(PARALLELISM))
    assert wait_until(lambda: writes(sandbox.stats()) - base >= PARALLELISM, timeout=60)
    time.sleep(latency_ms / 1000 / 3)
    return running, base


def _assert_converged(pc: Polyctl, org: Org) -> None:
    names = Counter(c["name"] for c in org.connections())
    assert all(k == 1 for k in names.values()), "duplicate connection"
    assert sorted(names) == sorted(b["name"] for b in _specs().values())
    assert {r["id"] for r in pc.resources().values()} == {c["id"] for c in org.connections()}
    pc.assert_no_changes()


def test_first_interrupt_finishes_running_operations_and_saves(pc: Polyctl, org: Org,
                                                               sandbox) -> None:
    pc.specs(_specs())
    running, base = _start(pc, sandbox, latency_ms=300)
    running.signal(signal.SIGINT)
    sent_at = writes(sandbox.stats()) - base
    result = running.wait()

    assert result.code != 0
    assert "Interrupt received: no new operations will start" in result.stderr
    assert "Apply interrupted. Resources:" in result.stdout
    done = writes(sandbox.stats()) - base
    assert sent_at < done <= sent_at + PARALLELISM  # those running finished, no new one began
    # everything that reached Polytomic is in the saved state; the journal is folded
    live = org.connections()
    assert len(live) == done
    assert {r["id"] for r in pc.resources().values()} == {c["id"] for c in live}
    assert f"Resources: {done} added, 0 changed, 0 destroyed." in result.stdout
    assert pc.journal() == []
    assert not (pc.root / "polyctl.state.json.lock").exists()

    sandbox.set_faults(latency_ms=0)
    rerun = pc("apply", "--auto-approve")
    assert rerun.code == 0, rerun.output
    assert "stale state lock" not in rerun.stderr  # it was released, not left behind
    assert "Recovered an interrupted run" not in rerun.stderr  # nothing left to recover
    assert f"Resources: {N - done} added" in rerun.stdout
    _assert_converged(pc, org)


def test_second_interrupt_exits_at_once_and_the_next_run_adopts(pc: Polyctl, org: Org,
                                                                sandbox) -> None:
    pc.specs(_specs())
    # slow requests: the second Ctrl-C lands while the running ones are still in flight
    running, base = _start(pc, sandbox, latency_ms=600)
    running.signal(signal.SIGINT)
    time.sleep(0.02)
    started = time.monotonic()
    running.signal(signal.SIGINT)
    result = running.wait()
    assert time.monotonic() - started < 0.4  # did not wait for the requests in flight
    assert result.code == 130, (result.stdout[-300:], result.stderr)
    assert "Second interrupt: exiting now" in result.stderr
    assert "Apply interrupted" not in result.stdout
    in_flight = sum(e["type"] == "pending" for e in pc.journal()) - sum(
        e["type"] == "done" for e in pc.journal())
    assert in_flight > 0

    time.sleep(0.7)  # the requests it left in flight complete on the server
    assert len(org.connections()) == writes(sandbox.stats()) - base
    sandbox.set_faults(latency_ms=0)
    rerun = pc("apply", "--auto-approve")
    assert rerun.code == 0, rerun.output
    assert f"{in_flight} in flight." in rerun.stderr
    assert rerun.stderr.count("adopted connection") == in_flight
    _assert_converged(pc, org)
