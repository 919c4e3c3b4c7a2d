"""Run settings and where they come from: flag > environment > polyctl.yaml > default.

`polyctl.yaml` in the project root may set `specs`, `state`, `workspace`,
`parallelism`, `lock_timeout` and `sandbox_db`; anything else is a located error.
Durations are written as Terraform takes them (`30s`, `5m`, `1h30m`, `0s`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from polyctl.diagnostics import Diagnostics, did_you_mean
from polyctl.spec.yamlsource import load_yaml

PROJECT_FILE = "polyctl.yaml"
DEFAULT_STATE = "polyctl.state.json"
DEFAULT_SPECS = "specs"
DEFAULT_SANDBOX_DB = ".polyctl/sandbox.db"
KEYS = ("specs", "state", "workspace", "parallelism", "lock_timeout", "sandbox_db")

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ms|h|m|s))")


def parse_duration(text: str) -> float:
    """`30s` → 30.0, `1m30s` → 90.0, `500ms` → 0.5, `0` → 0. ValueError when malformed."""
    text = text.strip()
    if text in ("0", ""):
        return 0.0
    pos = 0
    total = 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        value, unit = float(match.group(1)), match.group(2)
        total += value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f'"{text}" is not a duration (expected e.g. 30s, 5m, 1h30m)')
    return total


@dataclass
class ProjectFile:
    values: dict[str, Any] = field(default_factory=dict)


def load_project_file(root: Path, diags: Diagnostics) -> ProjectFile:
    path = root / PROJECT_FILE
    if not path.is_file():
        return ProjectFile()
    doc = load_yaml(path, PROJECT_FILE, diags)
    if doc is None or doc.data is None:
        return ProjectFile()
    if not isinstance(doc.data, dict):
        diags.error("Invalid project file", f"{PROJECT_FILE} must be a mapping of settings.",
                    location=doc.where(()))
        return ProjectFile()
    values: dict[str, Any] = {}
    for key, value in doc.data.items():
        where = doc.where((key,), key=True)
        if key not in KEYS:
            diags.error("Unsupported setting", f'"{key}" is not a polyctl.yaml setting.'
                        f"{did_you_mean(key, KEYS)} Expected one of: {', '.join(KEYS)}.",
                        location=where)
            continue
        if key == "parallelism":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                diags.error("Invalid setting", "parallelism: expected a whole number ≥ 1.",
                            location=doc.where((key,)))
                continue
        elif key == "lock_timeout":
            try:
                value = parse_duration(str(value))
            except ValueError as exc:
                diags.error("Invalid setting", f"lock_timeout: {exc}.", location=doc.where((key,)))
                continue
        elif not isinstance(value, str):
            diags.error("Invalid setting", f"{key}: expected a string.", location=doc.where((key,)))
            continue
        values[key] = value
    return ProjectFile(values)


@dataclass(frozen=True)
class Settings:
    root: Path
    specs_dir: Path
    state_location: str  # a path or a postgresql:// URL
    workspace: str = "default"
    parallelism: int = 10
    lock_timeout: float = 0.0
    sandbox_db: Path = Path(DEFAULT_SANDBOX_DB)


def resolve_settings(
    root: Path,
    *,
    env: Mapping[str, str],
    project: ProjectFile,
    specs: str | None = None,
    state: str | None = None,
    workspace: str | None = None,
    parallelism: int | None = None,
    lock_timeout: float | None = None,
) -> Settings:
    p = project.values

    def pick(flag, env_name, key, default):
        if flag is not None:
            return flag
        if env_name and env.get(env_name):
            return env[env_name]
        return p.get(key, default)

    state_location = str(pick(state, "POLYCTL_STATE", "state", DEFAULT_STATE))
    if "://" not in state_location:
        state_location = str(root / state_location)
    return Settings(
        root=root,
        specs_dir=root / str(pick(specs, "", "specs", DEFAULT_SPECS)),
        state_location=state_location,
        workspace=str(pick(workspace, "POLYCTL_WORKSPACE", "workspace", "default")),
        parallelism=int(pick(parallelism, "", "parallelism", 10)),
        lock_timeout=float(pick(lock_timeout, "", "lock_timeout", 0.0)),
        sandbox_db=root / str(p.get("sandbox_db", DEFAULT_SANDBOX_DB)),
    )
