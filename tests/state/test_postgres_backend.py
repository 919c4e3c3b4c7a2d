"""What only the PostgreSQL backend promises (the shared promises are in the
conformance suite): history and earlier versions, migrations, isolated workspaces,
compare-and-swap between racing writers, force-unlock of a live holder, sessions that
recover, and a URL password that never shows."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from pg_server import unique_workspace, with_params
from state_helpers import make_state

from polyctl.state import (
    CorruptStateError,
    LineageMismatchError,
    SerialConflictError,
    StateError,
    StateLockedError,
    StateWriteError,
    UnsupportedStateVersionError,
    open_backend,
)
from polyctl.state.postgres_schema import SCHEMA_VERSION

pytestmark = pytest.mark.postgres
SCHEMA = "polyctl_pgtests"
OTHER_LINEAGE = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def url(pg_url) -> str:
    return with_params(pg_url, schema=SCHEMA)


@pytest.fixture
def workspace() -> str:
    return unique_workspace("pg")


@pytest.fixture
def backend(url, workspace):
    b = open_backend(url, workspace=workspace)
    yield b
    b.close()


def sql(pg_url: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


# -- history ---------------------------------------------------------------------------

def test_every_version_written_is_in_the_history(backend):
    for serial in (1, 2, 5):
        backend.write(make_state(serial, size=serial), expected_serial=None if serial == 1
                      else {2: 1, 5: 2}[serial])

    history = backend.history()
    assert [(v["serial"], v["resources"], v["operation"]) for v in history] == [
        (1, 1, "write"), (2, 2, "write"), (5, 5, "write")]
    assert {v["lineage"] for v in history} == {make_state(1).lineage}
    assert all(v["who"] and v["host"] and v["pid"] and v["when"].endswith("Z") for v in history)
    assert backend.read_version(2) == make_state(2, size=2)
    assert backend.read_version(3) is None
    assert backend.read() == make_state(5, size=5)


def test_history_records_the_operation_of_the_lock_holder(backend):
    lock = backend.lock("state rm")
    backend.write(make_state(1), expected_serial=None)
    backend.unlock(lock)
    assert backend.history()[0]["operation"] == "state rm"


def test_a_refused_write_leaves_no_history(backend):
    backend.write(make_state(1), expected_serial=None)
    with pytest.raises(SerialConflictError):
        backend.write(make_state(3), expected_serial=2)
    with pytest.raises(LineageMismatchError):
        backend.write(make_state(2, lineage=OTHER_LINEAGE), expected_serial=1)
    assert [v["serial"] for v in backend.history()] == [1]


def test_an_earlier_version_restored_becomes_a_new_serial(backend):
    backend.write(make_state(1, size=2), expected_serial=None)
    backend.write(make_state(2, size=7), expected_serial=1)

    old = backend.read_version(1)
    backend.write(old.next().next(), expected_serial=2)  # serial 3, content of serial 1

    assert backend.read().resources == make_state(1, size=2).resources
    assert [v["serial"] for v in backend.history()] == [1, 2, 3]
    assert backend.read_version(2) == make_state(2, size=7)  # nothing was lost


# -- tables and migrations -------------------------------------------------------------

def test_tables_are_created_on_first_use_and_versioned(pg_url):
    schema = f"m_{unique_workspace('x').replace('-', '_')}"
    backend = open_backend(with_params(pg_url, schema=schema))
    assert sql(pg_url, "SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]) == []

    assert backend.read() is None

    tables = {r[0] for r in sql(pg_url, "SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = %s", [schema])}
    assert tables == {"schema_migrations", "states", "state_history", "locks", "journal"}
    versions = sql(pg_url, f'SELECT version FROM "{schema}".schema_migrations')
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    open_backend(with_params(pg_url, schema=schema)).read()  # a second user migrates nothing
    assert len(sql(pg_url, f'SELECT version FROM "{schema}".schema_migrations')) == SCHEMA_VERSION
    backend.close()


def test_concurrent_first_users_migrate_once(pg_url):
    schema = f"m_{unique_workspace('c').replace('-', '_')}"
    errors = []

    def first_use(i):
        try:
            open_backend(with_params(pg_url, schema=schema), workspace=f"w{i}").read()
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(sql(pg_url, f'SELECT version FROM "{schema}".schema_migrations')) == SCHEMA_VERSION


def test_tables_of_a_newer_polyctl_are_refused_untouched(pg_url):
    schema = f"m_{unique_workspace('n').replace('-', '_')}"
    open_backend(with_params(pg_url, schema=schema)).read()
    sql(pg_url, f"INSERT INTO \"{schema}\".schema_migrations (version, description) "
                f"VALUES ({SCHEMA_VERSION + 1}, 'from the future')")

    with pytest.raises(UnsupportedStateVersionError, match="newer polyctl"):
        open_backend(with_params(pg_url, schema=schema)).read()


def test_a_corrupt_or_newer_stored_state_is_never_overwritten(pg_url, backend, workspace):
    backend.write(make_state(1), expected_serial=None)
    sql(pg_url, f"UPDATE {SCHEMA}.states SET state = '{{\"format_version\": 1' "
                "WHERE workspace = %s", [workspace])
    with pytest.raises(CorruptStateError, match="state history"):
        backend.read()
    with pytest.raises(CorruptStateError):
        backend.write(make_state(2), expected_serial=1)

    newer = json.dumps({**make_state(1).to_json(), "format_version": 99})
    sql(pg_url, f"UPDATE {SCHEMA}.states SET state = %s WHERE workspace = %s",
        [newer, workspace])
    with pytest.raises(UnsupportedStateVersionError):
        backend.write(make_state(2), expected_serial=1)
    assert sql(pg_url, f"SELECT state FROM {SCHEMA}.states WHERE workspace = %s",
               [workspace]) == [(newer,)]


# -- workspaces ------------------------------------------------------------------------

def test_workspaces_are_isolated(url):
    staging = open_backend(url, workspace=unique_workspace("staging"))
    production = open_backend(url, workspace=unique_workspace("production"))
    staging.write(make_state(4, lineage=OTHER_LINEAGE), expected_serial=None)
    production.write(make_state(1), expected_serial=None)
    staging.journal_append([{"type": "begin", "serial": 4}])

    assert staging.read().lineage == OTHER_LINEAGE and production.read().lineage != OTHER_LINEAGE
    assert production.journal_read() == [] and len(staging.journal_read()) == 1
    assert [v["serial"] for v in production.history()] == [1]
    assert production.read_version(4) is None


def test_two_workspaces_lock_independently(url, children):
    busy, free = unique_workspace("busy"), unique_workspace("free")
    children.hold_lock((url, busy), "apply")

    mine = open_backend(url, workspace=free).lock("apply", timeout=0)
    with pytest.raises(StateLockedError):
        open_backend(url, workspace=busy).lock("apply", timeout=0)
    open_backend(url, workspace=free).unlock(mine)


# -- compare-and-swap between writers -------------------------------------------------

def test_racing_writers_with_the_same_serial_one_wins(url, workspace):
    open_backend(url, workspace=workspace).write(make_state(1), expected_serial=None)
    writers = [open_backend(url, workspace=workspace) for _ in range(8)]
    for w in writers:
        w.read()  # connected and migrated: the race is the write alone
    start, outcomes = threading.Barrier(len(writers)), []

    def write(i, w):
        start.wait()
        try:
            w.write(make_state(2, size=i + 1), expected_serial=1)
            outcomes.append(("won", i))
        except SerialConflictError as exc:
            outcomes.append(("lost", exc.found))

    threads = [threading.Thread(target=write, args=(i, w)) for i, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    winners = [i for kind, i in outcomes if kind == "won"]
    assert len(winners) == 1
    assert [o for o in outcomes if o[0] == "lost"] == [("lost", 2)] * 7  # each saw the winner
    assert writers[0].read() == make_state(2, size=winners[0] + 1)
    assert [v["serial"] for v in writers[0].history()] == [1, 2]


def test_racing_first_writers_one_wins(url, workspace):
    writers = [open_backend(url, workspace=workspace) for _ in range(4)]
    for w in writers:
        w.read()
    start, conflicts = threading.Barrier(len(writers)), []

    def write(w):
        start.wait()
        try:
            w.write(make_state(1), expected_serial=None)
        except SerialConflictError as exc:
            conflicts.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(conflicts) == 3 and all(c.found == 1 and c.expected is None for c in conflicts)


# -- locks -----------------------------------------------------------------------------

def test_force_unlock_of_a_live_holder_ends_its_session(url, workspace):
    holder = open_backend(url, workspace=workspace)
    holder.write(make_state(1), expected_serial=None)
    held = holder.lock("apply")

    removed = open_backend(url, workspace=workspace).force_unlock(held.id)

    assert removed.id == held.id
    # The holder cannot write any more, so it cannot race whoever takes the lock next.
    with pytest.raises(StateWriteError, match="holding this run's state lock has ended"):
        holder.write(make_state(2), expected_serial=1)
    with pytest.raises(StateWriteError):
        holder.journal_append([{"type": "done"}])
    other = open_backend(url, workspace=workspace)
    taken = other.lock("apply", timeout=0)
    holder.unlock(held)  # its finally-block unlock must not release the new holder
    assert other.current_lock().id == taken.id
    assert other.read() == make_state(1)
    other.unlock(taken)


def test_an_unrecorded_holder_is_shown_and_can_be_forced(pg_url, url, workspace):
    """A session holding the key without a holder row (e.g. an older polyctl or a
    hand-taken lock) is reported with a `session-<pid>` id that force-unlock accepts."""
    backend = open_backend(url, workspace=workspace)
    key = backend._lock.key
    rogue = psycopg.connect(pg_url, autocommit=True)
    try:
        rogue.execute("SELECT pg_advisory_lock(%s)", [key])
        with pytest.raises(StateLockedError) as caught:
            backend.lock("apply")
        holder = caught.value.holder
        assert holder.id == f"session-{rogue.info.backend_pid}"
        backend.force_unlock(holder.id)
        assert backend.current_lock() is None
        backend.unlock(backend.lock("apply"))
    finally:
        rogue.close()


# -- sessions --------------------------------------------------------------------------

def test_a_dropped_idle_session_is_replaced_for_reads(pg_url, backend):
    backend.write(make_state(1), expected_serial=None)
    pid = backend._data.info.backend_pid
    sql(pg_url, "SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.1)
    assert backend.read() == make_state(1)
    assert backend._data.info.backend_pid != pid


def test_commits_are_synchronous_whatever_the_server_default(pg_url, url):
    database = pg_url.rsplit("/", 1)[1].split("?")[0]
    sql(pg_url, f'ALTER DATABASE "{database}" SET synchronous_commit = off')
    try:
        backend = open_backend(url, workspace=unique_workspace())
        backend.read()
        setting = backend._data.execute("SHOW synchronous_commit").fetchone()[0]
        lock = backend.lock("apply")
        lock_setting = backend._lock.conn.execute("SHOW synchronous_commit").fetchone()[0]
        backend.unlock(lock)
    finally:
        sql(pg_url, f'ALTER DATABASE "{database}" RESET synchronous_commit')
    assert (setting, lock_setting) == ("on", "on")


# -- the URL's password ---------------------------------------------------------------

PASSWORD = "hunter2-Zq9"


def test_the_password_never_appears_in_descriptions_or_errors(pg_url):
    unreachable = f"postgresql://polyctl:{PASSWORD}@127.0.0.1:1/db?connect_timeout=2"
    backend = open_backend(unreachable, workspace="staging")
    assert PASSWORD not in backend.description and PASSWORD not in repr(backend)
    assert "polyctl:***@" in backend.description
    with pytest.raises(StateError) as caught:
        backend.read()
    assert PASSWORD not in str(caught.value) and "cannot connect" in str(caught.value)
    assert caught.value.__suppress_context__  # the driver's exception is not chained

    in_query = open_backend(f"postgresql://127.0.0.1:1/db?password={PASSWORD}&connect_timeout=2")
    assert PASSWORD not in in_query.description
    with pytest.raises(StateError) as caught:
        in_query.lock("apply")
    assert PASSWORD not in str(caught.value)


def test_the_password_is_masked_in_lock_messages(pg_url, workspace, children):
    scheme, rest = with_params(pg_url, schema=SCHEMA).split("://", 1)
    secret_url = f"{scheme}://postgres:{PASSWORD}@{rest.split('@', 1)[-1]}"  # trust auth
    children.hold_lock((secret_url, workspace), "apply")
    with pytest.raises(StateLockedError) as caught:
        open_backend(secret_url, workspace=workspace).lock("plan")
    assert PASSWORD not in str(caught.value) and "***" in str(caught.value)
    assert PASSWORD not in json.dumps(caught.value.holder.to_json())


def test_driver_messages_are_scrubbed():
    from polyctl.state.postgres_schema import PgLocation

    location = PgLocation.parse(f"postgresql://u:{PASSWORD}%2F@db/x")
    assert location.password == PASSWORD + "/"
    assert PASSWORD not in location.scrub(f"failed for password {PASSWORD}/ or {PASSWORD}%2F")
    assert PASSWORD not in repr(location)
