"""Helpers for the core tests: hand-made states, spec files, and CLI shortcuts.

States are written with fixed lineage, salt and ids so plan output is the same on
every run (golden files need no normalising). Specs go in `<project>/specs/`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import Result, invoke, run_cli, write  # noqa: F401  (re-exported)

from polyctl.resource import Lifecycle
from polyctl.state import LocalStateBackend, ResourceState, State
from polyctl.values import Digest, digest_of

LINEAGE = "c0de0000-0000-4000-8000-000000000001"
SALT = "c0de" * 8
ORG = "0a000000-0000-4000-8000-0000000000a1"
OTHER_ORG = "0b000000-0000-4000-8000-0000000000b2"
STATE_FILE = "polyctl.state.json"
ANSI = re.compile(r"\x1b\[")


def secret(value: str) -> Digest:
    """What the state stores for `value` (the digest under this suite's salt)."""
    return digest_of(value, SALT)


def resource(id: str, name: str, configuration: dict[str, Any] | None = None, *,
             type: str = "api", organization: str | None = None,
             organization_id: str | None = ORG, force_destroy: bool | None = False,
             prevent_destroy: bool = False, create_before_destroy: bool = False,
             ignore_changes: tuple[str, ...] = ()) -> ResourceState:
    return ResourceState(
        id=id, type=type, name=name,
        configuration=configuration if configuration is not None else {
            "url": f"https://{id}.example.com"},
        organization=organization, organization_id=organization_id,
        force_destroy=force_destroy,
        lifecycle=Lifecycle(prevent_destroy, create_before_destroy, tuple(ignore_changes)),
    )


def make_state(resources: dict[str, ResourceState], *, serial: int = 3,
               lineage: str = LINEAGE) -> State:
    return State(lineage=lineage, serial=serial, digest_salt=SALT).with_resources(resources)


def write_state(root: Path, resources: dict[str, ResourceState], *, serial: int = 3,
                lineage: str = LINEAGE, name: str = STATE_FILE) -> Path:
    """Store a state at `root/name` through the real backend (mode 0600, no backup)."""
    path = root / name
    LocalStateBackend(path).write(make_state(resources, serial=serial, lineage=lineage),
                                  expected_serial=None)
    return path


def read_state(root: Path, name: str = STATE_FILE) -> State | None:
    return LocalStateBackend(root / name).read()


def spec(root: Path, name: str, text: str) -> Path:
    """Write `root/specs/<name>` (dedented)."""
    return write(root / "specs" / name, text)


def plan_json(root: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = invoke("plan", "--no-refresh", "--json", *args, cwd=root, env=env)
    assert result.code == 0, result.output
    return json.loads(result.stdout)


def changes_by_address(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rc["address"]: rc for rc in plan["resource_changes"]}


def validate_json(root: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = invoke("validate", "--json", cwd=root, env=env)
    data = json.loads(result.stdout)
    assert result.code == (0 if data["valid"] else 1), result.output
    return data


def errors(root: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The error diagnostics of `validate --json`, flattened for exact comparison."""
    return [flat(d) for d in validate_json(root, env)["diagnostics"] if d["severity"] == "error"]


def flat(d: dict[str, Any]) -> dict[str, Any]:
    start = d.get("range", {}).get("start", {})
    where = (f'{d["range"]["filename"]}:{start["line"]}:{start["column"]}'
             if "range" in d else None)
    return {"summary": d["summary"], "where": where, "attribute": d.get("attribute"),
            "detail": d["detail"]}


def locate(text: str, needle: str, *, prefix: str = "") -> tuple[int, int]:
    """1-based (line, column) of `needle` in the one occurrence of `prefix + needle`."""
    assert text.count(prefix + needle) == 1, f"{prefix + needle!r} must occur exactly once"
    before = text[:text.index(prefix + needle) + len(prefix)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def assert_clean(result: Result) -> None:
    """No Python traceback and no internal-error message reached the user."""
    assert "Traceback" not in result.output, result.output
    assert "Error: internal error" not in result.output, result.output
