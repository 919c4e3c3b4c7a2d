"""SQLite plumbing of the sandbox: schema, pragmas, one writer and a pool of readers.

Why this shape: the HTTP server runs one thread per client connection, and threads come
and go with keep-alive connections, so per-thread SQLite connections would leak. Instead
there is exactly one writer connection, serialised by a lock and `BEGIN IMMEDIATE` (the
latter also serialises against another process using the same file, e.g. `polyctl
sandbox` next to `polyctl --sandbox`), and a small pool of reader connections that WAL
lets read a committed snapshot while a write is in progress.

Tables: `meta` (generated keys, default org), `organizations`, `api_keys`,
`connections` (raw configuration with secrets plus the pre-rendered, masked list item
so the list endpoint only concatenates strings), `resources` (models, syncs, bulk syncs
as JSON bodies), `links` (what depends on which connection or model) and `idempotency`.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS organizations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    key TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    email TEXT NOT NULL,
    origin TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS connections (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL,
    type_id TEXT NOT NULL,
    configuration TEXT NOT NULL,
    healthcheck_interval TEXT NOT NULL,
    item TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS connections_by_org ON connections (organization_id, seq);
CREATE TABLE IF NOT EXISTS resources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_by_org ON resources (organization_id, kind, seq);
CREATE TABLE IF NOT EXISTS links (
    parent_id TEXT NOT NULL,
    child_id TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (parent_id, child_id, role)
);
CREATE INDEX IF NOT EXISTS links_by_child ON links (child_id);
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
"""

BUSY_TIMEOUT_MS = 10_000


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so readers never sit in an
    # implicit transaction that would pin an old WAL snapshot.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = OFF")
    return conn


class Database:
    """The sandbox's SQLite file: `write()` and `read()` hand out connections safely."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _connect(self.path)
        self._writer.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable across process crashes in WAL mode (only an OS crash can
        # lose the last transactions), which is what a local stand-in needs.
        self._writer.execute("PRAGMA synchronous = NORMAL")
        self._writer.executescript(SCHEMA)
        self._write_lock = threading.Lock()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all_readers: list[sqlite3.Connection] = []
        self._closed = False

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One serialised transaction: committed on success, rolled back on any error."""
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A reader connection from the pool (opened on demand, reused afterwards)."""
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = _connect(self.path)
            conn.execute("PRAGMA query_only = ON")
            self._all_readers.append(conn)
        try:
            yield conn
        finally:
            if not self._closed:
                self._readers.put(conn)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        with self._write_lock:
            for conn in [self._writer, *self._all_readers]:
                try:
                    conn.close()
                except sqlite3.Error:  # a handler thread may still hold it; it is dying
                    pass
