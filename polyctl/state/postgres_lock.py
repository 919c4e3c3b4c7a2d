"""The lock of a PostgreSQL workspace: a session advisory lock plus a holder row.

The lock itself is `pg_try_advisory_lock(key)`, key = hash(schema, workspace), taken on
a connection opened for it and kept for the whole run. A session lock is released when
its session ends, however it ends: `unlock`, the process exiting or being SIGKILLed
(the server sees the socket close), the server restarting, or — for a holder whose
machine vanished — the TCP keepalives this session sets (about a minute). There is no
lease to renew and no lock that outlives its holder. Two workspaces have two keys and
never block each other.

The holder row in `locks` is the data a waiting user sees (`LockInfo`: id, who, host,
pid, operation, created; `extra.backend_pid` names the session). The row is written in
the transaction that takes the lock and deleted by `unlock`. A row is believed only
while its `backend_pid` holds the advisory lock (`pg_locks`); otherwise it is the
leftover of a holder that died, and the next `lock()` replaces it and reports it as
`last_broken_lock`.

`force_unlock(id)` ends a live holder's session with `pg_terminate_backend` (superuser,
the same role, or `pg_signal_backend` membership), so its later writes fail instead of
racing the new holder; a dead holder's row is just deleted.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

from polyctl.state import procinfo
from polyctl.state.backend import (
    LockError,
    LockInfo,
    LockNotFoundError,
    LockWaitHook,
    StateLockedError,
)
from polyctl.state.postgres_schema import PgLocation, advisory_key, connect

if TYPE_CHECKING:
    import psycopg

_FIRST_DELAY, _MAX_DELAY = 0.05, 1.0
# A holder killed on this host has a session that ends a moment later; a fail-fast
# attempt waits up to this long for it instead of reporting a lock that is going away.
_DEAD_HOLDER_GRACE = 5.0
_TERMINATE_WAIT = 10.0
# Server-side keepalives end the session of a holder whose machine vanished; no idle
# timeout may end a healthy holder's session between two API calls.
_LOCK_SESSION = {"synchronous_commit": "on", "idle_in_transaction_session_timeout": "0",
                 "tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10",
                 "tcp_keepalives_count": "3", "statement_timeout": "0"}

_INSPECT = """
SELECT (SELECT k.pid FROM pg_locks k
         WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 1
           AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND k.classid::bigint = %(hi)s AND k.objid::bigint = %(lo)s
         LIMIT 1) AS lock_pid,
       l.lock_id, l.operation, l.who, l.host, l.pid, l.created, l.polyctl_version, l.extra,
       l.backend_pid
FROM (SELECT 1) AS one LEFT JOIN {locks} AS l ON l.workspace = %(ws)s
"""


@dataclass(frozen=True)
class Holders:
    lock_pid: int | None  # the session holding the advisory lock
    live: LockInfo | None  # who holds it (synthetic when it has not recorded itself yet)
    stale: LockInfo | None  # a holder row whose session is gone


class PgLock:
    """Take, release, inspect and break the advisory lock of one workspace."""

    def __init__(self, location: PgLocation, workspace: str, description: str) -> None:
        self.location, self.workspace, self.description = location, workspace, description
        self.key = advisory_key("state", location.schema, workspace)
        self.held: LockInfo | None = None
        self.conn: "psycopg.Connection | None" = None  # the session that holds `held`

    # -- inspecting ------------------------------------------------------------------

    def inspect(self, conn: "psycopg.Connection") -> Holders:
        from psycopg import sql

        query = sql.SQL(_INSPECT).format(locks=self.location.table("locks"))
        row = conn.execute(query, {"hi": (self.key >> 32) & 0xFFFFFFFF,
                                   "lo": self.key & 0xFFFFFFFF, "ws": self.workspace}).fetchone()
        lock_pid, lock_id, operation, who, host, pid, created, version, extra, backend_pid = row
        recorded = None
        if lock_id is not None:
            recorded = LockInfo(id=lock_id, operation=operation, who=who, host=host, pid=pid,
                                created=created, version=version, path=self.description,
                                extra=_extra(extra, backend_pid))
        if lock_pid is None:
            return Holders(None, None, recorded)
        if recorded is not None and backend_pid == lock_pid:
            return Holders(lock_pid, recorded, None)
        return Holders(lock_pid, self._unrecorded(lock_pid), recorded)

    def _unrecorded(self, lock_pid: int) -> LockInfo:
        """A holder between taking the lock and committing its row (milliseconds), or a
        foreign session holding our key; `force-unlock` accepts this id."""
        return LockInfo(id=f"session-{lock_pid}", operation="unknown",
                        who=f"unknown (database session {lock_pid} has not recorded itself)",
                        host="", pid=0, created="", path=self.description,
                        extra={"backend_pid": lock_pid, "unrecorded": True})

    # -- taking and releasing --------------------------------------------------------

    def acquire(self, operation: str, *, timeout: float,
                on_wait: LockWaitHook | None) -> tuple[LockInfo, LockInfo | None]:
        """(our LockInfo, the dead holder's row we replaced or None); StateLockedError."""
        conn = connect(self.location, application_name=f"polyctl lock {self.workspace}",
                       settings=_LOCK_SESSION)
        base = LockInfo.create(operation, path=self.description)
        info = replace(base, extra={**procinfo.own_identity(),
                                    "backend_pid": conn.info.backend_pid})
        try:
            start, delay, grace_end = time.monotonic(), _FIRST_DELAY, None
            while True:
                taken, holder, broken = self._attempt(conn, info)
                if taken:
                    self.held, self.conn = info, conn
                    return info, broken
                elapsed = time.monotonic() - start
                gone = None
                if not holder.extra.get("unrecorded"):
                    gone = procinfo.holder_gone(holder.host, holder.pid, holder.extra)
                if gone is not None and grace_end is None:
                    grace_end = time.monotonic() + _DEAD_HOLDER_GRACE
                in_grace = gone is not None and time.monotonic() < grace_end
                if elapsed >= timeout and not in_grace:
                    raise StateLockedError(holder, stale=gone is not None,
                                           waited=elapsed if timeout > 0 else 0.0)
                if on_wait is not None and timeout > 0:
                    on_wait(holder, elapsed)
                pause = 0.02 if in_grace else delay * random.uniform(0.5, 1.0)
                time.sleep(max(0.0, min(pause, max(timeout - elapsed, 0.02))))
                delay = min(delay * 2, _MAX_DELAY)
        except BaseException:
            conn.close()  # ends the session, and with it any lock it took
            raise

    def _attempt(self, conn: "psycopg.Connection", info: LockInfo
                 ) -> tuple[bool, LockInfo | None, LockInfo | None]:
        from psycopg import sql

        table = self.location.table("locks")
        for attempt in range(10):
            with conn.transaction():
                if conn.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()[0]:
                    before = self.inspect(conn)
                    conn.execute(sql.SQL(
                        "INSERT INTO {} AS l (workspace, lock_id, operation, who, host, pid, "
                        "created, polyctl_version, extra, backend_pid) VALUES "
                        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, pg_backend_pid()) "
                        "ON CONFLICT (workspace) DO UPDATE SET lock_id = excluded.lock_id, "
                        "operation = excluded.operation, who = excluded.who, host = excluded.host, "
                        "pid = excluded.pid, created = excluded.created, "
                        "polyctl_version = excluded.polyctl_version, extra = excluded.extra, "
                        "backend_pid = excluded.backend_pid, taken_at = now()").format(table),
                        [self.workspace, info.id, info.operation, info.who, info.host, info.pid,
                         info.created, info.version, json.dumps(info.extra)])
                    return True, None, _broken(before.stale)
                holders = self.inspect(conn)
            if holders.live is not None and not (holders.live.extra.get("unrecorded")
                                                 and attempt < 9):
                return False, holders.live, None
            time.sleep(0.02)  # released or not yet recorded: look again
        return False, self._unrecorded(holders.lock_pid or 0), None

    def release(self, lock: LockInfo) -> bool:
        """Release `lock` if this process holds it; False when it does not (any more),
        or when its session was already gone (its row is then for the caller to clear)."""
        import psycopg

        if self.held is None or self.held.id != lock.id or self.conn is None:
            return False
        conn, self.held, self.conn = self.conn, None, None
        try:
            with conn.transaction():
                conn.execute(_delete_row(self.location),
                             [self.workspace, lock.id])
                conn.execute("SELECT pg_advisory_unlock(%s)", [self.key])
            return True
        except psycopg.Error:  # the session is gone: so is its advisory lock
            return False
        finally:
            conn.close()

    def force_release(self, lock_id: str, run: Callable[[Callable], Any]) -> LockInfo:
        """Break the lock with this id; `run(fn)` calls `fn(conn)` on a data session."""
        holders = run(self.inspect)
        target = holders.live or holders.stale
        if target is None:
            raise LockNotFoundError(
                f"{self.description} is not locked; no lock with ID {lock_id} to remove")
        if target.id != lock_id:
            raise LockNotFoundError(f"the lock on {self.description} has ID {target.id}, not "
                                    f"{lock_id}; nothing was removed", holder=target)
        if self.held is not None and self.held.id == lock_id:
            self.release(self.held)
        elif holders.live is not None:
            self._terminate(holders.lock_pid, run)
        run(lambda conn: conn.execute(_delete_row(self.location), [self.workspace, lock_id]))
        return target

    def _terminate(self, backend_pid: int, run: Callable[[Callable], Any]) -> None:
        import psycopg

        try:
            run(lambda conn: conn.execute("SELECT pg_terminate_backend(%s)", [backend_pid]))
        except psycopg.Error as exc:
            raise LockError(
                f"cannot end database session {backend_pid}, which holds the lock on "
                f"{self.description}: {self.location.scrub(str(exc).strip())}. Ending another "
                "session needs a superuser, the same role, or membership in pg_signal_backend; "
                "or stop that polyctl run") from None
        deadline = time.monotonic() + _TERMINATE_WAIT
        while run(self.inspect).lock_pid == backend_pid:
            if time.monotonic() > deadline:
                raise LockError(f"database session {backend_pid} was told to end but still "
                                f"holds the lock on {self.description}; try again")
            time.sleep(0.02)


def _delete_row(location: PgLocation):
    from psycopg import sql

    return sql.SQL("DELETE FROM {} WHERE workspace = %s AND lock_id = %s").format(
        location.table("locks"))


def _extra(raw: str | None, backend_pid: int | None) -> dict[str, Any]:
    try:
        extra = json.loads(raw or "{}")
    except ValueError:
        extra = {}
    extra = extra if isinstance(extra, dict) else {}
    extra.setdefault("backend_pid", backend_pid)
    return extra


def _broken(stale: LockInfo | None) -> LockInfo | None:
    if stale is None:
        return None
    reason = procinfo.holder_gone(stale.host, stale.pid, stale.extra)
    reason = reason or f"its database session {stale.extra.get('backend_pid')} ended"
    return replace(stale, extra={**stale.extra, "stale_reason": reason})
