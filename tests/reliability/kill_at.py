"""Run polyctl and SIGKILL it at an exact moment: `python kill_at.py POINT -- ARGS…`.

An outside watcher can only kill "soon after" something it saw; these points are the
instants between two steps that a crash must survive, hit every time:

    journal:K        right after the K-th journal entry is durable
    before-done:K    the K-th operation succeeded at the API; its "done" entry is not
                     written yet (the journal still says "pending")
    state-write:N    right after the N-th state write (the rename) — before the
                     journal is cleared
    before-write:N   just before the N-th state write begins (what the command did
                     before it, e.g. a spec file `import --all` wrote, is done)
    before-clear:N   just before the N-th journal clear
    lock             right after the state lock was taken
    executor         when the apply starts executing: any interrupted run recovered,
                     the plan made, nothing of this run recorded yet

The process kills itself with SIGKILL: no `finally`, no flush, no unlock, exactly as
`kill -9` from outside. Only the file backend is instrumented.
"""

from __future__ import annotations

import os
import signal
import sys


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str) -> None:
    from polyctl.state import local
    from polyctl.state.lockfile import LockFile

    kind, _, arg = point.partition(":")
    limit = int(arg or 1)
    backend = local.LocalStateBackend
    counts = {"entries": 0, "done": 0, "writes": 0, "clears": 0}

    if kind == "journal":
        original = backend.journal_append

        def journal_append(self, entries):
            original(self, entries)
            counts["entries"] += len(entries)
            if counts["entries"] >= limit:
                die()

        backend.journal_append = journal_append
    elif kind == "before-done":
        original = backend.journal_append

        def journal_append(self, entries):
            done = sum(1 for e in entries if e.get("type") == "done")
            if counts["done"] + done >= limit:
                die()
            counts["done"] += done
            original(self, entries)

        backend.journal_append = journal_append
    elif kind == "state-write":
        original = backend.write

        def write(self, state, **kw):
            original(self, state, **kw)
            counts["writes"] += 1
            if counts["writes"] >= limit:
                die()

        backend.write = write
    elif kind == "before-write":
        original = backend.write

        def write(self, state, **kw):
            counts["writes"] += 1
            if counts["writes"] >= limit:
                die()
            original(self, state, **kw)

        backend.write = write
    elif kind == "before-clear":
        original = backend.journal_clear

        def journal_clear(self):
            counts["clears"] += 1
            if counts["clears"] >= limit:
                die()
            original(self)

        backend.journal_clear = journal_clear
    elif kind == "lock":
        original = LockFile.acquire

        def acquire(self, *a, **kw):
            result = original(self, *a, **kw)
            die()
            return result

        LockFile.acquire = acquire
    elif kind == "executor":
        from polyctl.engine import apply

        async def run(self):
            die()

        apply.Executor.run = run
    else:
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    point, separator, *args = sys.argv[1:]
    assert separator == "--", sys.argv
    install(point)
    from polyctl.cli import run

    raise SystemExit(run(args))
