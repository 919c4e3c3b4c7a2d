"""Fixtures for the core tests (specs → validation → plan → state, through the CLI).

Helpers live in `core_helpers.py` (this folder is put on sys.path so the tests can
`import core_helpers`); the CLI runners come from the shared `tests/conftest.py`.
`hold_lock` starts another process that holds a state lock (`hold_lock.py`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from polyctl.state import LockInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `import core_helpers`

HOLD_LOCK = Path(__file__).resolve().parent / "hold_lock.py"


class LockHolder:
    """Another process holding the state lock (see hold_lock.py)."""

    def __init__(self, state_path: Path, operation: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HOLD_LOCK), str(state_path), operation],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()
        self.info = LockInfo.from_json(json.loads(line))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def release(self) -> None:
        self.proc.stdin.write("release\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "released"
        self.proc.wait(timeout=10)

    def kill(self) -> None:
        """Die holding the lock, as a crashed run would."""
        self.proc.kill()
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            stream.close()


@pytest.fixture
def hold_lock():
    """`hold_lock(state_path, operation="apply")` → a LockHolder; killed after the test."""
    holders: list[LockHolder] = []

    def start(state_path: Path, operation: str = "apply") -> LockHolder:
        holder = LockHolder(state_path, operation)
        holders.append(holder)
        return holder

    yield start
    for holder in holders:
        holder.close()
