"""The file backend's lock: what it records, when a holder counts as gone (dead, zombie,
pid reused, host rebooted) and when it never does (alive, other host, other container),
unreadable lock files, and processes racing to take over one stale lock."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import threading
import time

import pytest

from polyctl.state import LocalStateBackend, LockInfo, StateLockedError, procinfo
from polyctl.state import lockfile as lockfile_module

DEAD_PID = 2**22 + 1234  # above any Linux pid_max: certainly not running


@pytest.fixture
def backend(tmp_path) -> LocalStateBackend:
    return LocalStateBackend(tmp_path / "polyctl.state.json")


def plant(backend: LocalStateBackend, *, raw: bytes | None = None, **fields) -> LockInfo:
    """Write a lock file as some other run would have left it."""
    info = LockInfo(
        id=fields.pop("id", "planted-lock"), operation="apply", who="ci@runner",
        host=fields.pop("host", procinfo.hostname()), pid=fields.pop("pid", DEAD_PID),
        created="2026-01-01T00:00:00Z", version="0.1.0", path=str(backend.path),
        extra={**procinfo.own_identity(), "start_time": None, **fields.pop("extra", {})},
    )
    assert not fields, fields
    backend.lock_path.write_bytes(raw if raw is not None else json.dumps(info.to_json()).encode())
    return info


def test_the_lock_file_holds_lock_info_as_json(backend):
    mine = backend.lock("plan")
    data = json.loads(backend.lock_path.read_text())
    assert LockInfo.from_json(data) == mine
    assert {"id", "operation", "who", "host", "pid", "created", "version", "path"} <= set(data)
    assert data["path"] == str(backend.path) and data["pid"] == os.getpid()
    assert data["extra"]["start_time"] == procinfo.proc_stat(os.getpid())[1]
    backend.unlock(mine)
    assert not backend.lock_path.exists()


def test_fail_fast_makes_one_attempt_and_never_calls_on_wait(backend):
    plant(backend, host="elsewhere")
    calls = []
    started = time.monotonic()
    with pytest.raises(StateLockedError) as caught:
        backend.lock("apply", timeout=0, on_wait=lambda h, t: calls.append(t))
    assert calls == [] and time.monotonic() - started < 0.5
    assert caught.value.waited == 0


def test_a_zombie_holder_is_stale(backend, children):
    proc, held = children.hold_lock(str(backend.path))
    os.kill(proc.pid, signal.SIGKILL)  # not reaped: it stays a zombie
    deadline = time.monotonic() + 5
    while (procinfo.proc_stat(proc.pid) or ("?",))[0] != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert procinfo.proc_stat(proc.pid)[0] == "Z"

    backend.lock("apply")
    assert backend.last_broken_lock.id == held.id
    assert "zombie" in backend.last_broken_lock.extra["stale_reason"]


def test_a_reused_pid_does_not_keep_a_dead_lock_alive(backend, children):
    proc, held = children.hold_lock(str(backend.path))
    # The same pid, but not the process that took the lock (another start time).
    extra = {**held.extra, "start_time": held.extra["start_time"] + 1}
    plant(backend, id=held.id, pid=proc.pid, extra=extra)

    backend.lock("apply")
    assert "another process" in backend.last_broken_lock.extra["stale_reason"]


def test_a_live_holder_is_never_broken(backend, children):
    proc, held = children.hold_lock(str(backend.path))
    before = backend.lock_path.read_bytes()
    with pytest.raises(StateLockedError) as caught:
        backend.lock("apply", timeout=0.3)
    assert caught.value.stale is False and caught.value.holder.id == held.id
    assert backend.lock_path.read_bytes() == before


@pytest.mark.parametrize("where", [
    {"host": "another-host"},
    {"extra": {"pid_ns": -1}},  # same hostname, another container's pid namespace
])
def test_a_holder_we_cannot_see_is_never_broken(backend, where):
    plant(backend, **where)
    before = backend.lock_path.read_bytes()
    with pytest.raises(StateLockedError) as caught:
        backend.lock("apply", timeout=0)
    assert caught.value.stale is False
    assert backend.lock_path.read_bytes() == before


def test_a_lock_from_before_a_reboot_is_stale(backend):
    plant(backend, pid=os.getpid(), extra={"boot_id": "another-boot"})
    backend.lock("apply")
    assert "restarted" in backend.last_broken_lock.extra["stale_reason"]


def test_without_flock_a_stale_lock_is_reported_not_broken(backend, monkeypatch):
    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(lockfile_module.fcntl, "flock", no_flock)
    plant(backend)
    with pytest.raises(StateLockedError) as caught:
        backend.lock("apply")
    assert caught.value.stale is True and caught.value.holder.id == "planted-lock"
    assert backend.current_lock().id == "planted-lock"


@pytest.mark.parametrize("raw", [b"", b'{"id": "abc", "operat', b"\x00" * 40,
                                 b'{"id": 5, "pid": "x"}', b"[]"])
def test_an_unreadable_lock_file_is_shown_and_can_be_forced(backend, raw):
    plant(backend, raw=raw)
    holder = backend.current_lock()
    assert holder.id.startswith("unreadable-") and holder.extra["unreadable"]
    with pytest.raises(StateLockedError) as caught:
        backend.lock("apply")
    assert caught.value.holder.id == holder.id and holder.id in str(caught.value)

    assert backend.force_unlock(holder.id).id == holder.id
    backend.unlock(backend.lock("apply"))


def test_a_reader_racing_a_lock_writer_never_fails(backend):
    """Readers see a lock file while another writer is half-way through writing it."""
    payload = json.dumps(plant(backend).to_json()).encode()
    backend.lock_path.unlink()
    stop, problems, seen = threading.Event(), [], set()

    def writer():
        while not stop.is_set():
            fd = os.open(backend.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, payload[: len(payload) // 2])
            time.sleep(0.0005)
            os.write(fd, payload[len(payload) // 2 :])
            os.close(fd)
            os.unlink(backend.lock_path)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(3000):
            try:
                holder = backend.current_lock()
                seen.add("none" if holder is None else
                         "partial" if holder.extra.get("unreadable") else "whole")
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                problems.append(repr(exc))
    finally:
        stop.set()
        thread.join()
    assert problems == []
    assert "partial" in seen and "whole" in seen


def _racer(location: str, barrier, results, rounds: int) -> None:
    from polyctl.state import open_backend

    backend = open_backend(location)
    for _ in range(rounds):
        barrier.wait()
        try:
            mine = backend.lock("race", timeout=0)
            broken = backend.last_broken_lock
            results.put(("won", mine.id, broken.id if broken else None))
        except StateLockedError as exc:
            results.put(("lost", exc.holder.id, None))
        barrier.wait()


def test_processes_racing_for_one_stale_lock_never_both_win(backend):
    racers, rounds = 3, 80
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(racers + 1, timeout=30), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(str(backend.path), barrier, results, rounds))
             for _ in range(racers)]
    for proc in procs:
        proc.start()
    try:
        for n in range(rounds):
            plant(backend, id=f"stale-{n}")
            barrier.wait()  # all racers try at once
            outcomes = [results.get(timeout=30) for _ in range(racers)]
            winners = [o for o in outcomes if o[0] == "won"]
            assert len(winners) == 1, (n, outcomes)
            _, winner_id, broken_id = winners[0]
            assert broken_id == f"stale-{n}"
            assert all(o[1] == winner_id for o in outcomes if o[0] == "lost"), outcomes
            assert backend.current_lock().id == winner_id
            backend.lock_path.unlink()
            barrier.wait()
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    assert all(proc.exitcode == 0 for proc in procs)
