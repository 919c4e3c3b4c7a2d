"""Durable file primitives for the local state backend.

Owns the few rules that make a file survive a crash: data is written to a temp file in
the target's directory, fsynced, and only then renamed over the target (a reader sees
the old or the new file, never half of one); the directory is fsynced so the rename
itself survives power loss; files are created 0600 because state names every connection
and digest of its secrets. Also owns the temp-file names (which embed pid and host so
litter from a SIGKILLed writer can be swept safely) and the emergency copy written
outside the state directory when that directory refuses a write — Terraform's
`errored.tfstate`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path

from polyctl.state import procinfo
from polyctl.state.backend import StateWriteError
from polyctl.state.model import State

FILE_MODE = 0o600
DIR_MODE = 0o700
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# Directory fsync is not supported everywhere; such errors say nothing about the data.
_DIR_FSYNC_UNSUPPORTED = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF,
                          errno.EACCES, errno.EISDIR}
# link() errors that mean "no hard links here" (copy instead), not a failed write.
NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


def _host_key() -> str:
    return hashlib.sha256(procinfo.hostname().encode()).hexdigest()[:8]


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_dir(directory: Path) -> None:
    """Make renames and unlinks in `directory` durable."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        if exc.errno in _DIR_FSYNC_UNSUPPORTED:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _DIR_FSYNC_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


def unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def temp_path(target: Path) -> Path:
    """A fresh temp name beside `target`: `<name>.tmp-<writer>-<hostkey>-<random>`, where
    `<writer>` is `<pid>.<start time>` (just `<pid>` without /proc): the start time tells
    a dead writer from a live process that was given its pid since."""
    return target.with_name(
        f"{target.name}.tmp-{_writer_tag()}-{_host_key()}-{secrets.token_hex(4)}"
    )


def _writer_tag() -> str:
    pid = os.getpid()
    stat = procinfo.proc_stat(pid)
    return str(pid) if stat is None else f"{pid}.{stat[1]}"


def create_synced(path: Path, data: bytes) -> None:
    """Create `path` (never an existing file or a link: FileExistsError), mode 0600
    whatever the umask, holding `data` fsynced. On failure nothing is left behind."""
    fd = os.open(path, _CREATE | _NOFOLLOW, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        unlink_quietly(path)  # ours: created by the O_EXCL above
        raise
    os.close(fd)


def write_temp(target: Path, data: bytes) -> Path:
    """Write `data` to a new fsynced 0600 temp file beside `target`; return its path.

    The caller renames it into place or removes it; on failure nothing is left behind.
    """
    tmp = temp_path(target)
    create_synced(tmp, data)
    return tmp


def sweep_temps(target: Path) -> None:
    """Remove temp files of `target` left by dead writers on this host."""
    prefix, ours = f"{target.name}.tmp-", _host_key()
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        parts = name[len(prefix):].split("-")
        if len(parts) != 3 or parts[1] != ours:
            continue
        pid_text, _, start_text = parts[0].partition(".")
        if not pid_text.isdigit() or (start_text and not start_text.isdigit()):
            continue
        pid = int(pid_text)
        if pid == os.getpid():
            continue
        # Threads use pids too: on a busy host a dead writer's pid is soon someone
        # else's, and "alive" alone would keep its temp file forever.
        identity = {"start_time": int(start_text)} if start_text else {}
        if procinfo.holder_gone(procinfo.hostname(), pid, identity) is not None:
            unlink_quietly(target.parent / name)


def _same_dir(a: Path, b: Path | None) -> bool:
    if b is None:
        return False
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _emergency_dirs(tempdir) -> list[Path]:
    dirs = []
    for where in (tempdir, Path.home, Path.cwd):
        try:
            dirs.append(Path(where()))
        except (OSError, RuntimeError, KeyError):  # no HOME, cwd deleted, …
            pass
    return dirs


def write_emergency_copy(state: State, reason: str, *, avoid: Path | None = None,
                         source: str = "") -> Path:
    """Write `state` as `polyctl-errored-<lineage>-<serial>.state.json` in the temp
    directory (else home, else cwd) — never in `avoid`, the state's own directory.

    The file is a loadable state (`polyctl state push` can restore it) with one extra
    top-level key, `polyctl_errored`, saying why and where it should have gone. Created
    with O_EXCL|O_NOFOLLOW, mode 0600: the temp directory is shared with other users.
    """
    import tempfile  # costly import, only needed on this rare path

    document = state.to_json()
    document["polyctl_errored"] = {
        "reason": reason,
        "state_location": source,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    payload = (json.dumps(document, indent=2) + "\n").encode()
    stem = f"polyctl-errored-{re.sub(r'[^A-Za-z0-9_.-]', '_', state.lineage)[:64]}-{state.serial}"
    tried: list[str] = []
    for directory in _emergency_dirs(tempfile.gettempdir):
        if _same_dir(directory, avoid):
            continue
        tried.append(str(directory))
        for n in range(100):
            path = directory / (f"{stem}.state.json" if n == 0 else f"{stem}.{n}.state.json")
            try:
                create_synced(path, payload)
            except FileExistsError:
                continue
            except OSError:
                break
            try:
                fsync_dir(directory)
            except OSError:
                pass  # the data itself is synced; a lost name is the lesser risk
            return path
    raise StateWriteError(
        f"could not write an emergency copy of the state anywhere (tried {', '.join(tried)})",
        state=state, payload=payload,
    )
