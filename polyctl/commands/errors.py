"""Exceptions → what the user reads. The only place that knows every error family."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from polyctl.diagnostics import DiagnosticsError

if TYPE_CHECKING:
    from polyctl.render.lines import Line


class CommandError(Exception):
    """A user-facing failure raised by a command: summary plus optional detail."""

    def __init__(self, summary: str, detail: str = "") -> None:
        super().__init__(summary)
        self.summary, self.detail = summary, detail


def describe_error(exc: BaseException) -> "list[Line] | None":
    """Lines to show for a known error, or None for a bug."""
    from polyctl.render.diagnostics import render_diagnostics, render_error

    if isinstance(exc, DiagnosticsError):
        return render_diagnostics(exc.diagnostics)
    if isinstance(exc, CommandError):
        return render_error(exc.summary, exc.detail)
    from polyctl.state.backend import LockError, StateLockedError
    from polyctl.state.model import StateError

    if isinstance(exc, StateLockedError):
        holder = exc.holder
        if exc.stale:
            detail = (f"The lock is stale: its holder (pid {holder.pid} on {holder.host}) is no "
                      f"longer running.\n\n{holder.describe()}\n\nIf no other polyctl uses this "
                      f"state, release it with: polyctl force-unlock {holder.id}")
        else:
            waited = f" after waiting {exc.waited:.0f}s" if exc.waited else ""
            detail = (f"The state is locked by another run{waited}.\n\n{holder.describe()}\n\n"
                      "Wait for it to finish, or use --lock-timeout to wait (e.g. 5m). If that "
                      f"run is dead, release the lock with: polyctl force-unlock {holder.id}")
        return render_error("Error acquiring the state lock", detail)
    if isinstance(exc, LockError):
        return render_error("State lock error", str(exc))
    if isinstance(exc, StateError):
        return render_error(_state_summary(exc), str(exc))
    from polyctl.engine.planfile import PlanFileError

    if isinstance(exc, PlanFileError):
        return render_error("Invalid plan file", str(exc))
    if "polyctl.api" in sys.modules:
        from polyctl.api import NoCredentialsError, PolytomicError

        if isinstance(exc, NoCredentialsError):
            return render_error("No Polytomic credentials", str(exc))
        if isinstance(exc, PolytomicError):
            return render_error("Polytomic API error", str(exc))
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return render_error("I/O error", f"{exc.strerror or exc}{where}")
    return None


def _state_summary(exc: Exception) -> str:
    name = type(exc).__name__
    return {
        "CorruptStateError": "Cannot read the state",
        "UnsupportedStateVersionError": "Unsupported state version",
        "SerialConflictError": "The state changed during this run",
        "LineageMismatchError": "State lineage mismatch",
        "StateWriteError": "Failed to save the state",
    }.get(name, "State error")
