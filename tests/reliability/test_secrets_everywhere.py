"""Secrets: no secret used by the reliability suites — literal, from the environment,
from a file, a rotated one, the API key, a database password — in anything polyctl
prints or leaves behind.

Every test of tests/reliability ends with that scan (conftest `no_secret_anywhere`):
stdout and stderr of every run, in-process or a real process; every file in the
project except the user's own specs (state, backup, lock, saved plans, imported
specs, caches); every emergency copy; and the journal, read each time a test looks
at it and copied continuously while runs go on (`JournalTap`), since a run deletes
it when it ends. This test drives one project through the paths where a secret could
slip out: text and JSON plans, saved plans, `show`, state commands, `--debug`
tracebacks, API errors under injected faults, a crash, a full disk, a rotated secret,
and a PostgreSQL state whose URL carries a password (every row of it scanned).
"""

from __future__ import annotations

import errno
import json

import psycopg
import pytest

import pg_server
from rel_helpers import DiskFailure, JournalTap, Project, api_config, report, webhook_config

ROTATED = "rel-rotated-token-0b9e4d71aa"
PG_PASSWORD = "rel-pg-password-61c2f0"


def _specs(n: int = 9) -> dict:
    specs = {f"s{i}": {"name": f"Secret {i}", "configuration": api_config(
        f"https://s{i}.example.com", i)} for i in range(n)}
    specs["hook"] = {"name": "Hook", "type": "webhook",
                     "configuration": webhook_config("https://hook.example.com/in")}
    return specs


def _run_all(project: Project, *commands: tuple[str, ...]) -> None:
    for command in commands:
        result = project.run(*command)
        assert "Traceback" not in result.output or "--debug" in command, result.output


@pytest.mark.postgres
def test_no_secret_anywhere_on_a_hard_day(make_project, sandbox, monkeypatch, pg_url) -> None:
    project = make_project()
    project.secrets |= {ROTATED, PG_PASSWORD}
    project.specs(_specs())

    # plans in every form, a saved plan applied under faults, journal copied live
    _run_all(project, ("validate",), ("validate", "--json"), ("plan",), ("plan", "--json"),
             ("plan", "--out", "saved.plan"), ("show", "saved.plan"),
             ("show", "--json", "saved.plan"))
    sandbox.set_faults(error_rate=0.3, drop_rate=0.1, throttle_rate=0.1, retry_after=0.01,
                       seed=5)
    with JournalTap(project) as tap:
        _run_all(project, ("apply", "saved.plan"), ("apply", "--auto-approve"))
    sandbox.set_faults(error_rate=0, drop_rate=0, throttle_rate=0)
    _run_all(project, ("apply", "--auto-approve"), ("show",), ("show", "--json"),
             ("state", "list"), ("state", "show", "connection.s0"), ("state", "pull"),
             ("refresh",), ("plan", "--detailed-exitcode"))

    # errors, with tracebacks asked for
    _run_all(project, ("--debug", "plan"),
             ("--debug", "apply", "--auto-approve", "--target", "connection.s1"))
    bad_key = project.run("--debug", "plan", env={"POLYTOMIC_API_KEY": "not-" + PG_PASSWORD})
    assert bad_key.code == 1
    assert "Traceback" in bad_key.output  # --debug did show one: it was scanned too

    # a rotated secret: planned and applied as a change, never shown
    project.env["REL_TOKEN"] = ROTATED
    _run_all(project, ("plan",), ("plan", "--json"), ("plan", "--out", "rotated.plan"),
             ("apply", "rotated.plan"))
    project.env["REL_TOKEN"] = "rel-env-token-9f3b27c1d6"

    # a crash leaves the journal behind; a full disk leaves an emergency copy
    project.specs(_specs(14))
    killed = project.popen("apply", "--auto-approve", kill_point="before-done:3").wait()
    assert killed.code < 0
    assert project.journal_entries(), "the crash left no journal to scan"
    disk = DiskFailure(monkeypatch, project.root, errno.ENOSPC, after=3)
    _run_all(project, ("--debug", "apply", "--auto-approve"))  # finishes the crashed run
    assert list(project.emergency_dir.glob("polyctl-errored-*")), "no emergency copy to scan"
    disk.fix()
    _run_all(project, ("apply", "--auto-approve"))

    # PostgreSQL, its URL carrying a password
    workspace = pg_server.unique_workspace("secrets")
    host = pg_url.split("@", 1)[1]
    url = pg_server.with_params(f"postgresql://postgres:{PG_PASSWORD}@{host}",
                                schema="polyctl_reliability")
    _run_all(project, ("state", "migrate", "--to", url, "--to-workspace", workspace))
    project.env.update(POLYCTL_STATE=url, POLYCTL_WORKSPACE=workspace)
    project.specs(_specs(18))
    _run_all(project, ("plan",), ("apply", "--auto-approve"), ("state", "history"),
             ("state", "pull"), ("show", "--json"), ("--debug", "state", "list"))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for table in ("states", "state_history", "journal", "locks"):
            rows = conn.execute(f"SELECT * FROM polyctl_reliability.{table} "
                                "WHERE workspace = %s", [workspace]).fetchall()
            project.captured.append((f"postgresql {table}", json.dumps(rows, default=str)))

    texts = project.texts()
    leaks = project.leaks()
    assert not leaks, "\n".join(leaks)
    report(f"secrets: {len(project.secrets)} secrets searched in {len(texts)} outputs and "
           f"files ({sum(len(t) for _, t in texts):,} characters; {tap.versions} live "
           "journal copies): 0 hits")
