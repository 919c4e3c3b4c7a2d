"""Fixtures for the connection-type tests: every schema of the contract's folder, batched.

`every_type` runs, once per test session (shared by the xdist workers through a file),
the whole story for all 226 types in one project against one sandbox that serves the
contract's connection types, behind a proxy that records request bodies:

1. `types scaffold ID` for every type (after one `validate` has filled the schema cache
   concurrently, so the 226 scaffolds read it instead of making 226 round trips);
2. `validate` of one spec file holding all 226 scaffolds as printed, their `${env:…}`
   variables set; then the same with every optional top-level secret uncommented, which
   is the spec file used from here on, so every top-level secret of every type is set;
3. `validate`, `plan --out`, `show PLAN`, `show --json PLAN`, `apply --auto-approve`,
   `plan --detailed-exitcode --json`, `show`, `show --json`, `state pull`
   (the saved plan is kept for the secret scan; applying a plan saved before any state
   exists is refused as stale, a known bug of saved plans); the apply journal, which
   lives only while an apply runs, is read through the proxy as each create answers;
4. `validate` of one broken spec set holding every per-type mistake (`broken/`).

The result is plain data (outputs, exit codes, files polyctl wrote, request bodies,
the sandbox's connections); the per-type tests only read it.

`types_sandbox` is a function-scoped sandbox serving the same folder, for the tests
that need their own.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sandbox_proxy import SandboxProxy  # noqa: E402
from types_helpers import (  # noqa: E402
    CONNECTION_TYPES, PLAN_FILE, TYPE_IDS, invoke, scaffold_block, secrets_for,
    shared_result, write, write_broken,
)

def _scaffold_all(project: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """`types scaffold ID` for every type, through the real CLI. The click command is
    built once for the loop (typer rebuilds it on every run, ~65 ms each)."""
    import typer

    from polyctl import cli

    command = typer.main.get_command(cli.app)
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(typer.main, "get_command", lambda app: command)
        for type_id in TYPE_IDS:
            r = invoke("types", "scaffold", type_id, cwd=project, env=env)
            out[type_id] = {"code": r.code, "stdout": r.stdout, "stderr": r.stderr}
    return out


def _body(text: str) -> list[str]:
    lines = text.splitlines()
    return lines[lines.index("connections:") + 1:]


def with_optional_secrets(scaffold: str) -> str:
    """The scaffold with its optional top-level secrets uncommented, as a user who has
    them would: so every top-level secret of every type is set somewhere."""
    lines = re.sub(r'^      # ([A-Za-z0-9_]+): ("\$\{env:[A-Z0-9_]+\}")$', r"      \1: \2",
                   scaffold, flags=re.M)
    if lines != scaffold:
        lines = re.sub(r"^    configuration: \{\}  #.*$", "    configuration:", lines, flags=re.M)
    return lines


def _files(project: Path) -> dict[str, str]:
    """Every file polyctl wrote in the project (not the user's specs, not the cache)."""
    out = {}
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project)
        if path.is_file() and rel.parts[0] != "specs" and rel.parts[:2] != (".polyctl", "cache"):
            out[rel.as_posix()] = path.read_text(encoding="utf-8", errors="replace")
    return out


def _build_every_type(folder: Path) -> dict[str, Any]:
    from polyctl.sandbox import SandboxConfig, start_sandbox

    sandbox = start_sandbox(SandboxConfig(port=0, db_path=folder / "sandbox.db", seed=1,
                                          connection_types_dir=CONNECTION_TYPES))
    journal_seen: dict[str, str] = {}
    project = folder / "project"

    def snapshot_journal(method: str, path: str, payload: Any) -> Any:
        # the journal only lives while an apply runs: read it as each create answers
        journal = project / "polyctl.state.json.journal"
        if method == "POST" and journal.exists():
            journal_seen["polyctl.state.json.journal (during apply)"] = journal.read_text(
                encoding="utf-8", errors="replace")
        return payload

    proxy = SandboxProxy(sandbox.url, rewrite=snapshot_journal)
    try:
        env = {"POLYTOMIC_DEPLOYMENT_URL": proxy.url, "POLYTOMIC_API_KEY": sandbox.api_key}
        specs = project / "specs"
        specs.mkdir(parents=True, exist_ok=True)
        runs: dict[str, dict[str, Any]] = {}

        def run(label: str, *args: str, **kw: Any) -> None:
            started = time.monotonic()
            r = invoke(*args, cwd=project, env=env, **kw)
            runs[label] = {"args": list(args), "code": r.code, "stdout": r.stdout,
                           "stderr": r.stderr, "seconds": time.monotonic() - started}

        # fill the schema cache concurrently (the configurations are wrong on purpose)
        warm = specs / "warm.yaml"
        warm.write_text("connections:\n" + "".join(
            f"  w_{i}: {{name: w, type: {t}, configuration: {{}}}}\n"
            for i, t in enumerate(TYPE_IDS)), encoding="utf-8")
        run("warm", "validate")
        warm.unlink()

        scaffolds = _scaffold_all(project, env)
        verbatim, body, bases, secrets = ["connections:"], ["connections:"], {}, {}
        for type_id, s in scaffolds.items():
            if s["code"] != 0:
                continue
            verbatim += _body(s["stdout"])
            text = with_optional_secrets(s["stdout"])
            body += _body(text)
            bases[type_id] = scaffold_block(s["stdout"], type_id)["configuration"] or {}
            secrets[type_id] = secrets_for(
                type_id, scaffold_block(text, type_id)["configuration"] or {})
        write(project / "scaffolds" / "every-type.yaml", "\n".join(verbatim) + "\n")
        write(specs / "every-type.yaml", "\n".join(body) + "\n")
        env.update({k: v for values in secrets.values() for k, v in values.items()})

        run("validate_scaffolds", "validate", "--specs", "scaffolds")
        shutil.rmtree(project / "scaffolds")
        run("validate", "validate")
        run("plan", "plan", "--out", PLAN_FILE)
        run("show_plan", "show", PLAN_FILE)
        run("show_plan_json", "show", "--json", PLAN_FILE)
        run("apply", "apply", "--auto-approve")
        run("replan", "plan", "--detailed-exitcode", "--json")
        run("show", "show")
        run("show_json", "show", "--json")
        run("state_pull", "state", "pull")
        files = {**_files(project), **journal_seen}

        cases = write_broken(folder / "project" / "broken" / "broken.yaml", bases)
        run("broken", "validate", "--specs", "broken")
        shutil.rmtree(project / "broken")

        live = httpx.get(f"{sandbox.url}/api/connections", timeout=60,
                         headers={"Authorization": f"Bearer {sandbox.api_key}"})
        live.raise_for_status()
        sent = [{"method": r.method, "path": r.path, "body": r.body}
                for r in proxy.log if r.method in ("POST", "PUT")]
        return {"scaffolds": scaffolds, "secrets": secrets, "runs": runs, "files": files,
                "live": live.json()["data"], "sent": sent,
                "cases": [c.__dict__ for c in cases]}
    finally:
        proxy.stop()
        sandbox.stop()


def pytest_collection_modifyitems(items) -> None:
    """Run this folder's tests that need the batched run after its others, so that a
    second xdist worker has work to do while the first one builds it."""
    mine = [i for i, item in enumerate(items) if Path(item.path).parent == HERE]
    ordered = sorted((items[i] for i in mine),
                     key=lambda item: "every_type" in getattr(item, "fixturenames", ()))
    for i, item in zip(mine, ordered):
        items[i] = item


@pytest.fixture(scope="session")
def every_type(tmp_path_factory) -> dict[str, Any]:
    return shared_result(tmp_path_factory, "every-type", _build_every_type)


@pytest.fixture
def types_sandbox(tmp_path: Path):
    """A sandbox serving the contract's connection types."""
    from polyctl.sandbox import SandboxConfig, start_sandbox

    sb = start_sandbox(SandboxConfig(port=0, db_path=tmp_path / "types-sandbox.db", seed=1,
                                     connection_types_dir=CONNECTION_TYPES))
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def types_env(types_sandbox) -> dict[str, str]:
    return {"POLYTOMIC_DEPLOYMENT_URL": types_sandbox.url,
            "POLYTOMIC_API_KEY": types_sandbox.api_key}

