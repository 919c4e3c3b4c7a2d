"""`LocalStateBackend`: one workspace's state in a JSON file (default `polyctl.state.json`).

Files beside the state path `P` (all created mode 0600):

    P                  the state; replaced atomically, never rewritten in place
    P.backup           the previous version (the old file itself, hard-linked: no copy)
    P.lock             LockInfo JSON of the lock holder (see `lockfile`)
    P.lock.guard       empty; flock'ed for milliseconds around lock changes and the CAS
    P.journal          JSON Lines apply journal (see `journal`)
    P.tmp-<pid>.<start>-…  a write in progress (swept once its writer is dead)

A write goes through these steps, and after each one P is a whole, readable state:

    1. serialise; write P.tmp-…; fsync it
    2. under the guard: read P (refusing a corrupt or newer one), check lineage, serial
    3. link P to P.backup.tmp-…, rename that over P.backup (P.backup is now the old file)
    4. rename P.tmp-… over P; fsync the directory

A crash between steps 3 and 4 leaves P.backup naming the same version as P (both whole).
An OSError at any step (read-only directory, disk full, I/O error) is a `StateWriteError`
carrying the state; P is left as it was and `write_emergency_copy` saves the state
elsewhere. A symlinked state path is followed, so the real file is what gets replaced.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from polyctl.state import files
from polyctl.state.backend import (
    LockError,
    LockInfo,
    LockWaitHook,
    StateWriteError,
    check_next_serial,
    check_workspace,
    check_write,
)
from polyctl.state.files import (
    DIR_MODE, FILE_MODE, NO_HARD_LINKS, fsync_dir, sweep_temps, unlink_quietly,
)
from polyctl.state.journal import Journal
from polyctl.state.lockfile import LockFile
from polyctl.state.model import (
    CorruptStateError,
    State,
    StateError,
    UnsupportedStateVersionError,
    dumps,
    loads,
)

DEFAULT_STATE_FILE = "polyctl.state.json"


def workspace_state_path(path: Path, workspace: str = "default") -> Path:
    """Where a workspace's state lives: `path` for "default", else, as Terraform's
    `terraform.tfstate.d/<ws>/`, `polyctl.state.d/<workspace>/polyctl.state.json`."""
    if workspace == "default":
        return path
    check_workspace(workspace)
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    return path.parent / f"{stem}.d" / workspace / path.name


class LocalStateBackend:
    """`StateBackend` over a local (or shared-filesystem) JSON file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(os.path.realpath(os.fspath(path)))
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.description = str(self.path)
        self.last_broken_lock: LockInfo | None = None
        self._lockfile = LockFile(self.lock_path, state_path=str(self.path))
        self._journal = Journal(self.journal_path)

    def __repr__(self) -> str:
        return f"LocalStateBackend({str(self.path)!r})"

    # -- state -----------------------------------------------------------------------

    def read(self) -> State | None:
        raw = self._read_bytes()
        return None if raw is None else self._parse(raw)

    def _read_bytes(self) -> bytes | None:
        try:
            with open(self.path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise StateError(f"{self.path} is a directory, not a state file") from None
        except OSError as exc:
            raise StateError(f"cannot read the state {self.path}: {exc.strerror or exc}") from exc

    def _parse(self, raw: bytes) -> State:
        hint = "; polyctl will neither use nor overwrite it"
        try:
            return loads(raw, source=str(self.path))
        except UnsupportedStateVersionError as exc:
            raise UnsupportedStateVersionError(f"{exc}{hint}", path=str(self.path),
                                               found_version=exc.found_version) from None
        except CorruptStateError as exc:
            if self.backup_path.exists():
                hint += f" (the previous version is in {self.backup_path.name})"
            raise CorruptStateError(f"{exc}{hint}", path=str(self.path)) from None

    def write(self, state: State, *, expected_serial: int | None) -> None:
        check_next_serial(state, expected_serial)
        payload = dumps(state)  # a Secret raises TypeError here: a bug, not a disk problem
        tmp: Path | None = None
        replaced = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            sweep_temps(self.path)
            sweep_temps(self.backup_path)
            tmp = files.write_temp(self.path, payload)
            with self._lockfile.guard():  # makes check-then-replace one step
                current = self._read_bytes()
                # corrupt or newer: _parse refuses, and nothing is overwritten
                check_write(None if current is None else self._parse(current), state,
                            expected_serial, location=str(self.path))
                if current is not None:
                    self._keep_backup(current)
                os.replace(tmp, self.path)
                tmp, replaced = None, True
                fsync_dir(self.path.parent)
        except OSError as exc:
            outcome = ("the new state is in place but may not survive a power loss"
                       if replaced else "the stored state was left unchanged")
            raise StateWriteError(
                f"cannot write the state {self.path}: {exc.strerror or exc}; {outcome}",
                state=state, payload=payload, path=str(self.path)) from exc
        finally:
            if tmp is not None:
                unlink_quietly(tmp)

    def _keep_backup(self, current_raw: bytes) -> None:
        """Make the current file `.backup` without a moment where either is missing."""
        link = files.temp_path(self.backup_path)
        try:
            os.link(self.path, link)
            if stat.S_IMODE(os.stat(link).st_mode) != FILE_MODE:
                os.chmod(link, FILE_MODE)  # e.g. a hand-made 0644 state
        except OSError as exc:
            unlink_quietly(link)
            if exc.errno not in NO_HARD_LINKS:
                raise
            link = files.write_temp(self.backup_path, current_raw)  # no hard links: copy
        try:
            os.replace(link, self.backup_path)
        except BaseException:
            unlink_quietly(link)
            raise

    def write_emergency_copy(self, state: State, reason: str) -> Path:
        return files.write_emergency_copy(state, reason, avoid=self.path.parent,
                                          source=str(self.path))

    # -- lock ------------------------------------------------------------------------

    def lock(self, operation: str, *, timeout: float = 0.0,
             on_wait: LockWaitHook | None = None) -> LockInfo:
        self.last_broken_lock = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        except OSError as exc:
            raise LockError(f"cannot create the state directory {self.path.parent}: {exc}") from exc
        info, broken = self._lockfile.acquire(operation, timeout=timeout, on_wait=on_wait)
        self.last_broken_lock = broken
        return info

    def unlock(self, lock: LockInfo) -> None:
        self._lockfile.release(lock)

    def force_unlock(self, lock_id: str) -> LockInfo:
        return self._lockfile.force_release(lock_id)

    def current_lock(self) -> LockInfo | None:
        return self._lockfile.holder()

    # -- journal ---------------------------------------------------------------------

    def journal_append(self, entries: list[dict[str, Any]]) -> None:
        self._journal.append(entries)

    def journal_read(self) -> list[dict[str, Any]]:
        return self._journal.read()

    def journal_clear(self) -> None:
        self._journal.clear()
