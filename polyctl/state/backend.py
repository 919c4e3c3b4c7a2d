"""The `StateBackend` protocol every storage of state implements, its errors, and the
rules every implementation applies alike: workspace names (`check_workspace`), the
compare-and-swap of `write` (`check_write`) and the journal's entry encoding
(`encode_entry`, `decode_entry`).

A backend stores one state document per workspace, guarded by a lock, with a
compare-and-swap on `serial` and an append-only journal that makes every finished
apply operation durable before the next one is reported (see `polyctl.engine.apply`).

Error tree:

    StateError
    ├── CorruptStateError            stored state unreadable (never overwritten)
    ├── UnsupportedStateVersionError written by a newer polyctl (never overwritten)
    ├── SerialConflictError          CAS failed: someone else wrote in between
    ├── LineageMismatchError         writing a different lineage over existing state
    ├── StateWriteError              storage refused the write (read-only, disk full, I/O);
    │                                carries `.state`/`.payload` for an emergency copy
    └── LockError                    (also: the lock file itself cannot be created)
        ├── StateLockedError         held by someone else (has `.holder: LockInfo`)
        └── LockNotFoundError        force-unlock of an id that does not hold the lock
                                     (has `.holder`: the actual holder, or None)

When a write fails with `StateWriteError`, the caller still knows what the API did;
`write_emergency_copy` puts that state somewhere outside the backend's storage (like
Terraform's `errored.tfstate`) so the CLI can print where it went.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from datetime import datetime, timezone
from typing import Any, Callable, Protocol, runtime_checkable

from polyctl.state.model import State, StateError
from polyctl.values import from_json, loads_json, to_json


class SerialConflictError(StateError):
    """The stored serial is not the one the writer read: someone else wrote since."""

    def __init__(self, expected: int | None, found: int | None) -> None:
        if found is None:
            what = f"no state is stored any more (expected serial {expected}): it was removed"
        elif expected is None:
            what = f"a state with serial {found} already exists where none was expected"
        else:
            what = f"state serial is {found}, expected {expected}: another run wrote the state"
        super().__init__(f"{what} since it was read; re-run to plan against the new state")
        self.expected, self.found = expected, found


class LineageMismatchError(StateError):
    """The stored state belongs to another lineage; refusing to write over it."""

    def __init__(self, stored: str, writing: str, *, location: str = "") -> None:
        where = f" at {location}" if location else ""
        super().__init__(
            f"the state{where} has lineage {stored}, but the state being written has "
            f"lineage {writing}: refusing to replace a different state"
        )
        self.stored, self.writing = stored, writing


class StateWriteError(StateError):
    """Storage refused a write (read-only directory, disk full, I/O error).

    The stored state is unchanged. `state` and `payload` (its serialised bytes) are what
    the caller failed to store; pass `state` to `write_emergency_copy` so nothing the
    API did is forgotten.
    """

    def __init__(self, message: str, *, state: State | None = None,
                 payload: bytes | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.state, self.payload, self.path = state, payload, path


class LockError(StateError):
    """A lock could not be taken, released or inspected."""


class StateLockedError(LockError):
    """Someone else holds the lock; `holder` says who, `waited` how long we tried."""

    def __init__(self, holder: "LockInfo", *, stale: bool = False, waited: float = 0) -> None:
        self.holder, self.stale, self.waited = holder, stale, waited
        super().__init__(holder.describe())


class LockNotFoundError(LockError):
    """No lock with the given id; `holder` is whoever holds the lock instead (or None)."""

    def __init__(self, message: str, *, holder: "LockInfo | None" = None) -> None:
        super().__init__(message)
        self.holder = holder


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LockInfo:
    """Who holds a state lock, as data (shown to whoever waits for it).

    `extra` is backend-specific detail; the file backend records the holder's process
    identity there (`start_time`, `boot_id`, `pid_ns`) to tell a dead holder from a
    live one, and `stale_reason` on a lock it broke.
    """

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


_WORKSPACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_workspace(name: str) -> None:
    """Refuse a workspace name that is not safe as a directory name and a key alike."""
    if not _WORKSPACE_NAME.fullmatch(name) or ".." in name:
        raise StateError(f"invalid workspace name {name!r}: use letters, digits, "
                         "'-', '_' and '.', starting with a letter or digit")


def check_next_serial(state: State, expected_serial: int | None) -> None:
    """A write stores a later serial than the one it replaces (a bug otherwise)."""
    if expected_serial is not None and state.serial <= expected_serial:
        raise ValueError(f"state.serial {state.serial} must be greater than "
                         f"expected_serial {expected_serial} (use State.next())")


def check_write(stored: State | None, state: State, expected_serial: int | None, *,
                location: str) -> None:
    """The compare-and-swap of `StateBackend.write`, against what is `stored` now (read
    under the backend's own guard): the same lineage, and the serial the writer read."""
    if stored is None:
        if expected_serial is not None:
            raise SerialConflictError(expected_serial, None)
        return
    if stored.lineage != state.lineage:
        raise LineageMismatchError(stored.lineage, state.lineage, location=location)
    if stored.serial != expected_serial:
        raise SerialConflictError(expected_serial, stored.serial)


def encode_entry(entry: dict[str, Any]) -> str:
    """One journal entry as a line of compact JSON; a `Secret` in it is a TypeError, a
    NaN or infinity (not JSON, refused when read) a ValueError."""
    if not isinstance(entry, dict):
        raise TypeError(f"journal entries are dicts, not {type(entry).__name__}")
    return json.dumps(to_json(entry), separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def decode_entry(line: str | bytes) -> dict[str, Any]:
    """The inverse of `encode_entry`; ValueError when `line` is not a JSON object."""
    entry = loads_json(line)
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    return from_json(entry)


@runtime_checkable
class StateBackend(Protocol):
    """Storage of one workspace's state. Implementations: `LocalStateBackend`, …"""

    description: str  # a path or URL, for messages
    # The stale lock (holder gone) that the last successful `lock()` took over, with
    # `extra["stale_reason"]`; None when the lock was free. The CLI warns about it.
    last_broken_lock: LockInfo | None

    def read(self) -> State | None:
        """The current state, or None when none was ever written."""

    def write(self, state: State, *, expected_serial: int | None) -> None:
        """Store `state` if the stored serial still equals `expected_serial`
        (None: nothing stored yet). Atomic: readers see the old or the new state.

        `state.serial` must be greater than `expected_serial` (use `State.next()`).
        Raises SerialConflictError, LineageMismatchError, StateWriteError; refuses
        (CorruptStateError, UnsupportedStateVersionError) to overwrite what it cannot read.
        """

    def lock(self, operation: str, *, timeout: float = 0.0,
             on_wait: LockWaitHook | None = None) -> LockInfo:
        """Take the lock, waiting up to `timeout` seconds (0: fail fast); raise
        StateLockedError. `on_wait(holder, elapsed)` is called between attempts."""

    def unlock(self, lock: LockInfo) -> None:
        """Release a lock this process holds (idempotent). A lock that is no longer
        ours (force-unlocked, then taken by someone else) is left alone."""

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Remove the lock with this id whoever holds it; return what was removed.
        LockNotFoundError (with the actual `holder`) when no lock has this id."""

    def current_lock(self) -> LockInfo | None:
        """The lock's holder, if any (for messages)."""

    def journal_append(self, entries: list[dict[str, Any]]) -> None:
        """Append entries durably (on return they survive a crash).

        Entries are JSON objects defined by the engine; `Digest` leaves survive the
        round trip, a `Secret` anywhere is refused with TypeError before anything is
        written."""

    def journal_read(self) -> list[dict[str, Any]]:
        """Every entry appended since the last `journal_clear`, in order; an entry
        torn by a crash in the middle of its append is ignored."""

    def journal_clear(self) -> None:
        """Forget the journal (after its content was folded into a written state)."""

    def write_emergency_copy(self, state: State, reason: str) -> Path:
        """Write `state` outside the backend's storage (mode 0600); return where."""
