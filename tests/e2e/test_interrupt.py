"""Ctrl-C during a real `polyctl apply` process: the first stops new operations, lets
the running ones finish, saves the state and releases the lock; a second exits at once,
and the next run adopts what was in flight without a duplicate.

A proxy holds the creates back, so "in flight" is a fact, not a timing guess: the
signals arrive while exactly `PARALLELISM` requests are open."""

from __future__ import annotations

import signal
import time
from collections import Counter

from e2e_helpers import Org, Polyctl, api_connection, wait_until

N = 12
PARALLELISM = 3
CREATE = ("POST", "/api/connections")


def _specs() -> dict:
    return {f"c{i:02d}": {"name": f"Int {i:02d}", "configuration": api_connection(
        f"https://c{i}.example.com")} for i in range(N)}


def _start(pc: Polyctl, sandbox, proxy_for):
    """An apply whose first PARALLELISM creates are open, held by the proxy."""
    proxy = proxy_for(sandbox, hold={CREATE})
    running = pc.popen("apply", "--auto-approve", "--parallelism", str(PARALLELISM),
                       env={"POLYTOMIC_DEPLOYMENT_URL": proxy.url})
    assert wait_until(lambda: proxy.count_arrived("POST /api/connections") == PARALLELISM,
                      timeout=60)
    return running, proxy


def _assert_converged(pc: Polyctl, org: Org) -> None:
    names = Counter(c["name"] for c in org.connections())
    assert all(k == 1 for k in names.values()), "duplicate connection"
    assert sorted(names) == sorted(b["name"] for b in _specs().values())
    assert {r["id"] for r in pc.resources().values()} == {c["id"] for c in org.connections()}
    pc.assert_no_changes()


def test_first_interrupt_finishes_running_operations_and_saves(pc: Polyctl, org: Org,
                                                               sandbox, proxy_for) -> None:
    pc.specs(_specs())
    running, proxy = _start(pc, sandbox, proxy_for)
    running.signal(signal.SIGINT)
    time.sleep(0.5)  # handled at once: the event loop is idle, waiting on the held requests
    assert running.proc.poll() is None  # still waiting for the running operations
    proxy.release()
    result = running.wait()

    assert result.code == 1
    assert "Interrupt received: no new operations will start" in result.stderr
    assert "Apply interrupted. Resources: 3 added, 0 changed, 0 destroyed." in result.stdout
    assert proxy.count_arrived("POST /api/connections") == PARALLELISM  # none started after
    # everything that reached Polytomic is in the saved state; the journal is folded
    live = org.connections()
    assert len(live) == PARALLELISM
    assert {r["id"] for r in pc.resources().values()} == {c["id"] for c in live}
    assert pc.journal() == []
    assert not (pc.root / "polyctl.state.json.lock").exists()

    rerun = pc("apply", "--auto-approve")
    assert rerun.code == 0, rerun.output
    assert "stale state lock" not in rerun.stderr  # it was released, not left behind
    assert "Recovered an interrupted run" not in rerun.stderr  # nothing left to recover
    assert f"Resources: {N - PARALLELISM} added" in rerun.stdout
    _assert_converged(pc, org)


def test_second_interrupt_exits_at_once_and_the_next_run_adopts(pc: Polyctl, org: Org,
                                                                sandbox, proxy_for) -> None:
    pc.specs(_specs())
    running, proxy = _start(pc, sandbox, proxy_for)
    running.signal(signal.SIGINT)
    time.sleep(0.2)
    running.signal(signal.SIGINT)
    result = running.wait(timeout=10)  # while its three requests are still held
    assert result.code == 130, (result.stdout[-300:], result.stderr)
    assert "Second interrupt: exiting now" in result.stderr
    assert "Apply interrupted" not in result.stdout
    assert org.connections() == []
    journal = pc.journal()
    assert sum(e["type"] == "pending" for e in journal) == PARALLELISM
    assert not any(e["type"] == "done" for e in journal)

    proxy.release()  # the requests it left in flight complete on the server
    assert wait_until(lambda: len(proxy.exchanges("POST")) == PARALLELISM, timeout=30)
    assert len(org.connections()) == PARALLELISM
    rerun = pc("apply", "--auto-approve")
    assert rerun.code == 0, rerun.output
    assert f"{PARALLELISM} in flight." in rerun.stderr
    assert rerun.stderr.count("adopted connection") == PARALLELISM
    assert f"Resources: {N - PARALLELISM} added" in rerun.stdout
    _assert_converged(pc, org)
