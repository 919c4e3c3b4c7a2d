"""Crash anywhere: a real `polyctl apply` process SIGKILLed at many points, then run
again. After each re-run the organization equals the specs exactly — no duplicate,
nothing missing, no connection outside the state — the state file always parses and
its serial never goes back, and no journal is left.

Kill points are a fixed schedule of three kinds:

- `after:S`: S seconds after the process started (start-up, lock, refresh, planning);
- `entries:K`: as soon as the journal file holds K entries, watched from outside while
  requests are in flight (the sandbox answers each after `LATENCY_MS`);
- exact instants from `kill_at.py` (the process SIGKILLs itself): after the K-th
  journal entry, after the K-th API success but before its "done" entry, right after
  a state write, right before the journal is cleared, right after the lock is taken.

Each point of the 200-create apply gets a fresh organization and project (a clean
state); the mixed plans (creates, updates, replacements both ways round, deletes)
toggle one project between two spec sets, so each kill point starts from the state
the previous one converged to. The chains kill the recovering runs too.
"""

from __future__ import annotations

import signal

import pytest

from rel_helpers import (
    HeldCreates, Project, api_config, assert_converged, assert_monotonic,
    kill_run, report, wait_until, webhook_config,
)

LATENCY_MS = 30
PARALLELISM = "10"
CREATES = 200


def creates(n: int) -> dict:
    return {f"c{i:03d}": {"name": f"Crash {i:03d}",
                          "configuration": api_config(f"https://c{i}.example.com", i)}
            for i in range(n)}


def kill_apply(project: Project, point: str, *args: str):
    """Start `apply --auto-approve`, SIGKILL it at `point`; return its `Result`."""
    return kill_run(project, point, "apply", "--auto-approve", "--parallelism", PARALLELISM,
                    *args)


def killed_then_converges(project: Project, specs: dict, point: str, serials: list[int],
                          then: dict | None = None) -> None:
    """Kill an apply of `specs` at `point`; re-run (with `then` as the specs, if given)."""
    project.specs(specs)
    killed = kill_apply(project, point)
    assert killed.code == -signal.SIGKILL, \
        f"{point}: the run was not killed (exit {killed.code}):\n{killed.output[-3000:]}"
    serials.append(project.serial())  # the state must parse after any kill
    journal = project.journal_entries()  # captured for the secret scan
    stale_lock = (project.root / "polyctl.state.json.lock").exists()
    if then is not None:
        specs = project.specs(then)

    rerun = project.run("apply", "--auto-approve")
    assert rerun.code == 0, f"{point}: re-run failed\n{rerun.output}"
    if stale_lock:
        assert "cleared a stale state lock" in rerun.stderr, rerun.stderr
    if any(e["type"] == "pending" for e in journal) and \
            journal[0].get("serial") == serials[-1]:
        assert "Recovered an interrupted run" in rerun.stderr, rerun.stderr
    serials.append(project.serial())
    assert_monotonic(serials, point)
    assert_converged(project, specs, label=point)


# -- 200 creates, one fresh organization per kill point ----------------------------------

CREATE_POINTS = [
    "after:0.0", "after:0.25", "after:0.6", "lock",
    "entries:1", "entries:2", "entries:5", "entries:12", "entries:30", "entries:61",
    "entries:100", "entries:149", "entries:200", "entries:251", "entries:300", "entries:360",
    "journal:1", "journal:2", "journal:3", "journal:201", "journal:400",
    "before-done:1", "before-done:77", "before-done:200",
    "state-write:1", "state-write:2", "before-clear:1",
]
SLOW_POINTS = [f"entries:{k}" for k in range(3, 390, 13)] + \
              [f"before-done:{k}" for k in range(2, 200, 19)]


def _create_point(make_project, sandbox, point: str, n: int) -> None:
    project = make_project(f"p-{point.replace(':', '-')}")
    sandbox.set_faults(latency_ms=LATENCY_MS)
    serials = [project.serial()]
    killed_then_converges(project, creates(n), point, serials)
    assert serials[-1] > serials[0]
    report(f"crash: killed a {n}-create apply at {point}")


@pytest.mark.parametrize("point", CREATE_POINTS)
def test_killed_create_apply_converges(make_project, sandbox, point: str) -> None:
    _create_point(make_project, sandbox, point, CREATES)


@pytest.mark.slow
@pytest.mark.parametrize("point", SLOW_POINTS)
def test_killed_create_apply_converges_more_points(make_project, sandbox, point: str) -> None:
    _create_point(make_project, sandbox, point, CREATES)


def _edited(specs: dict) -> dict:
    return {a: {**b, "configuration": {**b["configuration"], "healthcheck": "/edited"}}
            for a, b in specs.items()}


@pytest.mark.parametrize("point", ["before-done:1", "before-done:120", "entries:150"])
def test_killed_then_specs_edited_adopts_instead_of_duplicating(make_project, sandbox, point):
    """The specs change before the re-run: the in-flight creates' requests are no longer
    what the re-run would send, so their Idempotency-Keys cannot be reused; the re-run
    must find and adopt what they created, then update it."""
    project = make_project()
    sandbox.set_faults(latency_ms=LATENCY_MS)
    serials = [project.serial()]
    killed_then_converges(project, creates(CREATES), point, serials,
                          then=_edited(creates(CREATES)))
    report(f"crash: killed a {CREATES}-create apply at {point}, specs edited before re-run")


def test_kills_of_the_recovering_runs_converge_too(make_project, sandbox) -> None:
    """Killed mid-apply; the next run killed right after its recovery wrote the state;
    the next mid-apply; the next just before clearing the journal; then one finishes."""
    project = make_project()
    sandbox.set_faults(latency_ms=LATENCY_MS)
    specs = project.specs(creates(CREATES))
    serials = [project.serial()]
    chain = ["entries:150", "state-write:1", "entries:40", "before-done:30", "before-clear:1"]
    for point in chain:
        killed = kill_apply(project, point)
        assert killed.code == -signal.SIGKILL, f"{point}:\n{killed.output[-3000:]}"
        serials.append(project.serial())
        project.journal_entries()
        assert_monotonic(serials, point)
    final = project.run("apply", "--auto-approve")
    assert final.code == 0, final.output
    serials.append(project.serial())
    assert_monotonic(serials, "chain")
    assert_converged(project, specs, label="chain")
    report(f"crash: chain of {len(chain)} kills of recovering runs")


@pytest.mark.parametrize("second_run", ["killed before executing", "targets another"])
def test_creates_landing_after_the_next_run_are_not_duplicated(make_project, sandbox,
                                                                second_run: str) -> None:
    """Run A's creates are still being processed by a slow server when A is killed.
    Run B recovers (nothing has landed yet, so nothing to adopt), then is killed before
    it records anything of its own, or applies only another connection. Then A's
    creates land. Run C must still know they were in flight: it adopts them instead
    of creating them again."""
    project = make_project()
    specs = project.specs(creates(4))
    held = HeldCreates(sandbox)
    a = project.popen("apply", "--auto-approve", "--target", "connection.c000",
                      "--target", "connection.c001", "--target", "connection.c002")
    try:
        assert wait_until(lambda: held.arrived == 3 or not a.alive())
        a.kill()
        assert a.wait().code == -signal.SIGKILL
        if second_run == "killed before executing":
            b = project.popen("apply", "--auto-approve", kill_point="executor").wait()
            assert b.code == -signal.SIGKILL, b.output
        else:
            held.hold_only_first(3)  # the dead run's three stay held; this one's goes on
            b = project.popen("apply", "--auto-approve", "--target", "connection.c003").wait()
            assert b.code == 0, b.output
        assert "3 in flight" in b.stderr, b.stderr
    finally:
        held.release()
    assert wait_until(lambda: len(project.org.connections()) == 4 - (
        second_run == "killed before executing"))
    c = project.run("apply", "--auto-approve")
    assert c.code == 0, c.output
    assert_converged(project, specs, label="late-landing creates")
    report(f"crash: creates landing after the next run ({second_run}) ended")


# -- mixed plans: creates, updates, replacements (both orders), deletes ---------------------

def mixed(version: str, m: int) -> dict:
    """Two spec sets; going from one to the other creates m, updates m, replaces m
    (delete then create), replaces m create-before-destroy, deletes m, keeps m."""
    other = "b" if version == "a" else "a"
    specs: dict = {}
    for i in range(m):
        specs[f"only_{version}{i}"] = {
            "name": f"Only {version} {i}",
            "configuration": api_config(f"https://{version}{i}.example.com", i)}
        specs[f"upd{i}"] = {
            "name": f"Upd {i} ({version})",
            "configuration": api_config(f"https://u{i}.example.com/{version}",
                                        i + (version == "b"))}
        webhook = version == "b"
        for prefix, cbd in (("rep", False), ("cbd", True)):
            specs[f"{prefix}{i}"] = {
                "name": f"{prefix.capitalize()} {i}",
                "type": "webhook" if webhook else "api",
                "configuration": webhook_config(f"https://{prefix}{i}.example.com/hook")
                if webhook else api_config(f"https://{prefix}{i}.example.com", i),
                "lifecycle": {"create_before_destroy": cbd}}
        specs[f"keep{i}"] = {"name": f"Keep {i}",
                             "configuration": api_config(f"https://k{i}.example.com", i)}
    assert not any(k.startswith(f"only_{other}") for k in specs)
    return specs


MIXED = 12  # of each kind: 60 changes, 84 API writes per apply
# Journal of one mixed apply: 1 begin + 84 pending + 84 done. Deletes (and the deposed
# objects of create-before-destroy) come last: after the 48 first-phase writes.
MIXED_SEQUENCES = {
    "early": ["entries:3", "entries:20", "journal:2", "lock"],
    "middle": ["entries:60", "before-done:25", "entries:90", "after:0.5"],
    "deletes": ["before-done:50", "entries:130", "before-done:70", "entries:160"],
    "end": ["journal:169", "state-write:1", "before-clear:1", "before-done:84"],
}


def _mixed_sequence(make_project, sandbox, points: list[str], m: int) -> None:
    project = make_project()
    project.specs(mixed("a", m))
    project.apply()
    serials = [project.serial()]
    sandbox.set_faults(latency_ms=LATENCY_MS)
    version = "a"
    for point in points:
        version = "b" if version == "a" else "a"
        killed_then_converges(project, mixed(version, m), point, serials)
        assert not any("#deposed" in a for a in project.resources())
        report(f"crash: killed a mixed apply ({5 * m} changes) at {point}")


@pytest.mark.parametrize("name", MIXED_SEQUENCES)
def test_killed_mixed_apply_converges(make_project, sandbox, name: str) -> None:
    _mixed_sequence(make_project, sandbox, MIXED_SEQUENCES[name], MIXED)


@pytest.mark.slow
def test_killed_large_mixed_apply_converges(make_project, sandbox) -> None:
    points = [f"entries:{k}" for k in (5, 50, 150, 250, 350, 450, 550)] + \
             [f"before-done:{k}" for k in (10, 100, 200, 260)]
    _mixed_sequence(make_project, sandbox, points, 40)
