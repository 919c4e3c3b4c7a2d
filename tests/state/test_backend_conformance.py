"""What every StateBackend promises, run against each backend (see `backend_factory`).

Read, compare-and-swap write, lineage protection, locks between real processes
(contention, waiting, a holder killed with SIGKILL, force-unlock), the journal's
durability, and the emergency copy. Backend-specific details live in other files.
"""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import threading
import time

import pytest
from state_helpers import make_state

from polyctl.state import (
    LineageMismatchError,
    LockNotFoundError,
    SerialConflictError,
    StateBackend,
    StateLockedError,
    loads,
)
from polyctl.values import Digest, Secret


def test_backend_implements_the_protocol(backend):
    assert isinstance(backend, StateBackend)
    assert backend.description


# -- read and write --------------------------------------------------------------------

def test_read_of_nothing_is_none(backend):
    assert backend.read() is None


def test_write_then_read_round_trip_keeps_digests(backend_factory, backend):
    state = make_state(1, size=4)
    backend.write(state, expected_serial=None)

    again = backend_factory.open().read()  # a fresh instance sees the stored data
    assert again == state
    password = again.resources["connection.c00001"].configuration["auth"]["basic"]["password"]
    assert isinstance(password, Digest)
    assert password == Digest(f"sha256:{1:032x}{1:032x}")


def test_successive_writes_advance_the_serial(backend):
    backend.write(make_state(1), expected_serial=None)
    backend.write(make_state(2), expected_serial=1)
    backend.write(make_state(5), expected_serial=2)  # serials may jump, never go back
    assert backend.read() == make_state(5)


def test_stale_expected_serial_conflicts_and_changes_nothing(backend):
    backend.write(make_state(1), expected_serial=None)
    backend.write(make_state(2), expected_serial=1)

    with pytest.raises(SerialConflictError) as caught:
        backend.write(make_state(3, size=9), expected_serial=1)

    assert (caught.value.expected, caught.value.found) == (1, 2)
    assert "another run wrote the state" in str(caught.value)
    assert backend.read() == make_state(2)


def test_creating_over_an_existing_state_conflicts(backend):
    backend.write(make_state(1), expected_serial=None)
    with pytest.raises(SerialConflictError):
        backend.write(make_state(2), expected_serial=None)
    assert backend.read() == make_state(1)


def test_expecting_a_state_that_does_not_exist_conflicts(backend):
    with pytest.raises(SerialConflictError) as caught:
        backend.write(make_state(4), expected_serial=3)
    assert caught.value.found is None
    assert backend.read() is None


def test_a_different_lineage_is_never_written_over(backend):
    backend.write(make_state(3), expected_serial=None)
    other = make_state(4, lineage="11111111-2222-3333-4444-555555555555")

    with pytest.raises(LineageMismatchError) as caught:
        backend.write(other, expected_serial=3)

    assert caught.value.stored == make_state(3).lineage
    assert backend.read() == make_state(3)


def test_any_lineage_may_start_an_empty_store(backend):
    other = make_state(1, lineage="11111111-2222-3333-4444-555555555555")
    backend.write(other, expected_serial=None)
    assert backend.read() == other


def test_serial_must_move_forward(backend):
    backend.write(make_state(2), expected_serial=None)
    with pytest.raises(ValueError, match="must be greater"):
        backend.write(make_state(2), expected_serial=2)
    assert backend.read() == make_state(2)


def test_a_secret_never_reaches_storage(backend):
    state = make_state(1)
    resource = state.resources["connection.c00000"]
    leaky = type(resource)(**{**resource.__dict__, "configuration": {"token": Secret("s3cr3t")}})
    with pytest.raises(TypeError):
        backend.write(state.with_resources({"connection.c00000": leaky}), expected_serial=None)
    assert backend.read() is None


# -- locks between processes -----------------------------------------------------------

def test_current_lock_is_none_when_free(backend):
    assert backend.current_lock() is None


def test_live_holder_makes_another_process_fail_fast(backend_factory, backend, children):
    proc, held = children.hold_lock(backend_factory, "apply")

    started = time.monotonic()
    with pytest.raises(StateLockedError) as caught:
        backend.lock("plan", timeout=0)

    assert time.monotonic() - started < 1.0
    holder = caught.value.holder
    assert (holder.id, holder.pid, holder.operation) == (held.id, proc.pid, "apply")
    assert holder.who == held.who and holder.host == held.host
    assert held.id in str(caught.value) and str(proc.pid) in str(caught.value)
    assert backend.current_lock().id == held.id


def test_a_second_child_also_sees_the_holder(backend_factory, children):
    _, held = children.hold_lock(backend_factory, "apply")
    second = children.spawn("hold", backend_factory, "refresh", "0")
    message = json.loads(second.stdout.readline())
    assert message["locked_by"]["id"] == held.id


def test_waiting_gets_the_lock_once_the_holder_releases(backend_factory, backend, children):
    proc, held = children.hold_lock(backend_factory, "apply")
    waits = []

    def release_soon():
        time.sleep(0.6)
        proc.stdin.write("release\n")
        proc.stdin.flush()

    threading.Thread(target=release_soon, daemon=True).start()
    started = time.monotonic()
    mine = backend.lock("apply", timeout=10, on_wait=lambda h, t: waits.append((h, t)))

    assert 0.6 <= time.monotonic() - started < 5
    assert waits and all(h.id == held.id and h.pid == proc.pid for h, _ in waits)
    assert [t for _, t in waits] == sorted(t for _, t in waits)
    assert backend.last_broken_lock is None
    assert json.loads(proc.stdout.readline()) == {"released": held.id}
    assert backend.current_lock().id == mine.id
    backend.unlock(mine)
    assert backend.current_lock() is None


def test_waiting_gives_up_after_the_timeout(backend_factory, backend, children):
    _, held = children.hold_lock(backend_factory)
    started = time.monotonic()
    with pytest.raises(StateLockedError) as caught:
        backend.lock("apply", timeout=0.7, on_wait=lambda h, t: None)
    elapsed = time.monotonic() - started
    assert 0.7 <= elapsed < 2.5
    assert caught.value.waited >= 0.7
    assert caught.value.holder.id == held.id


def test_lock_of_a_killed_holder_is_taken_over(backend_factory, backend, children):
    proc, held = children.hold_lock(backend_factory, "apply")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    mine = backend.lock("apply", timeout=0)

    assert mine.id != held.id and backend.current_lock().id == mine.id
    if backend_factory.reports_broken_locks:
        broken = backend.last_broken_lock
        assert broken is not None and broken.id == held.id and broken.pid == proc.pid
        assert "no longer exists" in broken.extra["stale_reason"]


def test_force_unlock_needs_the_holders_id(backend_factory, backend, children):
    _, held = children.hold_lock(backend_factory, "apply")

    with pytest.raises(LockNotFoundError) as caught:
        backend.force_unlock("not-the-id")
    assert caught.value.holder.id == held.id and held.id in str(caught.value)
    assert backend.current_lock().id == held.id

    removed = backend.force_unlock(held.id)
    assert removed.id == held.id
    assert backend.current_lock() is None
    with pytest.raises(LockNotFoundError):
        backend.force_unlock(held.id)
    backend.unlock(backend.lock("plan"))


def test_unlock_releases_only_our_own_lock(backend_factory, backend, children):
    mine = backend.lock("apply")
    backend.force_unlock(mine.id)  # someone cleared it, and another run took it
    _, theirs = children.hold_lock(backend_factory, "apply")

    backend.unlock(mine)

    assert backend.current_lock().id == theirs.id
    backend.unlock(mine)  # idempotent


def test_lock_records_who_where_and_what(backend):
    mine = backend.lock("import")
    assert mine.operation == "import" and mine.pid == os.getpid()
    assert mine.host and mine.who and mine.created and mine.id
    assert backend.current_lock() == mine
    backend.unlock(mine)


# -- journal ---------------------------------------------------------------------------

def test_journal_append_read_clear(backend):
    assert backend.journal_read() == []
    backend.journal_append([{"op": "create", "address": "connection.a", "key": "k1"}])
    backend.journal_append([])
    backend.journal_append([{"op": "done", "n": 2, "config": {"p": Digest("sha256:ab")}},
                            {"op": "unicode", "name": "café ✓"}])

    assert backend.journal_read() == [
        {"op": "create", "address": "connection.a", "key": "k1"},
        {"op": "done", "n": 2, "config": {"p": Digest("sha256:ab")}},
        {"op": "unicode", "name": "café ✓"},
    ]
    backend.journal_clear()
    assert backend.journal_read() == []
    backend.journal_clear()  # idempotent
    backend.journal_append([{"op": "again"}])
    assert backend.journal_read() == [{"op": "again"}]


def test_journal_refuses_secrets_before_writing_anything(backend):
    with pytest.raises(TypeError):
        backend.journal_append([{"ok": 1}, {"token": Secret("s3cr3t")}])
    assert backend.journal_read() == []


def test_journal_entries_survive_a_reopen_and_another_process(backend_factory, children):
    backend_factory.open().journal_append([{"seq": 0}])
    writer = children.spawn("journal-loop", backend_factory)
    assert writer.stdout.readline().strip() == "ready"
    acknowledged = int(writer.stdout.readline())
    writer.kill()
    writer.wait()

    entries = backend_factory.open().journal_read()
    assert entries[0] == {"seq": 0}
    assert len(entries) >= acknowledged


def test_journal_killed_mid_append_keeps_every_acknowledged_entry(backend_factory, children):
    """SIGKILL a child appending in a loop, ten times: what is read back is always a
    gapless prefix that includes every batch whose append had returned."""
    for _ in range(10):
        writer = children.spawn("journal-loop", backend_factory)
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(random.uniform(0.02, 0.15))
        os.kill(writer.pid, signal.SIGKILL)
        acknowledged = [int(line) for line in writer.stdout.read().split()]
        writer.wait()

        entries = backend_factory.open().journal_read()
        assert [e["seq"] for e in entries] == list(range(len(entries)))
        if acknowledged:
            assert len(entries) >= acknowledged[-1]


# -- emergency copy --------------------------------------------------------------------

def test_emergency_copy_is_a_private_loadable_state(backend, emergency_dir):
    state = make_state(7, size=2)
    path = backend.write_emergency_copy(state, "disk full")

    assert path.parent == emergency_dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert loads(path.read_bytes()) == state
    assert json.loads(path.read_text())["polyctl_errored"]["reason"] == "disk full"
    second = backend.write_emergency_copy(state, "again")  # never clobbers the first
    assert second != path and loads(second.read_bytes()) == state
