"""`PostgresStateBackend`: each workspace's state in a PostgreSQL database, for teams.

Selected by a `postgresql://` (or `postgres://`) URL in `--state`, `POLYCTL_STATE` or
`state:` in `polyctl.yaml`; `--workspace` picks one of several states (staging,
production) in one database, each with its own lineage. Tables and migrations:
`postgres_schema`; the lock: `postgres_lock`.

Guarantees, beyond those of Terraform's `pg` backend:

- `write` is a compare-and-swap on lineage and serial inside one transaction (the
  current row is read `FOR UPDATE`): a stale writer gets `SerialConflictError` and
  overwrites nothing. Every version written is also kept in `state_history` (who, host,
  pid, operation, when), so `read_version(serial)` and `history()` can show and
  restore any earlier one.
- While this process holds the lock, every read and write goes through the session
  that holds it: a run whose lock was force-unlocked (its session terminated) can no
  longer write anything, instead of racing the new holder.
- `journal_append` returns once its transaction has committed, with
  `synchronous_commit = on` whatever the server's default, so a finished apply
  operation is durable before it is reported; a killed writer's transaction is rolled
  back whole, so the journal is always a prefix of what was appended.
- Nothing secret is stored (state and journal hold digests; `Secret` is refused), and
  the URL's password never appears in `description`, `repr` or an error message.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from polyctl.state import files
from polyctl.state.backend import (
    LockError,
    LockInfo,
    LockWaitHook,
    SerialConflictError,
    StateWriteError,
    check_next_serial,
    check_workspace,
    check_write,
    decode_entry,
    encode_entry,
)
from polyctl.state.model import (
    CorruptStateError,
    State,
    StateError,
    UnsupportedStateVersionError,
    dumps,
    loads,
)
from polyctl.state.postgres_lock import PgLock
from polyctl.state.postgres_schema import DEFAULT_SCHEMA, PgLocation, connect, driver, migrate

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")


class PostgresStateBackend:
    """`StateBackend` over PostgreSQL. A `?schema=NAME` in `url` wins over `schema`
    (so one setting, e.g. POLYCTL_STATE, says everything). Nothing connects until the
    first call; the tables are created or migrated then."""

    def __init__(self, url: str, *, workspace: str = "default",
                 schema: str = DEFAULT_SCHEMA) -> None:
        self.location = PgLocation.parse(url, schema=schema)
        check_workspace(workspace)  # the same names as the file backend
        self.workspace, self.schema = workspace, self.location.schema
        self.description = f"{self.location.display} (workspace {workspace})"
        self.last_broken_lock: LockInfo | None = None
        self._lock = PgLock(self.location, workspace, self.description)
        self._data: "psycopg.Connection | None" = None
        # The engine appends to the journal from worker threads; one transaction at a time.
        self._mutex = threading.RLock()
        self._writer: LockInfo | None = None

    def __repr__(self) -> str:
        return f"PostgresStateBackend({self.location.display!r}, workspace={self.workspace!r})"

    # -- sessions --------------------------------------------------------------------

    def _data_session(self) -> "psycopg.Connection":
        if self._data is None or self._data.closed:
            conn = connect(self.location, application_name="polyctl",
                           settings={"synchronous_commit": "on"})
            try:
                migrate(conn, self.location)
            except driver().Error as exc:
                conn.close()
                raise StateError(self._failure("prepare the state tables in", exc)) from None
            except BaseException:
                conn.close()
                raise
            self._data = conn
        return self._data

    def _transact(self, work: Callable[["psycopg.Connection"], T], *, retry: bool = False) -> T:
        """`work(conn)` in one transaction, on the lock's session while we hold the lock.

        `retry`: once more on a fresh data session if the idle one had died (reads only:
        a write whose commit failed may have happened)."""
        with self._mutex:
            conn = self._lock.conn if self._lock.conn is not None else self._data_session()
            try:
                with conn.transaction():
                    return work(conn)
            except driver().OperationalError:
                if not (retry and conn is self._data and conn.broken):
                    raise
            conn.close()
            self._data = None
            with self._data_session().transaction():
                return work(self._data)

    def _failure(self, doing: str, exc: Exception) -> str:
        message = self.location.scrub(str(exc).strip()) or type(exc).__name__
        lock_conn = self._lock.conn
        if lock_conn is not None and (lock_conn.closed or lock_conn.broken):
            message += (" (the database session holding this run's state lock has ended: "
                        "force-unlocked, or the server restarted)")
        return f"cannot {doing} {self.description}: {message}"

    def close(self) -> None:
        """Release a lock still held and close the sessions (process exit does too)."""
        with self._mutex:
            if self._lock.held is not None:
                self.unlock(self._lock.held)
            if self._data is not None:
                self._data.close()
                self._data = None

    # -- state -----------------------------------------------------------------------

    def read(self) -> State | None:
        raw = self._query_one("SELECT state FROM {states} WHERE workspace = %s",
                              [self.workspace], "read the state from")
        return None if raw is None else self._parse(raw[0], self.description)

    def _parse(self, raw: str, source: str) -> State:
        hint = "; polyctl will neither use nor overwrite it"
        try:
            return loads(raw, source=source)
        except UnsupportedStateVersionError as exc:
            raise UnsupportedStateVersionError(f"{exc}{hint}", path=self.description,
                                               found_version=exc.found_version) from None
        except CorruptStateError as exc:
            raise CorruptStateError(f"{exc}{hint} (earlier versions: polyctl state history)",
                                    path=self.description) from None

    def write(self, state: State, *, expected_serial: int | None) -> None:
        check_next_serial(state, expected_serial)
        payload = dumps(state)  # a Secret raises TypeError here: a bug, not a storage problem
        writer = self._lock.held or self._who()
        committing = False

        def swap(conn: "psycopg.Connection") -> None:
            nonlocal committing
            row = conn.execute(self._sql("SELECT state FROM {states} WHERE workspace = %s "
                                         "FOR UPDATE"), [self.workspace]).fetchone()
            # unreadable: _parse refuses, and nothing is replaced
            current = None if row is None else self._parse(row[0], self.description)
            check_write(current, state, expected_serial, location=self.description)
            if current is None:
                inserted = conn.execute(self._sql(
                    "INSERT INTO {states} (workspace, lineage, serial, state) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (workspace) DO NOTHING"),
                    [self.workspace, state.lineage, state.serial, payload.decode()]).rowcount
                if not inserted:  # another first writer committed while we inserted
                    found = conn.execute(self._sql("SELECT serial FROM {states} "
                                                   "WHERE workspace = %s"), [self.workspace])
                    raise SerialConflictError(None, (found.fetchone() or [None])[0])
            else:
                conn.execute(self._sql(
                    "UPDATE {states} SET lineage = %s, serial = %s, state = %s, "
                    "written_at = now() WHERE workspace = %s"),
                    [state.lineage, state.serial, payload.decode(), self.workspace])
            conn.execute(self._sql(
                "INSERT INTO {state_history} (workspace, lineage, serial, who, host, pid, "
                "operation, polyctl_version, resources, state) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"),
                [self.workspace, state.lineage, state.serial, writer.who, writer.host,
                 os.getpid(), writer.operation, writer.version, len(state.resources),
                 payload.decode()])
            committing = True

        try:
            self._transact(swap)
        except driver().Error as exc:
            outcome = ("the connection failed while committing: the new state may or may not "
                       "be stored" if committing else "the stored state was left unchanged")
            raise StateWriteError(f"{self._failure('write the state to', exc)}; {outcome}",
                                  state=state, payload=payload, path=self.description) from None

    def _who(self) -> LockInfo:
        if self._writer is None:
            self._writer = LockInfo.create("write", path=self.description)
        return self._writer

    def read_version(self, serial: int) -> State | None:
        """The version with this serial from the history (the current lineage's first)."""
        raw = self._query_one(
            "SELECT h.state FROM {state_history} AS h LEFT JOIN {states} AS s "
            "ON s.workspace = h.workspace WHERE h.workspace = %s AND h.serial = %s "
            "ORDER BY (h.lineage = s.lineage) DESC NULLS LAST, h.written_at DESC LIMIT 1",
            [self.workspace, serial], "read the state history from")
        return None if raw is None else self._parse(raw[0], f"{self.description}, serial {serial}")

    def history(self) -> list[dict[str, Any]]:
        """Every version written, oldest first: serial, lineage, who, host, pid,
        operation, when (UTC ISO 8601), resources, polyctl_version."""
        rows = self._query(
            "SELECT serial, lineage, who, host, pid, operation, written_at, resources, "
            "polyctl_version FROM {state_history} WHERE workspace = %s "
            "ORDER BY written_at, serial", [self.workspace], "read the state history from")
        return [{"serial": serial, "lineage": lineage, "who": who, "host": host, "pid": pid,
                 "operation": operation,
                 "when": when.astimezone(timezone.utc).isoformat(timespec="seconds")
                             .replace("+00:00", "Z"),
                 "resources": resources, "polyctl_version": version}
                for serial, lineage, who, host, pid, operation, when, resources, version in rows]

    def write_emergency_copy(self, state: State, reason: str) -> Path:
        return files.write_emergency_copy(state, reason, source=self.description)

    # -- queries ---------------------------------------------------------------------

    def _sql(self, text: str):
        from psycopg import sql

        return sql.SQL(text).format(**{name: self.location.table(name) for name in (
            "states", "state_history", "journal", "locks") if "{" + name + "}" in text})

    def _query(self, text: str, params: list[Any], doing: str) -> list[tuple]:
        try:
            return self._transact(lambda c: c.execute(self._sql(text), params).fetchall(),
                                  retry=True)
        except driver().Error as exc:
            raise StateError(self._failure(doing, exc)) from None

    def _query_one(self, text: str, params: list[Any], doing: str) -> tuple | None:
        rows = self._query(text, params, doing)
        return rows[0] if rows else None

    # -- lock ------------------------------------------------------------------------

    def lock(self, operation: str, *, timeout: float = 0.0,
             on_wait: LockWaitHook | None = None) -> LockInfo:
        self.last_broken_lock = None
        with self._mutex:
            self._data_session()  # the tables exist before the lock session reads them
        try:
            info, broken = self._lock.acquire(operation, timeout=timeout, on_wait=on_wait)
        except driver().Error as exc:
            raise LockError(self._failure("take the state lock on", exc)) from None
        self.last_broken_lock = broken
        return info

    def unlock(self, lock: LockInfo) -> None:
        with self._mutex:
            if self._lock.release(lock):
                return
        # Not ours any more, or our session died: only a row with our own id is removed.
        try:
            self._transact(lambda c: c.execute(self._sql(
                "DELETE FROM {locks} WHERE workspace = %s AND lock_id = %s"),
                [self.workspace, lock.id]))
        except (StateError, driver().Error):
            pass  # best effort, called in `finally`: never hide the error being raised

    def force_unlock(self, lock_id: str) -> LockInfo:
        try:
            return self._lock.force_release(lock_id, self._transact)
        except driver().Error as exc:
            raise LockError(self._failure("force-unlock", exc)) from None

    def current_lock(self) -> LockInfo | None:
        try:
            for _ in range(25):  # a holder commits its row just after taking the lock
                holder = self._transact(self._lock.inspect, retry=True).live
                if holder is None or not holder.extra.get("unrecorded"):
                    return holder
                time.sleep(0.02)
            return holder
        except driver().Error as exc:
            raise LockError(self._failure("read the state lock of", exc)) from None

    # -- journal ---------------------------------------------------------------------

    def journal_append(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        lines = [encode_entry(e) for e in entries]  # all (refusing secrets) before writing

        def append(conn: "psycopg.Connection") -> None:
            with conn.cursor() as cur:
                cur.executemany(self._sql("INSERT INTO {journal} (workspace, entry) "
                                          "VALUES (%s, %s)"),
                                [(self.workspace, line) for line in lines])

        try:
            self._transact(append)
        except driver().Error as exc:
            raise StateWriteError(self._failure("append to the journal in", exc),
                                  path=self.description) from None

    def journal_read(self) -> list[dict[str, Any]]:
        rows = self._query("SELECT seq, entry FROM {journal} WHERE workspace = %s ORDER BY seq",
                           [self.workspace], "read the journal from")
        entries = []
        for seq, line in rows:
            try:
                entries.append(decode_entry(line))
            except ValueError as exc:
                raise CorruptStateError(f"{self.description}, journal entry {seq}: not a JSON "
                                        f"object ({exc})", path=self.description) from None
        return entries

    def journal_clear(self) -> None:
        try:
            self._transact(lambda c: c.execute(self._sql(
                "DELETE FROM {journal} WHERE workspace = %s"), [self.workspace]))
        except driver().Error as exc:
            raise StateWriteError(self._failure("clear the journal in", exc),
                                  path=self.description) from None
