"""The state lock between two real processes: fail fast naming the holder, wait with
--lock-timeout, a dead holder's lock cleared, and `force-unlock`."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from core_helpers import STATE_FILE, assert_clean, invoke, read_state, resource, write_state

from tests.conftest import base_env


@pytest.fixture
def state(project):
    write_state(project, {f"connection.{n}": resource(f"id-{n}", n) for n in ("a", "b")})
    return project


def test_a_second_writer_fails_fast_naming_the_holder(state, hold_lock):
    holder = hold_lock(state / STATE_FILE, "apply")
    before = (state / STATE_FILE).read_bytes()

    started = time.monotonic()
    result = invoke("state", "rm", "connection.a", cwd=state)
    elapsed = time.monotonic() - started

    assert result.code == 1
    assert elapsed < 2, elapsed
    assert result.stderr.startswith("Error: Error acquiring the state lock\n")
    assert "The state is locked by another run." in result.stderr
    assert f"  ID:        {holder.info.id}\n" in result.stderr
    assert f"  PID:       {holder.pid}\n" in result.stderr
    assert "  Operation: apply\n" in result.stderr
    assert f"  Who:       {holder.info.who}\n" in result.stderr
    assert f"polyctl force-unlock {holder.info.id}" in result.stderr
    assert (state / STATE_FILE).read_bytes() == before
    assert_clean(result)


@pytest.mark.parametrize("args", [
    ("state", "mv", "connection.a", "connection.c"),
    ("state", "push", "--force", "pushed.json"),
])
def test_every_state_write_takes_the_lock(state, hold_lock, args):
    (state / "pushed.json").write_bytes((state / STATE_FILE).read_bytes())
    hold_lock(state / STATE_FILE)

    result = invoke(*args, cwd=state)

    assert result.code == 1
    assert "Error acquiring the state lock" in result.stderr


def test_readers_do_not_need_the_lock(state, hold_lock):
    hold_lock(state / STATE_FILE)

    assert invoke("state", "list", cwd=state).code == 0
    assert invoke("show", cwd=state).code == 0
    assert invoke("plan", "--no-refresh", cwd=state).code == 0


def test_lock_timeout_waits_for_the_holder_and_then_succeeds(state, hold_lock):
    holder = hold_lock(state / STATE_FILE, "apply")
    waiter = subprocess.Popen(
        [sys.executable, "-m", "polyctl", "state", "rm", "--lock-timeout", "5s", "connection.a"],
        cwd=state, env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = waiter.stderr.readline()  # printed once it starts waiting
        assert first.startswith("Waiting for the state lock held by "), first
        assert f"(pid {holder.pid}, apply," in first

        holder.release()

        out, err = waiter.communicate(timeout=10)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()
    assert waiter.returncode == 0, err
    assert out == "Removed 1 resource from the state: connection.a\n"
    assert list(read_state(state).resources) == ["connection.b"]


def test_lock_timeout_gives_up_after_the_duration(state, hold_lock):
    holder = hold_lock(state / STATE_FILE)

    started = time.monotonic()
    result = invoke("state", "rm", "--lock-timeout", "500ms", "connection.a", cwd=state)
    elapsed = time.monotonic() - started

    assert result.code == 1
    assert 0.4 < elapsed < 3, elapsed
    assert "The state is locked by another run after waiting" in result.stderr
    assert f"  PID:       {holder.pid}\n" in result.stderr


def test_lock_timeout_from_the_project_file(state, hold_lock):
    (state / "polyctl.yaml").write_text("lock_timeout: 300ms\n")
    hold_lock(state / STATE_FILE)

    started = time.monotonic()
    result = invoke("state", "rm", "connection.a", cwd=state)

    assert result.code == 1
    assert time.monotonic() - started >= 0.25
    assert "after waiting" in result.stderr


@pytest.mark.parametrize("value", ["soon", "5 s", "-1s", "1d"])
def test_malformed_lock_timeout_is_an_error(state, value):
    result = invoke("state", "rm", "--lock-timeout", value, "connection.a", cwd=state)

    assert result.code == 1
    assert "Error: Invalid --lock-timeout" in result.stderr
    assert "is not a duration (expected e.g. 30s, 5m, 1h30m)" in result.stderr
    assert_clean(result)


def test_lock_of_a_dead_holder_is_cleared_with_a_warning(state, hold_lock):
    holder = hold_lock(state / STATE_FILE, "apply")
    holder.kill()
    assert (state / f"{STATE_FILE}.lock").exists()

    result = invoke("state", "rm", "connection.a", cwd=state)

    assert result.code == 0, result.output
    assert (f"Warning: cleared a stale state lock left by {holder.info.who} (pid {holder.pid}, "
            "apply,") in result.stderr
    assert "that process is no longer running." in result.stderr
    assert list(read_state(state).resources) == ["connection.b"]
    assert not (state / f"{STATE_FILE}.lock").exists()


# -- force-unlock --------------------------------------------------------------------------

def test_force_unlock_with_the_right_id(state, hold_lock):
    holder = hold_lock(state / STATE_FILE, "apply")

    result = invoke("force-unlock", "-f", holder.info.id, cwd=state)

    assert result.code == 0, result.output
    assert result.stdout == (f"polyctl state has been successfully unlocked! (lock "
                             f"{holder.info.id} held by {holder.info.who}, apply)\n")
    assert not (state / f"{STATE_FILE}.lock").exists()
    assert invoke("state", "rm", "connection.a", cwd=state).code == 0


def test_force_unlock_with_a_wrong_id_is_refused(state, hold_lock):
    holder = hold_lock(state / STATE_FILE)

    result = invoke("force-unlock", "-f", "not-the-id", cwd=state)

    assert result.code == 1
    assert f"has ID {holder.info.id}, not not-the-id; nothing was removed" in result.stderr
    assert (state / f"{STATE_FILE}.lock").exists()
    assert_clean(result)


def test_force_unlock_asks_first(state, hold_lock):
    holder = hold_lock(state / STATE_FILE)

    declined = invoke("force-unlock", holder.info.id, cwd=state, stdin="no\n")
    accepted = invoke("force-unlock", holder.info.id, cwd=state, stdin="yes\n")

    assert declined.code == 1
    assert f"  PID:       {holder.pid}" in declined.stdout
    assert "Do you really want to force-unlock?" in declined.stdout
    assert "force-unlock cancelled." in declined.stderr
    assert accepted.code == 0, accepted.output
    assert not (state / f"{STATE_FILE}.lock").exists()


def test_force_unlock_when_not_locked(state):
    result = invoke("force-unlock", "-f", "some-id", cwd=state)

    assert result.code == 1
    assert "is not locked; no lock with ID some-id to remove" in result.stderr


def test_a_force_unlocked_holder_does_not_remove_the_next_lock(state, hold_lock):
    first = hold_lock(state / STATE_FILE, "apply")
    invoke("force-unlock", "-f", first.info.id, cwd=state)
    second = hold_lock(state / STATE_FILE, "refresh")

    first.release()  # the first run finishes late: it must not drop the second's lock

    result = invoke("state", "rm", "connection.a", cwd=state)
    assert result.code == 1
    assert f"  ID:        {second.info.id}\n" in result.stderr
