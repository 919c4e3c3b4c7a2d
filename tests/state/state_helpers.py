"""Helpers for the state tests: deterministic states, and child-process roles.

Imported by the tests (conftest puts this folder on sys.path) and run as a script by
the child processes that hold locks, write in a loop and append to journals, so that
"another process" in a test is a real one:

    python state_helpers.py hold LOCATION WORKSPACE OPERATION TIMEOUT  # lock, print, wait
    python state_helpers.py write-loop LOCATION WORKSPACE SIZE         # rewrite forever
    python state_helpers.py journal-loop LOCATION WORKSPACE            # append forever
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LINEAGE = "0b5e6c1a-6a53-4b0e-9d1e-000000000001"
SALT = "5a17" * 8
JOURNAL_BATCH = 7


def make_state(serial: int, size: int = 3, lineage: str = LINEAGE):
    """The one state of `lineage` at `serial`: every version differs in every resource."""
    from polyctl.state import ResourceState, State
    from polyctl.values import Digest

    resources = {
        f"connection.c{i:05d}": ResourceState(
            id=f"00000000-0000-0000-0000-{i:012d}",
            type="api",
            name=f"Connection {i} v{serial}",
            configuration={
                "url": f"https://example.com/{i}/{serial}",
                "auth": {"basic": {"username": "u",
                                   "password": Digest(f"sha256:{i:032x}{serial:032x}")}},
                "headers": [{"name": "Accept", "value": "application/json"}],
            },
            force_destroy=bool(i % 2),
        )
        for i in range(size)
    }
    return State(lineage=lineage, serial=serial, digest_salt=SALT).with_resources(resources)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def spawn(role: str, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HERE / "state_helpers.py"), role, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=child_env(), text=True, **popen,
    )


def _hold(location: str, workspace: str, operation: str, timeout: str) -> None:
    from polyctl.state import StateLockedError, open_backend

    backend = open_backend(location, workspace=workspace)
    try:
        info = backend.lock(operation, timeout=float(timeout))
    except StateLockedError as exc:
        print(json.dumps({"locked_by": exc.holder.to_json()}), flush=True)
        return
    broken = backend.last_broken_lock
    print(json.dumps({"lock": info.to_json(), "broken": broken and broken.to_json()}),
          flush=True)
    if sys.stdin.readline().strip() == "release":
        backend.unlock(info)
        print(json.dumps({"released": info.id}), flush=True)


def _write_loop(location: str, workspace: str, size: str) -> None:
    from polyctl.state import open_backend

    backend = open_backend(location, workspace=workspace)
    current = backend.read()
    serial = current.serial if current else None
    print("ready", flush=True)
    while True:
        nxt = 1 if serial is None else serial + 1
        backend.write(make_state(nxt, int(size)), expected_serial=serial)
        serial = nxt
        print(serial, flush=True)


def _journal_loop(location: str, workspace: str) -> None:
    from polyctl.state import open_backend

    backend = open_backend(location, workspace=workspace)
    seq = len(backend.journal_read())
    print("ready", flush=True)
    while True:
        batch = [{"seq": seq + k, "op": "create", "pad": "x" * 200} for k in range(JOURNAL_BATCH)]
        backend.journal_append(batch)
        seq += JOURNAL_BATCH
        print(seq, flush=True)


if __name__ == "__main__":
    role, *rest = sys.argv[1:]
    {"hold": _hold, "write-loop": _write_loop, "journal-loop": _journal_loop}[role](*rest)
