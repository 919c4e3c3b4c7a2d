"""Shared test helpers: run the real CLI (in-process or as a process), project folders,
and a real sandbox over loopback.

- `invoke(*args, cwd=…, env=…, stdin=…)` runs `polyctl.cli.run` with fake streams and
  returns `Result(code, stdout, stderr)`;
- `run_cli(*args, cwd=…, env=…)` runs `python -m polyctl` as a real process;
- `project` is a temporary project root with an empty `specs/`;
- `sandbox` is a running sandbox (its own SQLite file), `sandbox_env` the environment
  pointing polyctl at it.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared helpers: `import sandbox_proxy`
SHARED = REPO.parent / "shared"

# Every child process the tests start (`python -m polyctl`, the sandbox, lock holders)
# imports polyctl from this tree, not from whatever checkout happens to be installed
# (an editable install of another clone would otherwise answer from a project folder).
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                   if p and p != str(REPO)])
CONNECTION_TYPES = SHARED / "contract" / "connection-types"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment: no Polytomic credentials or polyctl settings leak in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POLYTOMIC_", "POLYCTL_")) and k != "NO_COLOR"}
    env.update(extra or {})
    return env


def invoke(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = "") -> Result:
    from polyctl.cli import run
    from polyctl.console import Environment

    out, err = io.StringIO(), io.StringIO()
    environment = Environment(stdin=io.StringIO(stdin), stdout=out, stderr=err,
                              environ=base_env(env), cwd=Path(cwd))
    code = run(list(args), environment)
    return Result(code, out.getvalue(), err.getvalue())


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = "",
            timeout: float = 120) -> Result:
    proc = subprocess.run([sys.executable, "-m", "polyctl", *args], cwd=cwd, env=base_env(env),
                          input=stdin, capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "specs").mkdir(parents=True)
    return root


@pytest.fixture
def sandbox(tmp_path: Path):
    from polyctl.sandbox import SandboxConfig, start_sandbox

    sb = start_sandbox(SandboxConfig(port=0, db_path=tmp_path / "sandbox.db", seed=1))
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def sandbox_env(sandbox) -> dict[str, str]:
    return {"POLYTOMIC_DEPLOYMENT_URL": sandbox.url, "POLYTOMIC_API_KEY": sandbox.api_key}


def pytest_addoption(parser) -> None:
    # Here, not in a sub-conftest: options must be known before the test folders load.
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the heavier sizes (tests marked slow)")


def pytest_collection_modifyitems(config, items) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="heavier size: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
