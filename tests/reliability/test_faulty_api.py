"""A faulty API: 20% 5xx, 10% 429 with Retry-After, 5% dropped connections (half
before the server acted, half after it committed), and seeded random latency.

An apply of 300 mixed operations converges in one run thanks to the retries, or at
worst in a second one, and the exit code tells the truth:

- 0 only if everything was applied (checked against the live organization at once);
- 1 lists errors that are real (each names an operation of the plan, and every
  operation not listed was applied), and a second run converges;
- never a duplicate connection: a retried create carries the same Idempotency-Key,
  so a create the server committed before dropping the connection is replayed.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from rel_helpers import (
    LatencyJitter, Project, api_config, assert_converged, live_differences, report, webhook_config,
)

FAULTS = {"error_rate": 0.20, "throttle_rate": 0.10, "drop_rate": 0.05, "retry_after": 0.05}
PARALLELISM = "20"
ERROR_LINE = re.compile(r"^Error: (connection\.\S+) \((\w[\w-]*)\): (.+)$", re.M)


def before(n: int) -> dict:
    """n updates, n/4 replacements, n/4 create-before-destroy replacements, n deletes."""
    specs = {}
    for i in range(n):
        specs[f"upd{i}"] = {"name": f"Upd {i}", "configuration": api_config(
            f"https://u{i}.example.com", i)}
        specs[f"del{i}"] = {"name": f"Del {i}", "configuration": api_config(
            f"https://d{i}.example.com", i)}
    for i in range(n // 4):
        for prefix, cbd in (("rep", False), ("cbd", True)):
            specs[f"{prefix}{i}"] = {"name": f"{prefix.capitalize()} {i}", "configuration":
                                     api_config(f"https://{prefix}{i}.example.com", i),
                                     "lifecycle": {"create_before_destroy": cbd}}
    return specs


def after(n: int, creates: int) -> dict:
    specs = {}
    for i in range(n):
        specs[f"upd{i}"] = {"name": f"Upd {i} v2", "configuration": api_config(
            f"https://u{i}.example.com/v2", i + 1)}
    for i in range(n // 4):
        for prefix, cbd in (("rep", False), ("cbd", True)):
            specs[f"{prefix}{i}"] = {"name": f"{prefix.capitalize()} {i}", "type": "webhook",
                                     "configuration": webhook_config(
                                         f"https://{prefix}{i}.example.com/hook"),
                                     "lifecycle": {"create_before_destroy": cbd}}
    for i in range(creates):
        specs[f"new{i}"] = {"name": f"New {i}", "configuration": api_config(
            f"https://n{i}.example.com", i)}
    return specs


def _faulty_apply(make_project, sandbox, *, n: int, creates: int, seed: int,
                  faults: dict = FAULTS) -> None:
    project: Project = make_project()
    project.specs(before(n))
    project.apply()
    target = project.specs(after(n, creates))
    changes = {rc["address"]: rc["action"] for rc in _plan(project)
               if rc["action"] != "no-op"}
    assert Counter(changes.values()) == {"create": creates, "update": n, "replace": n // 2,
                                         "delete": n}
    ids_before = {a: r["id"] for a, r in project.resources().items()}

    sandbox.set_faults(seed=seed, **faults)
    stats_before = sandbox.stats()
    with LatencyJitter(sandbox, seed, 0, 40):
        first = project.popen("apply", "--auto-approve", "--parallelism", PARALLELISM).wait()
    sandbox.set_faults(error_rate=0, throttle_rate=0, drop_rate=0, latency_ms=0)
    injected = Counter(sandbox.stats()["faults"]) - Counter(stats_before["faults"])
    assert first.code in (0, 1), first.output
    assert "Traceback" not in first.output

    errors = ERROR_LINE.findall(first.stderr)
    if first.code == 0:
        assert not errors and "Apply complete!" in first.stdout, first.output
        problems = live_differences(project.org, target)
        assert not problems, "exit 0, but not everything was applied:\n" + "\n".join(problems)
    else:
        assert errors, f"exit 1 without an error listed:\n{first.output}"
        assert "Apply incomplete." in first.stdout, first.output
        failed = {address for address, _, _ in errors}
        assert failed <= set(changes), f"errors name operations not in the plan: {failed}"
        _assert_applied_except(project, target, ids_before, changes, failed)
    for error in errors:
        report(f"faulty API: first run error {error}")
    report(f"faulty API: {len(changes)} planned changes, "
           f"first run exit {first.code} with {len(errors)} error(s); faults injected: "
           f"{dict(injected)}")
    rate = faults["error_rate"] + faults["throttle_rate"] + faults["drop_rate"]
    assert sum(injected.values()) > rate / 2 * len(changes), injected  # really there

    if first.code == 1:
        second = project.run("apply", "--auto-approve")
        assert second.code == 0, second.output
    assert_converged(project, target, label="after the faulty apply")


def _plan(project: Project) -> list[dict]:
    import json

    result = project.run("plan", "--json")
    assert result.code == 0, result.output
    return json.loads(result.stdout)["resource_changes"]


def _assert_applied_except(project: Project, target: dict, ids_before: dict,
                           changes: dict, failed: set[str]) -> None:
    """Every planned change not listed as failed is live and recorded in the state."""
    problems = set(live_differences(project.org, target))
    resources = project.resources()
    live_ids = {c["id"] for c in project.org.connections()}
    for address, action in changes.items():
        if address in failed:
            continue
        name = address.split(".", 1)[1]
        if action == "delete":
            assert address not in resources, address
            assert ids_before[address] not in live_ids, f"{address}: reported deleted, is live"
            continue
        block = target[name]
        assert not [p for p in problems if p.startswith(f"{block['name']}:")
                    or p.endswith(f"{block['name']!r}")], f"{address} not applied"
        assert resources[address]["id"] in live_ids, f"{address}: state id is not live"


def test_faulty_api_apply_of_300_operations(make_project, sandbox) -> None:
    # 80 updates + 20 replacements + 20 create-before-destroy + 80 deletes + 100 creates
    _faulty_apply(make_project, sandbox, n=80, creates=100, seed=8)


def test_light_faults_apply_of_300_operations(make_project, sandbox) -> None:
    """5% 5xx, 5% 429, 2% drops: retries almost always win, and exit 0 must then mean
    that everything was applied (checked before any second run)."""
    light = {"error_rate": 0.05, "throttle_rate": 0.05, "drop_rate": 0.02, "retry_after": 0.05}
    _faulty_apply(make_project, sandbox, n=80, creates=100, seed=11, faults=light)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_faulty_api_apply_of_1000_operations(make_project, sandbox, seed: int) -> None:
    _faulty_apply(make_project, sandbox, n=240, creates=400, seed=seed)


@pytest.fixture
def fast_retries(monkeypatch):
    """The client's back-off, shortened (same number of attempts, same decisions)."""
    from polyctl.api import _client

    monkeypatch.setattr(_client, "backoff_delay", lambda policy, retries, rand: 0.01)


def test_create_committed_but_every_answer_lost_is_not_duplicated(
        make_project, sandbox, fast_retries) -> None:
    """The server commits the create, then every answer (first try and retries) is lost:
    the run fails with that error, exit 1. The next run must find the connection that
    was created (or replay the same Idempotency-Key), never create a second one."""
    from sandbox_proxy import SandboxProxy

    project: Project = make_project()
    specs = project.specs({"lost": {"name": "Lost answers", "configuration": api_config(
        "https://lost.example.com", 0)}, "fine": {"name": "Fine", "configuration": api_config(
            "https://fine.example.com", 1)}})
    proxy = SandboxProxy(project.org.url, lose={("POST", "/api/connections")})
    try:
        first = project.run("apply", "--auto-approve",
                            env={"POLYTOMIC_DEPLOYMENT_URL": proxy.url})
    finally:
        proxy.stop()
    assert first.code == 1, first.output
    assert proxy.lost == 10  # both creates, five attempts each
    assert ERROR_LINE.search(first.stderr), first.stderr
    assert sorted(c["name"] for c in project.org.connections()) == ["Fine", "Lost answers"]

    second = project.run("apply", "--auto-approve")
    assert second.code == 0, second.output
    assert_converged(project, specs, label="after the lost answers")
