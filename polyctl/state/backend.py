"""The `StateBackend` protocol every storage of state implements, and its errors.

A backend stores one state document per workspace, guarded by a lock, with a
compare-and-swap on `serial` and an append-only journal that makes every finished
apply operation durable before the next one is reported (see `polyctl.engine.apply`).

Error tree:

    StateError
    ├── CorruptStateError            stored state unreadable (never overwritten)
    ├── UnsupportedStateVersionError written by a newer polyctl (never overwritten)
    ├── SerialConflictError          CAS failed: someone else wrote in between
    ├── LineageMismatchError         writing a different lineage over existing state
    └── LockError
        ├── StateLockedError         held by someone else (has `.holder: LockInfo`)
        └── LockNotFoundError        force-unlock of an id that does not hold the lock
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Protocol, runtime_checkable

from polyctl.state.model import (  # noqa: F401  (re-exported)
    CorruptStateError,
    State,
    StateError,
    UnsupportedStateVersionError,
)


class SerialConflictError(StateError):
    def __init__(self, expected: int | None, found: int | None) -> None:
        super().__init__(
            f"state serial is {found}, expected {expected}: another run wrote the state "
            "since it was read; re-run to plan against the new state"
        )
        self.expected, self.found = expected, found


class LineageMismatchError(StateError):
    pass


class LockError(StateError):
    pass


class StateLockedError(LockError):
    def __init__(self, holder: "LockInfo", *, stale: bool = False, waited: float = 0) -> None:
        self.holder, self.stale, self.waited = holder, stale, waited
        super().__init__(holder.describe())


class LockNotFoundError(LockError):
    pass


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LockInfo:
    """Who holds a state lock, as data (shown to whoever waits for it)."""

    id: str
    operation: str
    who: str
    host: str
    pid: int
    created: str
    version: str = ""
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, operation: str, *, path: str = "") -> "LockInfo":
        from polyctl import __version__

        try:
            user = getpass.getuser()
        except Exception:  # no passwd entry in some containers
            user = str(os.getuid())
        host = socket.gethostname()
        return cls(
            id=str(uuid.uuid4()),
            operation=operation,
            who=f"{user}@{host}",
            host=host,
            pid=os.getpid(),
            created=_now(),
            version=__version__,
            path=path,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LockInfo":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def describe(self) -> str:
        return (
            f"Lock Info:\n  ID:        {self.id}\n  Path:      {self.path}\n"
            f"  Operation: {self.operation}\n  Who:       {self.who}\n"
            f"  PID:       {self.pid}\n  Version:   {self.version}\n  Created:   {self.created}"
        )


LockWaitHook = Callable[[LockInfo, float], None]


@runtime_checkable
class StateBackend(Protocol):
    """Storage of one workspace's state. Implementations: `LocalStateBackend`, …"""

    description: str  # a path or URL, for messages

    def read(self) -> State | None:
        """The current state, or None when none was ever written."""

    def write(self, state: State, *, expected_serial: int | None) -> None:
        """Store `state` if the stored serial still equals `expected_serial`
        (None: nothing stored yet). Atomic: readers see the old or the new state."""

    def lock(self, operation: str, *, timeout: float = 0.0,
             on_wait: LockWaitHook | None = None) -> LockInfo:
        """Take the lock, waiting up to `timeout` seconds; raise StateLockedError."""

    def unlock(self, lock: LockInfo) -> None:
        """Release a lock this process holds (idempotent)."""

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Remove the lock with this id whoever holds it; return what was removed."""

    def current_lock(self) -> LockInfo | None:
        """The lock's holder, if any (for messages)."""

    def journal_append(self, entries: list[dict[str, Any]]) -> None:
        """Append entries durably (on return they survive a crash)."""

    def journal_read(self) -> list[dict[str, Any]]:
        """Every entry appended since the last `journal_clear`, in order."""

    def journal_clear(self) -> None:
        """Forget the journal (after its content was folded into a written state)."""
