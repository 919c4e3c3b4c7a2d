"""Crash anywhere, for the other commands that change Polytomic or the state: a real
`polyctl destroy --auto-approve`, `polyctl import ADDR ID`, `polyctl import --all` and
`polyctl state mv` / `state rm` process SIGKILLed at a point, then the run a careful
user makes next (the same command again, then `plan`, sometimes `apply`).

The kill points are those of test_crash_anywhere.py (`after:S`, `entries:K` and the
exact instants of kill_at.py) that the command passes through: destroy journals every
delete like an apply; import and the state commands write the state once, so for them
the instants that matter are the lock, just before that write and just after it.

What must hold after any kill and the next run:

- destroy: the organization keeps none of the managed connections and the state none
  of its resources, no journal is left, the re-run reports no error (none about a
  connection the killed run already deleted), and a connection polyctl does not manage
  — even one with a managed connection's name — is never touched;
- import: the state holds the imported connection whole or not at all; re-running the
  import says which, and the next plan neither creates a duplicate nor destroys
  anything; no secret reaches the state (the autouse secret scan);
- state mv / rm: the state parses and holds the old layout or the new one, never a
  mix, with a `.backup` that parses; the next plan shows a consistent picture.
"""

from __future__ import annotations

import re
import signal

import pytest

from rel_helpers import (
    Project, api_config, assert_converged, assert_monotonic, kill_run, report,
)

LATENCY_MS = 30
PARALLELISM = "10"
MANAGED = 40


def connections(n: int, prefix: str = "c", label: str = "Crash") -> dict:
    return {f"{prefix}{i:03d}": {"name": f"{label} {i:03d}",
                                 "configuration": api_config(f"https://{prefix}{i}.example.com", i)}
            for i in range(n)}


def killed(project: Project, point: str, *args: str, may_finish: bool = False):
    """Kill `polyctl ARGS` at `point`; the state must parse afterwards. An `after:S`
    point may come too late for a short command (`may_finish`)."""
    result = kill_run(project, point, *args)
    if not (may_finish and result.code == 0):
        assert result.code == -signal.SIGKILL, \
            f"{point}: the run was not killed (exit {result.code}):\n{result.output[-3000:]}"
    project.state()  # parses, with polyctl's own reader
    project.journal_entries()  # captured for the secret scan
    return result


def outsider(tmp_path, project: Project, specs: dict) -> tuple[Project, list[dict]]:
    """Connections in the same organization created by another project: not in this
    project's state. Returns that project and their live objects."""
    other = Project(tmp_path / f"outsider-{project.root.name}", project.org,
                    emergency_dir=project.emergency_dir)
    other.specs(specs)
    other.apply()
    names = {b["name"] for b in specs.values()}
    live = [c for c in project.org.connections() if c["name"] in names
            and c["id"] in {r["id"] for r in other.resources().values()}]
    assert len(live) == len(specs)
    return other, live


def no_plan_changes_but_updates(plan, label: str) -> None:
    """A plan that creates nothing and destroys nothing (imported secrets are unknown
    until an apply sends the spec's, so updates are expected)."""
    assert plan.code in (0, 2), f"{label}:\n{plan.output}"
    assert "No changes." in plan.stdout or re.search(
        r"Plan: 0 to add, \d+ to change, 0 to destroy\.", plan.stdout), \
        f"{label}: the plan after the import creates or destroys:\n{plan.output}"


# -- destroy -------------------------------------------------------------------------------

# Journal of the destroy of MANAGED connections: 1 begin + MANAGED pending + MANAGED done.
DESTROY_POINTS = [
    "after:0.3", "lock", "executor", "journal:1", "journal:2", "entries:10", "entries:41",
    "before-done:1", "before-done:25", "before-done:40", "state-write:1", "before-clear:1",
]
SLOW_DESTROY_POINTS = [f"entries:{k}" for k in range(3, 2 * MANAGED + 1, 7)] + \
                      [f"before-done:{k}" for k in range(2, MANAGED, 6)] + \
                      ["after:0.45", "after:0.6"]


def _destroy_setup(tmp_path, make_project, sandbox, name: str):
    project = make_project(name)
    specs = project.specs(connections(MANAGED))
    project.apply()
    # one with a managed connection's very name, one with its own: neither is polyctl's
    _, untouched = outsider(tmp_path, project, {
        "same_name": {"name": "Crash 000", "configuration": api_config("https://o.example.com")},
        "own": {"name": "Outsider", "configuration": api_config("https://p.example.com", 1)}})
    sandbox.set_faults(latency_ms=LATENCY_MS)
    return project, specs, untouched


def assert_destroyed(project: Project, untouched: list[dict], serials: list[int],
                     label: str) -> None:
    serials.append(project.serial())
    assert_monotonic(serials, label)
    live = sorted(project.org.connections(), key=lambda c: c["id"])
    assert live == sorted(untouched, key=lambda c: c["id"]), \
        f"{label}: the organization holds {[c['name'] for c in live]}, expected only the " \
        "connections polyctl does not manage, unchanged"
    assert project.resources() == {}, f"{label}: state keeps {sorted(project.resources())[:5]}"
    assert not project.journal_path.exists(), f"{label}: a journal was left behind"


def _killed_destroy_then_destroy(project, untouched, point: str) -> None:
    serials = [project.serial()]
    killed(project, point, "destroy", "--auto-approve", "--parallelism", PARALLELISM)
    serials.append(project.serial())
    rerun = project.run("destroy", "--auto-approve")
    assert rerun.code == 0, f"{point}: re-run failed\n{rerun.output}"
    # nothing left to delete when the killed run had deleted all (only the state lagged)
    assert "Destroy complete!" in rerun.stdout or "No changes." in rerun.stdout, rerun.output
    assert not re.search(r"\berror\b|not found|\b404\b", rerun.output, re.I), \
        f"{point}: the re-run reported a problem:\n{rerun.output}"
    assert_destroyed(project, untouched, serials, point)
    # the specs are still there: the next plan creates them all again, nothing else
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2 and f"Plan: {MANAGED} to add, 0 to change, 0 to destroy." \
        in plan.stdout, f"{point}:\n{plan.output}"


@pytest.mark.parametrize("point", DESTROY_POINTS + [
    pytest.param(p, marks=pytest.mark.slow) for p in SLOW_DESTROY_POINTS])
def test_killed_destroy_then_destroy_removes_only_the_managed(tmp_path, make_project, sandbox,
                                                              point: str) -> None:
    project, _, untouched = _destroy_setup(tmp_path, make_project, sandbox,
                                           f"d-{point.replace(':', '-')}")
    _killed_destroy_then_destroy(project, untouched, point)
    report(f"crash: killed a {MANAGED}-delete destroy at {point}, destroyed again")


@pytest.mark.parametrize("point", ["before-done:20", "entries:50"])
def test_killed_destroy_then_apply_recreates_what_it_deleted(tmp_path, make_project, sandbox,
                                                             point: str) -> None:
    """The user changes their mind: `apply` after a killed destroy re-creates exactly
    what the destroy managed to delete, once each, and leaves the outsiders alone."""
    project, specs, untouched = _destroy_setup(tmp_path, make_project, sandbox, "d-apply")
    serials = [project.serial()]
    killed(project, point, "destroy", "--auto-approve", "--parallelism", PARALLELISM)
    serials.append(project.serial())
    rerun = project.run("apply", "--auto-approve")
    assert rerun.code == 0, f"{point}: apply failed\n{rerun.output}"
    serials.append(project.serial())
    assert_monotonic(serials, point)
    live = project.org.connections()
    for c in untouched:  # still there, unchanged
        assert c in live, f"{point}: {c['name']} was changed or deleted"
    org_view = project.org
    project.org = _Without(org_view, {c["id"] for c in untouched})
    try:
        assert_converged(project, specs, label=point)
    finally:
        project.org = org_view
    report(f"crash: killed a destroy at {point}, then applied")


class _Without:
    """An organization view that leaves some connections out (the outsiders)."""

    def __init__(self, org, ids: set[str]) -> None:
        self._org, self._ids = org, ids
        self.url, self.api_key = org.url, org.api_key

    def connections(self) -> list[dict]:
        return [c for c in self._org.connections() if c["id"] not in self._ids]


@pytest.mark.slow
def test_kills_of_the_recovering_destroys_converge_too(tmp_path, make_project, sandbox) -> None:
    project, _, untouched = _destroy_setup(tmp_path, make_project, sandbox, "d-chain")
    serials = [project.serial()]
    for point in ["before-done:10", "state-write:1", "entries:12", "before-done:5",
                  "before-clear:1"]:
        killed(project, point, "destroy", "--auto-approve", "--parallelism", PARALLELISM,
               may_finish=True)
        serials.append(project.serial())
        assert_monotonic(serials, point)
    final = project.run("destroy", "--auto-approve")
    assert final.code == 0 and not re.search(r"\berror\b|not found|\b404\b", final.output, re.I), \
        final.output
    assert_destroyed(project, untouched, serials, "chain")


# -- import ADDR ID ----------------------------------------------------------------------------

IMPORT_POINTS = ["lock", "before-write:1", "state-write:1", "after:0.4"]


@pytest.mark.parametrize("point", IMPORT_POINTS)
def test_killed_import_is_all_or_nothing(make_project, sandbox, point: str) -> None:
    project = make_project(f"i-{point.replace(':', '-')}")
    specs = project.specs(connections(5))
    project.apply()
    target = project.resources()["connection.c002"]["id"]
    assert project.run("state", "rm", "connection.c002").code == 0  # live, unmanaged
    before = project.serial()

    killed(project, point, "import", "connection.c002", target, may_finish=True)
    assert project.serial() >= before
    resources = project.resources()
    imported = resources.get("connection.c002")
    if imported is not None:  # whole: what import records, with its id
        assert imported["id"] == target and imported["type"] == "api", imported
        assert imported["name"] == "Crash 002" and imported["configuration"]["url"] == \
            "https://c2.example.com", imported
    assert [a for a, r in resources.items() if r["id"] == target] == \
        (["connection.c002"] if imported else []), f"{point}: {target} under another address"

    again = project.run("import", "connection.c002", target)
    if imported is not None:
        assert again.code == 1 and "already in the state" in again.output, again.output
    else:
        assert again.code == 0, f"{point}: import failed\n{again.output}"
    assert project.resources()["connection.c002"]["id"] == target
    no_plan_changes_but_updates(project.run("plan", "--detailed-exitcode"), point)
    project.apply()
    assert_converged(project, specs, label=point)
    report(f"crash: killed an import at {point} ({'done' if imported else 'not done'})")


# -- import --all ------------------------------------------------------------------------------

IMPORT_ALL_POINTS = ["lock", "before-write:1", "state-write:1", "after:0.5"]
OUT = "specs/imported.yaml"


def _env_for_imported(project: Project) -> dict[str, str]:
    """The variables the written specs read their secrets from (listed in its header),
    set to placeholders: enough to plan."""
    path = project.root / OUT
    if not path.exists():
        return {}
    return {m: f"placeholder-{i}" for i, m in enumerate(
        re.findall(r"^#   (POLYCTL_\w+)$", path.read_text(encoding="utf-8"), re.M))}


def foreign_connections(n: int) -> dict:
    """Connections whose secrets sit only where the API masks them: import --all cannot
    know that a plain header value (the `X-Env` of `api_config`) was a secret."""
    specs = connections(n, prefix="f", label="Foreign")
    for block in specs.values():
        block["configuration"]["headers"] = block["configuration"]["headers"][1:]
    return specs


@pytest.mark.parametrize("point", IMPORT_ALL_POINTS)
def test_killed_import_all_then_import_all_adopts_each_once(tmp_path, make_project, sandbox,
                                                             point: str) -> None:
    project = make_project(f"ia-{point.replace(':', '-')}")
    project.specs(connections(2, prefix="own", label="Own"))
    project.apply()
    _, foreign = outsider(tmp_path, project, foreign_connections(6))
    before = {a: r["id"] for a, r in project.resources().items()}

    killed(project, point, "import", "--all", "--out", OUT, may_finish=True)
    resources = project.resources()
    new = {a: r for a, r in resources.items() if a not in before}
    assert len(new) in (0, len(foreign)), f"{point}: a partial import: {sorted(new)}"
    assert {a: r["id"] for a, r in resources.items() if a in before} == before

    # the user sets the variables the written specs name (their file lists them)
    again = project.run("import", "--all", "--out", OUT, env=_env_for_imported(project))
    assert again.code == 0, f"{point}: re-running the import failed\n{again.output}"
    resources = project.resources()
    ids = [r["id"] for r in resources.values()]
    assert len(ids) == len(set(ids)), f"{point}: a connection imported twice"
    assert sorted(ids) == sorted(c["id"] for c in project.org.connections()), \
        f"{point}: not every connection is managed after the re-run"
    assert len(project.org.connections()) == 2 + len(foreign)
    plan = project.run("plan", "--detailed-exitcode", env=_env_for_imported(project))
    no_plan_changes_but_updates(plan, point)
    report(f"crash: killed an import --all at {point}")


# -- state mv / state rm -----------------------------------------------------------------------

STATE_POINTS = ["lock", "before-write:1", "state-write:1", "after:0.3"]


def _state_setup(make_project, name: str):
    project = make_project(name)
    specs = project.specs(connections(5))
    project.apply()
    project.apply()  # a second write: the `.backup` of an unchanged state exists too
    return project, specs


def _backup(project: Project) -> dict:
    from polyctl.state import loads

    raw = (project.root / "polyctl.state.json.backup").read_bytes()
    loads(raw, source="backup")
    import json

    return json.loads(raw)


@pytest.mark.parametrize("point", STATE_POINTS)
def test_killed_state_mv_leaves_old_or_new_layout(make_project, point: str) -> None:
    project, specs = _state_setup(make_project, f"mv-{point.replace(':', '-')}")
    old = project.state()
    killed(project, point, "state", "mv", "connection.c001", "connection.renamed",
           may_finish=True)
    now = project.state()
    moved = {("connection.renamed" if a == "connection.c001" else a): r
             for a, r in old["resources"].items()}
    assert now["resources"] in (old["resources"], moved), f"{point}: {sorted(now['resources'])}"
    done = now["resources"] == moved
    assert now["serial"] == old["serial"] + done
    backup = _backup(project)
    if done:
        assert backup == old, f"{point}: the backup is not the state before the move"

    again = project.run("state", "mv", "connection.c001", "connection.renamed")
    if done:
        assert again.code == 1 and "not recorded in the state" in again.output, again.output
    else:
        assert again.code == 0, again.output
    assert project.resources() == moved
    assert _backup(project)["resources"] in (old["resources"], moved)
    specs["renamed"] = specs.pop("c001")
    project.specs(specs)
    assert_converged(project, specs, label=point)
    report(f"crash: killed a state mv at {point} ({'done' if done else 'not done'})")


@pytest.mark.parametrize("point", STATE_POINTS)
def test_killed_state_rm_leaves_old_or_new_layout(make_project, point: str) -> None:
    project, specs = _state_setup(make_project, f"rm-{point.replace(':', '-')}")
    old = project.state()
    gone = ["connection.c001", "connection.c003"]
    killed(project, point, "state", "rm", *gone, may_finish=True)
    now = project.state()
    kept = {a: r for a, r in old["resources"].items() if a not in gone}
    assert now["resources"] in (old["resources"], kept), f"{point}: {sorted(now['resources'])}"
    done = now["resources"] == kept
    assert now["serial"] == old["serial"] + done
    if done:
        assert _backup(project) == old, f"{point}: the backup is not the state before rm"

    again = project.run("state", "rm", *gone)
    assert again.code == (1 if done else 0), again.output
    assert project.resources() == kept
    # forgotten, not deleted: still live, and once their specs go the plan is empty
    live = {c["id"] for c in project.org.connections()}
    assert {old["resources"][a]["id"] for a in gone} <= live
    for a in gone:
        specs.pop(a.partition(".")[2])
    project.specs(specs)
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 0 and "No changes." in plan.stdout, f"{point}:\n{plan.output}"
    report(f"crash: killed a state rm at {point} ({'done' if done else 'not done'})")
