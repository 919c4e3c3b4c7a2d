"""The file backend's own promises: private files, backup, atomic replacement (also under
SIGKILL), refusal of corrupt and newer files, and disk trouble with emergency copies."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from state_helpers import REPO, child_env, make_state

from polyctl.state import (
    CorruptStateError,
    LocalStateBackend,
    LockError,
    StateError,
    StateWriteError,
    UnsupportedStateVersionError,
    dumps,
    loads,
)
from polyctl.state import files as state_files
from polyctl.state import procinfo


@pytest.fixture
def backend(tmp_path) -> LocalStateBackend:
    """File-specific tests use the file backend whatever `backend_factory` offers."""
    return LocalStateBackend(tmp_path / "polyctl.state.json")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def litter(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if ".tmp-" in n)


def test_every_file_is_private_whatever_the_umask(backend):
    old = os.umask(0)
    try:
        backend.write(make_state(1), expected_serial=None)
        backend.write(make_state(2), expected_serial=1)
        lock = backend.lock("apply")
        backend.journal_append([{"op": "x"}])
    finally:
        os.umask(old)
    for path in (backend.path, backend.backup_path, backend.lock_path, backend.journal_path,
                 backend.lock_path.with_name(backend.lock_path.name + ".guard")):
        assert mode(path) == 0o600, path
    backend.unlock(lock)


def test_backup_is_the_previous_file_itself(backend):
    backend.write(make_state(1), expected_serial=None)
    assert not backend.backup_path.exists()
    first_inode = backend.path.stat().st_ino

    backend.write(make_state(2), expected_serial=1)
    assert loads(backend.backup_path.read_bytes()) == make_state(1)
    assert backend.backup_path.stat().st_ino == first_inode  # renamed by link, not copied

    backend.write(make_state(3), expected_serial=2)
    assert loads(backend.backup_path.read_bytes()) == make_state(2)
    assert litter(backend.path.parent) == []


def test_a_reader_never_sees_the_state_missing_or_partial(backend):
    backend.write(make_state(1, size=50), expected_serial=None)
    seen, problems, done = [], [], threading.Event()

    def reader():
        while not done.is_set():
            try:
                state = backend.read()
                seen.append(state.serial) if state else problems.append("missing")
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                problems.append(repr(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    for serial in range(2, 80):
        backend.write(make_state(serial, size=50), expected_serial=serial - 1)
    done.set()
    thread.join()
    assert problems == []
    assert len(seen) > 30 and seen == sorted(seen)


def test_writer_killed_at_random_moments_leaves_a_whole_version(backend, children):
    """SIGKILL a child rewriting a large state in a loop, again and again: the state is
    always exactly one of the versions written, and the backup an earlier one."""
    size, mid_write_kills, last_serial = 600, 0, 0
    # At least 16 kills; on a loaded machine more may be needed before one lands
    # between a temp file and its rename, which the test must witness to prove anything.
    for attempt in range(80):
        if attempt >= 16 and mid_write_kills >= 1:
            break
        writer = children.spawn("write-loop", str(backend.path), str(size))
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(random.uniform(0.03, 0.3))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        mid_write_kills += bool(litter(backend.path.parent))

        state = backend.read()
        if state is None:  # killed before its first write finished
            continue
        assert state == make_state(state.serial, size)
        assert state.serial >= last_serial
        last_serial = state.serial
        if backend.backup_path.exists():
            backup = loads(backend.backup_path.read_bytes())
            # A kill between rotating the backup and replacing the state leaves both
            # naming the same version: whole, and never newer than the state.
            assert backup == make_state(backup.serial, size) and backup.serial <= state.serial
    assert last_serial > 0  # the writers made progress between the kills
    # Some kills must have landed between temp file and rename, or this proved nothing.
    assert mid_write_kills >= 1, mid_write_kills
    backend.write(make_state(last_serial + 1), expected_serial=last_serial)
    assert litter(backend.path.parent) == []  # a dead writer's temp files are swept


@pytest.mark.parametrize("failure", [RuntimeError("crash"), KeyboardInterrupt(),
                                     OSError(errno.EIO, "Input/output error")])
def test_failure_between_temp_write_and_replace_changes_nothing(backend, monkeypatch, failure):
    backend.write(make_state(1), expected_serial=None)
    before = backend.path.read_bytes()
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst) == backend.path:
            assert Path(src).exists() and loads(Path(src).read_bytes()) == make_state(2)
            raise failure
        return real_replace(src, dst, *args, **kwargs)

    expected = StateWriteError if isinstance(failure, OSError) else type(failure)
    with monkeypatch.context() as patch, pytest.raises(expected):
        patch.setattr(os, "replace", replace)
        backend.write(make_state(2), expected_serial=1)

    assert backend.path.read_bytes() == before
    assert litter(backend.path.parent) == []
    backend.write(make_state(2), expected_serial=1)  # and the next write works
    assert backend.read() == make_state(2)


def test_a_failed_fsync_of_the_temp_file_is_a_write_error(backend, monkeypatch):
    backend.write(make_state(1), expected_serial=None)

    def fsync(fd):
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patch, pytest.raises(StateWriteError, match="left unchanged"):
        patch.setattr(os, "fsync", fsync)
        backend.write(make_state(2), expected_serial=1)
    assert backend.read() == make_state(1) and litter(backend.path.parent) == []


# -- corrupt and newer files -----------------------------------------------------------

def _doc(**changes):
    doc = make_state(4).to_json()
    doc.update(changes)
    return json.dumps(doc).encode()


CORRUPT = {
    "garbage": b"\x00\xff\xfenot json at all",
    "truncated": dumps(make_state(4, size=5))[:300],
    "empty": b"",
    "whitespace": b"  \n",
    "not an object": b"[1, 2, 3]",
    "serial as text": _doc(serial="4"),
    "serial as bool": _doc(serial=True),
    "lineage missing": json.dumps({k: v for k, v in make_state(4).to_json().items()
                                   if k != "lineage"}).encode(),
    "resources as list": _doc(resources=[]),
    "resource name as number": _doc(resources={"connection.a": {"id": "1", "type": "api",
                                                                 "name": 5}}),
    "format_version missing": json.dumps({"lineage": "x"}).encode(),
}


@pytest.mark.parametrize("raw", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_file_is_refused_and_never_touched(backend, raw):
    backend.path.write_bytes(raw)
    os.chmod(backend.path, 0o644)
    before = backend.path.stat()

    with pytest.raises(CorruptStateError) as caught:
        backend.read()
    assert str(backend.path) in str(caught.value) and caught.value.path == str(backend.path)
    for expected in (None, 4):
        with pytest.raises(CorruptStateError):
            backend.write(make_state(5), expected_serial=expected)

    assert backend.path.read_bytes() == raw
    after = backend.path.stat()
    assert (after.st_ino, after.st_mtime_ns, mode(backend.path)) == (
        before.st_ino, before.st_mtime_ns, 0o644)
    assert not backend.backup_path.exists() and litter(backend.path.parent) == []


def test_a_newer_format_is_refused_and_never_touched(backend):
    raw = _doc(format_version=99, future_field={"x": 1})
    backend.path.write_bytes(raw)

    with pytest.raises(UnsupportedStateVersionError) as caught:
        backend.read()
    assert caught.value.found_version == 99 and "newer polyctl" in str(caught.value)
    with pytest.raises(UnsupportedStateVersionError):
        backend.write(make_state(5), expected_serial=4)
    assert backend.path.read_bytes() == raw and not backend.backup_path.exists()


def test_a_directory_at_the_state_path_is_a_clear_error(backend):
    backend.path.mkdir()
    with pytest.raises(StateError, match="is a directory"):
        backend.read()


# -- disk trouble ----------------------------------------------------------------------

def _fail_writes_to_temp_files(patch, directory: Path, code: int) -> None:
    real_write = os.write

    def write(fd, data):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.startswith(str(directory)) and ".tmp-" in target:
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    patch.setattr(os, "write", write)


def test_disk_full_raises_with_the_state_and_an_emergency_copy_saves_it(
        backend, monkeypatch, emergency_dir):
    backend.write(make_state(1), expected_serial=None)
    before = backend.path.read_bytes()
    with monkeypatch.context() as patch, pytest.raises(StateWriteError) as caught:
        _fail_writes_to_temp_files(patch, backend.path.parent, errno.ENOSPC)
        backend.write(make_state(2, size=20), expected_serial=1)

    err = caught.value
    assert "No space left on device" in str(err) and err.path == str(backend.path)
    assert err.state == make_state(2, size=20) and loads(err.payload) == err.state
    assert backend.path.read_bytes() == before and litter(backend.path.parent) == []

    copy = backend.write_emergency_copy(err.state, str(err))
    assert copy.parent == emergency_dir and mode(copy) == 0o600
    assert copy.name == f"polyctl-errored-{err.state.lineage}-2.state.json"
    assert loads(copy.read_bytes()) == make_state(2, size=20)


def test_read_only_directory_refuses_writes_and_locks_cleanly(backend, monkeypatch):
    backend.write(make_state(1), expected_serial=None)
    real_open = os.open

    def open_(path, flags, *args, **kwargs):
        if str(path).startswith(str(backend.path.parent)) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(os, "open", open_)
        with pytest.raises(StateWriteError, match="Read-only file system") as caught:
            backend.write(make_state(2), expected_serial=1)
        assert caught.value.state == make_state(2)
        with pytest.raises(LockError, match="Read-only"):
            backend.lock("apply")
        assert backend.read() == make_state(1)  # reading still works
    assert litter(backend.path.parent) == []


def test_emergency_copy_avoids_the_state_directory(backend, monkeypatch, tmp_path):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(backend.path.parent))
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    copy = backend.write_emergency_copy(make_state(3), "test")
    assert copy.parent == home


_TMPFS_SCRIPT = textwrap.dedent("""
    import errno, json, os, subprocess, sys
    from state_helpers import make_state
    from polyctl.state import LocalStateBackend, LockError, StateWriteError, loads
    state_dir = sys.argv[1]
    b = LocalStateBackend(os.path.join(state_dir, "polyctl.state.json"))
    b.write(make_state(1, size=5), expected_serial=None)
    before = open(b.path, "rb").read()
    out = {}
    try:
        b.write(make_state(2, size=3000), expected_serial=1)   # far larger than the disk
    except StateWriteError as exc:
        out["full"] = str(exc)
        out["copy"] = str(b.write_emergency_copy(exc.state, "disk full"))
    out["intact_after_full"] = open(b.path, "rb").read() == before
    out["litter"] = sorted(n for n in os.listdir(state_dir) if ".tmp-" in n)
    subprocess.run(["mount", "-o", "remount,ro", state_dir], check=True)
    try:
        b.write(make_state(2, size=5), expected_serial=1)
    except StateWriteError as exc:
        out["ro"] = str(exc)
    try:
        b.lock("apply")
    except LockError as exc:
        out["ro_lock"] = str(exc)
    out["read_after_ro"] = b.read() == make_state(1, size=5)
    print(json.dumps(out))
""")


def test_really_full_and_really_read_only_filesystem(tmp_path, emergency_dir):
    """A real 256 KiB tmpfs in a private mount namespace (needs `unshare`)."""
    if not shutil.which("unshare") or subprocess.run(
            ["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("no user+mount namespaces here; the patched tests above cover this")
    state_dir = tmp_path / "small"
    state_dir.mkdir()
    script = tmp_path / "script.py"
    script.write_text(_TMPFS_SCRIPT)
    env = child_env()
    env["PYTHONPATH"] += os.pathsep + str(Path(__file__).parent)
    env["TMPDIR"] = str(emergency_dir)
    shell = f'mount -t tmpfs -o size=256k tmpfs "$1" && exec "{sys.executable}" "$2" "$1"'
    result = subprocess.run(["unshare", "-rm", "sh", "-c", shell, "sh", str(state_dir),
                             str(script)], capture_output=True, text=True, env=env,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert "No space left on device" in out["full"]
    assert out["intact_after_full"] and out["litter"] == []
    assert "Read-only file system" in out["ro"] and "Read-only" in out["ro_lock"]
    assert out["read_after_ro"]
    copy = Path(out["copy"])
    assert copy.parent == emergency_dir and mode(copy) == 0o600
    assert loads(copy.read_bytes()) == make_state(2, size=3000)


# -- paths and hosts -------------------------------------------------------------------

def test_a_symlinked_state_path_updates_the_real_file(tmp_path):
    real_dir = tmp_path / "shared"
    real_dir.mkdir()
    link = tmp_path / "polyctl.state.json"
    link.symlink_to(real_dir / "polyctl.state.json")
    backend = LocalStateBackend(link)
    backend.write(make_state(1), expected_serial=None)
    backend.write(make_state(2), expected_serial=1)

    assert link.is_symlink()
    assert loads((real_dir / "polyctl.state.json").read_bytes()) == make_state(2)
    assert (real_dir / "polyctl.state.json.backup").exists()


def test_temp_files_of_dead_writers_are_swept_and_live_ones_kept(backend, children):
    backend.write(make_state(1), expected_serial=None)
    live, _ = children.hold_lock(str(backend.path.parent / "other.json"))
    key = state_files._host_key()
    dead_pid = 2**22 + 4321  # above any pid_max: certainly not running
    started = procinfo.proc_stat(live.pid)[1]
    names = {
        "dead": f"{backend.path.name}.tmp-{dead_pid}-{key}-aaaa",
        "live": f"{backend.path.name}.tmp-{live.pid}-{key}-bbbb",
        "other host": f"{backend.path.name}.tmp-{dead_pid}-00000000-cccc",
        "live, its start time": f"{backend.path.name}.tmp-{live.pid}.{started}-{key}-dddd",
        # a writer that died, whose pid a newer process (or thread) has since been given
        "pid reused": f"{backend.path.name}.tmp-{live.pid}.{started - 1}-{key}-eeee",
        "backup, pid reused": f"{backend.backup_path.name}.tmp-{live.pid}.{started - 1}-{key}-ffff",
    }
    for name in names.values():
        (backend.path.parent / name).write_text("{}")

    backend.write(make_state(2), expected_serial=1)

    remaining = set(litter(backend.path.parent))
    assert remaining == {names["live"], names["other host"], names["live, its start time"]}


def test_temp_names_carry_the_writer_s_start_time():
    name = state_files.temp_path(Path("/x/polyctl.state.json")).name
    writer = name.split(".tmp-")[1].split("-")[0]
    assert writer == f"{os.getpid()}.{procinfo.proc_stat(os.getpid())[1]}"


def test_without_hard_links_backup_and_lock_still_work(backend, monkeypatch):
    def no_links(src, dst, *args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    backend.write(make_state(1), expected_serial=None)
    backend.write(make_state(2), expected_serial=1)
    assert loads(backend.backup_path.read_bytes()) == make_state(1)
    lock = backend.lock("apply")
    assert json.loads(backend.lock_path.read_text())["id"] == lock.id
    assert mode(backend.lock_path) == 0o600
    backend.unlock(lock)
    assert litter(backend.path.parent) == []
