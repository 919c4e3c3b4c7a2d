"""Holding the state lock around a command that may write state."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from polyctl.state.backend import StateBackend


@contextmanager
def state_lock(rt, project, operation: str, *,
               backend: StateBackend | None = None) -> Iterator[StateBackend]:
    """Take the lock of the project's backend (or of `backend`, another one), failing
    fast or waiting --lock-timeout; release it in `finally`."""
    backend = backend or project.backend
    shown = False

    def waiting(holder, elapsed: float) -> None:
        nonlocal shown
        if not shown:
            rt.out.print(f"Waiting for the state lock held by {holder.who} (pid {holder.pid}, "
                         f"{holder.operation}, since {holder.created})...", err=True)
            shown = True

    lock = backend.lock(operation, timeout=project.settings.lock_timeout, on_wait=waiting)
    broken = backend.last_broken_lock
    if broken is not None:
        rt.out.print(f"Warning: cleared a stale state lock left by {broken.who} (pid "
                     f"{broken.pid}, {broken.operation}, {broken.created}): that process is no "
                     "longer running.", err=True)
    try:
        yield backend
    finally:
        backend.unlock(lock)
