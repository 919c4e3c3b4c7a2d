"""Is the process that took a lock still alive? Process identity for lock holders.

Owns what a lock records about its holder beyond host and pid, and the judgement "this
holder is gone" that lets a later run take a stale lock over:

- `start_time` (field 22 of `/proc/<pid>/stat`): a pid reused by an unrelated process
  has another start time, so "pid alive" alone would keep a dead lock forever;
- `boot_id`: after a reboot every pid and start time is meaningless;
- `pid_ns` (inode of `/proc/self/ns/pid`): two containers may share a hostname and a
  volume but not their pids; a holder in another pid namespace is never judged.

A holder is only ever judged gone when it ran on this host. Without `/proc` (macOS)
the check falls back to `kill(pid, 0)`.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from typing import Any

_MAX_PID = 2**31 - 1  # kill() with a larger value overflows; <= 0 signals process groups


@cache
def hostname() -> str:
    return socket.gethostname()


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) of `pid`, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        # The command name may contain spaces and ')': count fields after the last ')'.
        fields = data[data.rindex(b")") + 2 :].split()
        return fields[0].decode("ascii", "replace"), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip() or None
    except OSError:
        return None


@cache
def boot_id() -> str | None:
    return _read_text("/proc/sys/kernel/random/boot_id")


@cache
def pid_namespace() -> int | None:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def own_identity() -> dict[str, Any]:
    """What a lock taken by this process records in `LockInfo.extra`."""
    stat = proc_stat(os.getpid())
    return {
        "start_time": stat[1] if stat else None,
        "boot_id": boot_id(),
        "pid_ns": pid_namespace(),
    }


def pid_alive(pid: int) -> bool:
    """True unless `pid` certainly does not exist (EPERM means it exists)."""
    if not 0 < pid <= _MAX_PID:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True  # cannot tell: assume alive, never break a lock on a guess
    return True


def holder_gone(host: str, pid: int, extra: dict[str, Any]) -> str | None:
    """Why the holder (`host`, `pid`, identity `extra`) is certainly gone, or None."""
    if host != hostname() or not isinstance(pid, int) or not 0 < pid <= _MAX_PID:
        return None
    ns = extra.get("pid_ns")
    if ns is not None and pid_namespace() is not None and ns != pid_namespace():
        return None  # another container's pid: not ours to judge
    recorded_boot = extra.get("boot_id")
    if recorded_boot and boot_id() and recorded_boot != boot_id():
        return "the host has restarted since the lock was taken"
    if not pid_alive(pid):
        return f"process {pid} no longer exists"
    stat = proc_stat(pid)
    if stat is None:
        return None
    state, start_time = stat
    if state in ("Z", "X", "x"):
        return f"process {pid} has exited (zombie)"
    recorded_start = extra.get("start_time")
    if isinstance(recorded_start, int) and recorded_start != start_time:
        return f"pid {pid} now belongs to another process"
    return None
