"""The lock beside a local state: `<state>.lock`, a small file holding `LockInfo` JSON.

Why hand-written: the `filelock` package's `FileLock` is an fcntl lock that holds no data
a waiting user could read and is not honoured by every shared filesystem; its 4.x soft
locks record pid/host/start time, but in their own fixed `filelock/2` format capped at
1 KiB, with no room for who, operation and created, and no removal by id. polyctl's lock
must be data (STYLE.md point 5) that a user can read, and that `force-unlock LOCK_ID`
removes, so it is a file of our own. Process identity lives in `procinfo`.

Protocol:
- acquire: the LockInfo JSON is written completely to a temp file, then `link()`ed to
  `<state>.lock`. link fails with EEXIST when the lock exists, is atomic on NFS, and —
  unlike O_CREAT|O_EXCL followed by write() — never shows a half-written lock, nor leaves
  an empty one when the writer is killed in between. Where hard links are not supported
  O_CREAT|O_EXCL + write is the fallback; readers tolerate a partial file (shown as an
  "unreadable" holder whose synthetic id `force-unlock` accepts).
- stale takeover: a holder on this host whose process is gone is replaced with
  rename(temp, lock): atomic, the lock file never disappears in between.
- acquire, takeover, release, force-release (and the state's compare-and-swap, see
  `local`) run under `fcntl.flock` on `<state>.lock.guard`, held for milliseconds. That
  makes "the holder is stale, so replace it" one step: two processes can never both
  take over. The guard file is never deleted (two processes could then lock two inodes).
  Without flock, a stale lock is reported (`StateLockedError.stale`) but not broken.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from polyctl.state import procinfo
from polyctl.state.backend import (
    LockError,
    LockInfo,
    LockNotFoundError,
    LockWaitHook,
    StateLockedError,
)
from polyctl.state.files import (
    FILE_MODE,
    NO_HARD_LINKS,
    create_synced,
    fsync_dir,
    sweep_temps,
    unlink_quietly,
    write_temp,
)

try:
    import fcntl
except ImportError:  # Windows: no guard, so no automatic takeover
    fcntl = None  # type: ignore[assignment]

_MAX_LOCK_BYTES = 1 << 16
_FIRST_DELAY, _MAX_DELAY = 0.05, 1.0


class LockFile:
    """`<state>.lock` and its guard; `state_path` is what lock messages name."""

    def __init__(self, path: Path, *, state_path: str) -> None:
        self.path = path
        self.guard_path = path.with_name(path.name + ".guard")
        self.state_path = state_path

    @contextmanager
    def guard(self) -> Iterator[bool]:
        """Hold the guard flock; yields False when flock is unavailable here."""
        fd = self._open_guard()
        locked = False
        if fd is not None and fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                locked = True
            except OSError:  # ENOLCK on some network filesystems
                pass
        try:
            yield locked
        finally:
            if fd is not None:
                os.close(fd)  # closing releases the flock

    def _open_guard(self) -> int | None:
        flags = os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
        try:
            return os.open(self.guard_path, os.O_RDWR | os.O_CREAT | flags, FILE_MODE)
        except OSError:
            pass
        try:  # read-only directory: flock works on a read-only descriptor too
            return os.open(self.guard_path, os.O_RDONLY | flags)
        except OSError:
            return None

    def holder(self) -> LockInfo | None:
        """Who holds the lock now (None: free). Never fails on a partial lock file."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LockError(f"cannot read the lock file {self.path}: {exc}") from exc
        try:
            mtime = os.fstat(fd).st_mtime
            raw = os.read(fd, _MAX_LOCK_BYTES)
        finally:
            os.close(fd)
        return self._parse(raw, mtime)

    def _parse(self, raw: bytes, mtime: float) -> LockInfo:
        try:
            data = json.loads(raw)
            fields_ok = (
                isinstance(data, dict)
                and all(isinstance(data.get(k), str) for k in ("id", "operation", "who", "host",
                                                               "created"))
                and data["id"]
                and isinstance(data.get("pid"), int) and not isinstance(data["pid"], bool)
                and isinstance(data.get("extra", {}), dict)
            )
            if fields_ok:
                return LockInfo.from_json(data)
        except (ValueError, TypeError):
            pass
        # Being written (fallback path) or damaged: show it, never break it automatically.
        created = datetime.fromtimestamp(mtime, timezone.utc).isoformat(timespec="seconds")
        return LockInfo(
            id="unreadable-" + hashlib.sha256(raw).hexdigest()[:12],
            operation="unknown", who="unknown (the lock file is unreadable)", host="", pid=0,
            created=created.replace("+00:00", "Z"), path=self.state_path,
            extra={"unreadable": True, "size": len(raw)},
        )

    def acquire(self, operation: str, *, timeout: float = 0.0,
                on_wait: LockWaitHook | None = None) -> tuple[LockInfo, LockInfo | None]:
        """Take the lock; return (our lock, the stale lock we broke or None)."""
        info = replace(LockInfo.create(operation, path=self.state_path),
                       extra=procinfo.own_identity())
        payload = (json.dumps(info.to_json(), indent=2) + "\n").encode()
        sweep_temps(self.path)
        try:
            tmp = write_temp(self.path, payload)
        except OSError as exc:
            raise LockError(f"cannot create the lock file {self.path}: {exc}") from exc
        try:
            start, delay = time.monotonic(), _FIRST_DELAY
            while True:
                try:
                    taken, other, stale_reason = self._attempt(tmp, payload)
                except OSError as exc:
                    raise LockError(f"cannot take the lock {self.path}: {exc}") from exc
                if taken:
                    return info, other
                elapsed = time.monotonic() - start
                if elapsed >= timeout:  # fail-fast (timeout 0) did not wait at all
                    raise StateLockedError(other, stale=stale_reason is not None,
                                           waited=elapsed if timeout > 0 else 0.0)
                if on_wait is not None:
                    on_wait(other, elapsed)
                # Jitter keeps waiters from retrying in lockstep.
                time.sleep(max(0.0, min(delay * random.uniform(0.5, 1.0), timeout - elapsed)))
                delay = min(delay * 2, _MAX_DELAY)
        finally:
            unlink_quietly(tmp)  # after link() it is a second name of the lock file

    def _attempt(self, tmp: Path, payload: bytes) -> tuple[bool, LockInfo | None, str | None]:
        with self.guard() as guarded:
            holder = None
            for _ in range(3):  # the holder may release between our create and our read
                if self._create(tmp, payload):
                    fsync_dir(self.path.parent)
                    return True, None, None
                holder = self.holder()
                if holder is None:
                    continue
                reason = None
                if not holder.extra.get("unreadable"):
                    reason = procinfo.holder_gone(holder.host, holder.pid, holder.extra)
                if reason is not None and guarded:
                    os.replace(tmp, self.path)
                    fsync_dir(self.path.parent)
                    return True, replace(holder, extra={**holder.extra, "stale_reason": reason}), None
                return False, holder, reason
            return False, holder or self._parse(b"", time.time()), None

    def _create(self, tmp: Path, payload: bytes) -> bool:
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in NO_HARD_LINKS:
                raise
        try:
            create_synced(self.path, payload)
        except FileExistsError:
            return False
        return True

    def release(self, lock: LockInfo) -> None:
        """Remove the lock if it is still `lock` (someone may have force-unlocked it)."""
        with self.guard():
            holder = self.holder()
            if holder is not None and holder.id == lock.id:
                self._remove()

    def force_release(self, lock_id: str) -> LockInfo:
        with self.guard():
            holder = self.holder()
            if holder is None:
                raise LockNotFoundError(
                    f"{self.state_path} is not locked; no lock with ID {lock_id} to remove")
            if holder.id != lock_id:
                raise LockNotFoundError(
                    f"the lock on {self.state_path} has ID {holder.id}, not {lock_id}; "
                    "nothing was removed", holder=holder)
            self._remove()
            return holder

    def _remove(self) -> None:
        try:
            os.unlink(self.path)
            fsync_dir(self.path.parent)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LockError(f"cannot remove the lock file {self.path}: {exc}") from exc
