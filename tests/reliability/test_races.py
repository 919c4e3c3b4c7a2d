"""Races: two and five real `polyctl apply` processes on one state, on the file backend
and on PostgreSQL.

Each racer applies its own connections (`--target`) from one shared spec set, so a
lost update would show: a racer's connections missing from the final state, or
created twice. The sandbox records when each create ran and for whom:

- exactly one racer writes at a time: no two racers' creates ever overlap;
- fail-fast (no --lock-timeout): a racer that finds the lock exits 1 naming the
  holder (its pid) and creates nothing; with --lock-timeout every racer waits its turn;
- no lost update: the final state and the organization are exactly the union of what
  the successful racers applied, with no duplicate;
- a holder killed with SIGKILL: the file lock is seen dead (same host, pid gone) and
  taken over with a warning; a lock from another host is cleared with force-unlock;
  PostgreSQL releases it with the session.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import pg_server
from rel_helpers import Project, api_config, assert_converged, report, wait_until

PER_RACER = 6
LATENCY_MS = 60  # a racer holds the lock for several round trips
RACE_NAME = re.compile(r"Race (\d+)-(\d+)")


def race_specs(racers: int) -> dict:
    return {f"r{i}_{j}": {"name": f"Race {i}-{j}", "configuration": api_config(
        f"https://race{i}-{j}.example.com", j)} for i in range(racers) for j in range(PER_RACER)}


def targets(i: int) -> list[str]:
    return [arg for j in range(PER_RACER) for arg in ("--target", f"connection.r{i}_{j}")]


class WriteLog:
    """Every create the sandbox executes: (start, end, racer). Creates of the racers in
    `held` wait at the sandbox until `release()`: their run holds the lock meanwhile."""

    def __init__(self, sandbox) -> None:
        self.events: list[tuple[float, float, int]] = []
        self.arrived: set[int] = set()
        self.held: set[int] = set()
        self._released = threading.Event()
        self._lock = threading.Lock()
        app = sandbox._app
        original = app.execute

        def execute(route, req):
            match = RACE_NAME.search(req.body.decode("utf-8", "replace")) \
                if req.method == "POST" else None
            racer = int(match[1]) if match else None
            if racer is not None:
                with self._lock:
                    self.arrived.add(racer)
                if racer in self.held:
                    self._released.wait(timeout=120)
            start = time.monotonic()
            reply = original(route, req)
            if racer is not None and reply.status == 200:
                with self._lock:
                    self.events.append((start, time.monotonic(), racer))
            return reply

        app.execute = execute

    def hold(self, racer: int) -> None:
        self.held.add(racer)
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def racers(self) -> set[int]:
        return {r for _, _, r in self.events}

    def assert_one_writer_at_a_time(self) -> None:
        spans = {}
        for start, end, racer in self.events:
            first, last = spans.get(racer, (start, end))
            spans[racer] = (min(first, start), max(last, end))
        ordered = sorted(spans.items(), key=lambda kv: kv[1][0])
        for (a, (_, a_end)), (b, (b_start, _)) in zip(ordered, ordered[1:]):
            assert a_end <= b_start, f"racers {a} and {b} wrote at the same time"


@pytest.fixture
def write_log(sandbox) -> WriteLog:
    return WriteLog(sandbox)


@pytest.fixture(params=["file", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_env(request) -> dict[str, str]:
    if request.param == "file":
        return {}
    url = pg_server.with_params(request.getfixturevalue("pg_url"), schema="polyctl_reliability")
    return {"POLYCTL_STATE": url, "POLYCTL_WORKSPACE": pg_server.unique_workspace("race")}


def _project(make_project, backend_env, racers: int) -> tuple[Project, dict]:
    project = make_project()
    project.env.update(backend_env)
    specs = project.specs(race_specs(racers))
    return project, specs


def _final_check(project: Project, specs: dict, winners: set[int], write_log: WriteLog,
                 label: str) -> None:
    """The state and the organization hold exactly the winners' connections, once."""
    state = project.run("state", "pull")
    assert state.code == 0, state.output
    resources = json.loads(state.stdout)["resources"]
    wanted = {f"connection.r{i}_{j}" for i in winners for j in range(PER_RACER)}
    assert set(resources) == wanted, f"{label}: lost or extra updates in the state"
    live = Counter(c["name"] for c in project.org.connections())
    assert live == Counter(f"Race {i}-{j}" for i in winners for j in range(PER_RACER)), \
        f"{label}: the organization is not the union of the winners' applies"
    assert {r["id"] for r in resources.values()} == {c["id"] for c in project.org.connections()}
    assert write_log.racers() == winners, f"{label}: a losing racer created something"
    write_log.assert_one_writer_at_a_time()


def _race(project: Project, racers: int, *extra: str):
    return _race_from(project, 0, racers, *extra)


def _start_holder(project: Project, write_log: WriteLog, *extra: str):
    """Racer 0, its creates held at the sandbox: it holds the lock until released."""
    write_log.hold(0)
    holder = project.popen("apply", "--auto-approve", "--parallelism", "2", *targets(0), *extra)
    assert wait_until(lambda: 0 in write_log.arrived or not holder.alive()), \
        holder.wait().output
    return holder


@pytest.mark.parametrize("racers", [2, 5])
def test_concurrent_applies_fail_fast_naming_the_holder(make_project, sandbox, backend_env,
                                                        write_log, racers: int) -> None:
    project, specs = _project(make_project, backend_env, racers)
    holder = _start_holder(project, write_log)
    try:
        others, results = _race_from(project, 1, racers)
    finally:
        write_log.release()
    results = [holder.wait(), *results]

    for i, result in enumerate(results):
        assert "Traceback" not in result.output, result.output
        if i == 0:
            assert result.code == 0, result.output
            continue
        assert result.code == 1, result.output
        assert "Error acquiring the state lock" in result.stderr, result.output
        holder_pid = re.search(r"PID:\s+(\d+)", result.stderr)
        assert holder_pid and int(holder_pid[1]) == holder.proc.pid, result.stderr
    _final_check(project, specs, {0}, write_log, f"{racers} racers, fail fast")
    report(f"races: {racers} concurrent applies ({backend_env and 'postgresql' or 'file'}), "
           f"fail fast: 1 applied, {racers - 1} refused naming the holder")


def _race_from(project: Project, start: int, racers: int, *extra: str):
    runs = [project.popen("apply", "--auto-approve", "--parallelism", "2", *targets(i), *extra)
            for i in range(start, racers)]
    return runs, [r.wait() for r in runs]


@pytest.mark.parametrize("racers", [2, 5])
def test_concurrent_applies_with_lock_timeout_take_turns(make_project, sandbox, backend_env,
                                                         write_log, racers: int) -> None:
    project, specs = _project(make_project, backend_env, racers)
    sandbox.set_faults(latency_ms=LATENCY_MS)
    wait = ("--lock-timeout", "120s")
    holder = _start_holder(project, write_log, *wait)
    try:
        others = [project.popen("apply", "--auto-approve", "--parallelism", "2", *targets(i),
                                *wait) for i in range(1, racers)]
        assert wait_until(lambda: all("Waiting for the state lock held by" in o.stderr_so_far()
                                      or not o.alive() for o in others))
    finally:
        write_log.release()
    results = [holder.wait(), *(o.wait() for o in others)]
    for result in results:
        assert result.code == 0, result.output
    waited = sum("Waiting for the state lock held by" in r.stderr for r in results)
    assert waited == racers - 1, [r.stderr for r in results]
    _final_check(project, specs, set(range(racers)), write_log,
                 f"{racers} racers, --lock-timeout")
    sandbox.set_faults(latency_ms=0)
    assert_converged_where(project, specs)
    report(f"races: {racers} concurrent applies ({backend_env and 'postgresql' or 'file'}) "
           f"with --lock-timeout: all applied in turn, {waited} waited")


def assert_converged_where(project: Project, specs: dict) -> None:
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 0 and "No changes." in plan.stdout, plan.output


def test_all_at_once_without_a_head_start(make_project, sandbox, backend_env, write_log):
    """Five racers started together: whoever wins, nothing is lost or doubled."""
    project, specs = _project(make_project, backend_env, 5)
    sandbox.set_faults(latency_ms=LATENCY_MS)
    _, results = _race(project, 5)
    winners = {i for i, r in enumerate(results) if r.code == 0}
    assert winners
    for result in results:
        assert result.code == 0 or "Error acquiring the state lock" in result.stderr, \
            result.output
    _final_check(project, specs, winners, write_log, "5 racers at once")


# -- a holder killed with SIGKILL ---------------------------------------------------------

def _kill_holder(project: Project, write_log: WriteLog):
    """Racer 0 holds the lock and has created some connections: SIGKILL it."""
    holder = project.popen("apply", "--auto-approve", "--parallelism", "2", *targets(0))
    assert wait_until(lambda: len(write_log.events) >= 2 or not holder.alive())
    holder.kill()
    assert holder.wait().code == -signal.SIGKILL
    return holder


def test_file_lock_of_a_killed_holder_is_taken_over_with_a_warning(make_project, sandbox,
                                                                   write_log) -> None:
    project, specs = _project(make_project, {}, 2)
    sandbox.set_faults(latency_ms=LATENCY_MS)
    holder = _kill_holder(project, write_log)
    lock = json.loads((project.root / "polyctl.state.json.lock").read_text())
    assert lock["pid"] == holder.proc.pid

    sandbox.set_faults(latency_ms=0)
    result = project.run("apply", "--auto-approve", *targets(1))
    assert result.code == 0, result.output
    assert f"Warning: cleared a stale state lock left by {lock['who']} (pid {lock['pid']}" \
        in result.stderr
    assert "Recovered an interrupted run" in result.stderr
    project.apply()  # the rest of racer 0's connections
    assert_converged(project, specs, label="after a killed holder")
    report("races: SIGKILLed holder of the file lock taken over with a warning")


def test_file_lock_from_another_host_needs_force_unlock(make_project, sandbox, write_log):
    """A dead holder on another machine cannot be checked: the run fails naming it, and
    force-unlock with its ID clears it."""
    project, specs = _project(make_project, {}, 2)
    sandbox.set_faults(latency_ms=LATENCY_MS)
    _kill_holder(project, write_log)
    lock_path = project.root / "polyctl.state.json.lock"
    lock = json.loads(lock_path.read_text())
    lock["host"] = "ci-runner-elsewhere.example"
    lock_path.write_text(json.dumps(lock))
    sandbox.set_faults(latency_ms=0)

    refused = project.run("apply", "--auto-approve")
    assert refused.code == 1 and "Error acquiring the state lock" in refused.stderr
    assert lock["id"] in refused.stderr and "force-unlock" in refused.stderr
    unlocked = project.run("force-unlock", "--force", lock["id"])
    assert unlocked.code == 0, unlocked.output
    project.apply()
    assert_converged(project, specs, label="after force-unlock")
    report("races: lock of a holder on another host cleared by force-unlock")


@pytest.mark.postgres
def test_postgres_lock_dies_with_a_killed_holder(make_project, sandbox, write_log, pg_url):
    url = pg_server.with_params(pg_url, schema="polyctl_reliability")
    project, specs = _project(make_project, {"POLYCTL_STATE": url, "POLYCTL_WORKSPACE":
                                             pg_server.unique_workspace("kill")}, 2)
    sandbox.set_faults(latency_ms=LATENCY_MS)
    _kill_holder(project, write_log)
    sandbox.set_faults(latency_ms=0)
    result = project.run("apply", "--auto-approve", *targets(1))
    assert result.code == 0, result.output
    assert "Recovered an interrupted run" in result.stderr
    project.apply()
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.output
    live = Counter(c["name"] for c in project.org.connections())
    assert live == Counter(block["name"] for block in specs.values())
    report("races: SIGKILLed holder of the PostgreSQL lock released with its session")


@pytest.mark.postgres
def test_postgres_force_unlock_of_a_hung_holder(make_project, sandbox, write_log, pg_url):
    """A holder that hangs (SIGSTOP) keeps its session: the next run names it;
    force-unlock ends its session; the hung run, resumed, can no longer write."""
    url = pg_server.with_params(pg_url, schema="polyctl_reliability")
    project, specs = _project(make_project, {"POLYCTL_STATE": url, "POLYCTL_WORKSPACE":
                                             pg_server.unique_workspace("hung")}, 2)
    sandbox.set_faults(latency_ms=LATENCY_MS)
    holder = project.popen("apply", "--auto-approve", "--parallelism", "2", *targets(0))
    assert wait_until(lambda: len(write_log.events) >= 2 or not holder.alive())
    holder.proc.send_signal(signal.SIGSTOP)
    try:
        refused = project.run("apply", "--auto-approve", *targets(1))
        assert refused.code == 1 and "Error acquiring the state lock" in refused.stderr
        lock_id = re.search(r"ID:\s+(\S+)", refused.stderr)[1]
        unlocked = project.run("force-unlock", "--force", lock_id)
        assert unlocked.code == 0, unlocked.output
    finally:
        holder.proc.send_signal(signal.SIGCONT)
    resumed = holder.wait()
    assert resumed.code == 1, resumed.output  # it could not record its work
    sandbox.set_faults(latency_ms=0)
    report("races: hung PostgreSQL holder force-unlocked; resumed, it stopped with exit "
           f"{resumed.code}")
    # What it did is not lost: the next run finishes it from the journal (what was in
    # flight is adopted); the emergency copy it printed is there too, for `state push`.
    copies = sorted(Path(project.emergency_dir).glob("polyctl-errored-*.json"))
    for copy in copies:
        project.capture("emergency copy", copy)
    if "Failed to save the state" in resumed.stderr:
        assert copies and str(copies[-1]) in resumed.stderr, resumed.stderr
    final = project.run("apply", "--auto-approve")
    assert final.code == 0, final.output
    live = Counter(c["name"] for c in project.org.connections())
    assert live == Counter(block["name"] for block in specs.values()), "lost or doubled"
    assert_converged_where(project, specs)
