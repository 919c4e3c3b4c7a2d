"""Where PostgreSQL state lives: the URL (password masked), the connection, the tables,
and the numbered migrations that create and evolve them.

The location is a libpq URL plus one parameter of polyctl's own:

    postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?schema=NAME][&<libpq parameters>]

`schema` (default `polyctl`) is removed before libpq sees the URL; every other
parameter (`sslmode`, `host=/socket/dir`, …) is libpq's. A password may also come
from `PGPASSWORD` or `~/.pgpass`, which keeps it out of `polyctl.yaml`; when it is in
the URL it never appears in a message (`PgLocation.display`, `PgLocation.scrub`).

Tables, all in the schema (created on first use):

    schema_migrations  version PK, description, applied_at       what has been applied
    states             workspace PK, lineage, serial, state, written_at
                       the current state of each workspace (JSON text, as `dumps` writes it)
    state_history      (workspace, lineage, serial) PK, who, host, pid, operation,
                       polyctl_version, resources, written_at, state
                       every version ever written, the current one included
    locks              workspace PK, lock_id, operation, who, host, pid, created,
                       polyctl_version, extra, backend_pid, taken_at
                       who holds the workspace's advisory lock (see `postgres_lock`)
    journal            (workspace, seq) PK, entry, written_at    the apply journal

States are stored as text, not jsonb: text keeps the document exactly as written and
accepts every string the JSON may hold (jsonb refuses `\\u0000`); `state::jsonb` still
works for ad-hoc queries. Migrations run in one transaction, serialised between
concurrent first users by a transaction-level advisory lock; a schema migrated by a
newer polyctl is refused, never touched.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, quote, unquote, urlsplit

from polyctl.state.model import StateError, UnsupportedStateVersionError

if TYPE_CHECKING:
    import psycopg

DEFAULT_SCHEMA = "polyctl"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_MASK = "***"

# version → (description, statements); `{s}` is the quoted schema. Append, never edit.
MIGRATIONS: dict[int, tuple[str, list[str]]] = {
    1: ("states, history, locks and the apply journal", [
        """CREATE TABLE {s}.states (
            workspace text PRIMARY KEY,
            lineage text NOT NULL,
            serial bigint NOT NULL CHECK (serial >= 0),
            state text NOT NULL,
            written_at timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE {s}.state_history (
            workspace text NOT NULL,
            lineage text NOT NULL,
            serial bigint NOT NULL,
            who text NOT NULL,
            host text NOT NULL,
            pid integer NOT NULL,
            operation text NOT NULL,
            polyctl_version text NOT NULL,
            resources integer NOT NULL,
            written_at timestamptz NOT NULL DEFAULT now(),
            state text NOT NULL,
            PRIMARY KEY (workspace, lineage, serial))""",
        """CREATE TABLE {s}.locks (
            workspace text PRIMARY KEY,
            lock_id text NOT NULL,
            operation text NOT NULL,
            who text NOT NULL,
            host text NOT NULL,
            pid integer NOT NULL,
            created text NOT NULL,
            polyctl_version text NOT NULL,
            extra text NOT NULL,
            backend_pid integer NOT NULL,
            taken_at timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE {s}.journal (
            workspace text NOT NULL,
            seq bigint GENERATED ALWAYS AS IDENTITY,
            entry text NOT NULL,
            written_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (workspace, seq))""",
    ]),
}
SCHEMA_VERSION = max(MIGRATIONS)


def advisory_key(*parts: str) -> int:
    """A stable signed 64-bit key for `pg_advisory_lock` (namespaced by "polyctl")."""
    digest = hashlib.sha256("\0".join(("polyctl", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class PgLocation:
    """A parsed state URL: what libpq gets, the schema, and a display form."""

    conninfo: str = field(repr=False)  # the URL without `schema`, for libpq
    schema: str
    display: str  # the URL with its password masked
    password: str | None = field(repr=False)

    @classmethod
    def parse(cls, url: str, *, schema: str = DEFAULT_SCHEMA) -> "PgLocation":
        parts = urlsplit(url)
        # The query is split by hand, not with parse_qsl: libpq reads `+` literally,
        # and every parameter but `schema` must reach it byte for byte.
        items = [item for item in parts.query.split("&") if item]
        pairs = [(unquote(k), unquote(v)) for k, _, v in (i.partition("=") for i in items)]
        schema = next((v for k, v in reversed(pairs) if k == "schema"), schema)
        if not _IDENTIFIER.fullmatch(schema):
            raise StateError(f"invalid PostgreSQL schema name {schema!r}: use letters, digits "
                             "and '_', starting with a letter or '_' (at most 63)")
        password = unquote(parts.password) if parts.password is not None else None
        password = next((v for k, v in reversed(pairs) if k == "password"), password)
        kept = "&".join(i for i, (k, _) in zip(items, pairs) if k != "schema")
        conninfo = _unsplit(parts, parts.netloc, kept)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostinfo = netloc.rpartition("@")
            netloc = f"{userinfo.partition(':')[0]}:{_MASK}@{hostinfo}"
        shown = "&".join(f"{i.partition('=')[0]}={_MASK}" if k == "password" else i
                         for i, (k, _) in zip(items, pairs))
        display = _unsplit(parts, netloc, shown)
        return cls(conninfo, schema, display, password or None)

    def scrub(self, text: str) -> str:
        """`text` (e.g. a driver error) with every form of the password masked."""
        if self.password:
            for form in {self.password, quote(self.password, safe=""), quote(self.password)}:
                text = text.replace(form, _MASK)
        return text

    def table(self, name: str):
        from psycopg import sql

        return sql.Identifier(self.schema, name)


def _unsplit(parts: SplitResult, netloc: str, query: str) -> str:
    # urlunsplit would turn `postgresql:///db` (empty host: the local socket) into `postgresql:/db`.
    url = f"{parts.scheme}://{netloc}{parts.path}"
    return url + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def driver():
    """The psycopg module, imported on first use so `import polyctl.state` stays cheap."""
    try:
        import psycopg
    except ImportError as exc:  # e.g. a vendored install without dependencies
        raise StateError("the PostgreSQL state backend needs psycopg 3: "
                         "pip install 'psycopg[binary]'") from exc
    return psycopg


def connect(location: PgLocation, *, application_name: str,
            settings: dict[str, str]) -> "psycopg.Connection":
    """An autocommit connection with `settings` applied (server defaults such as
    `synchronous_commit = off` must not weaken polyctl's durability)."""
    psycopg = driver()
    from psycopg.conninfo import conninfo_to_dict

    try:
        given = conninfo_to_dict(location.conninfo)
    except psycopg.Error as exc:
        raise StateError(f"invalid PostgreSQL URL {location.display}: "
                         f"{location.scrub(str(exc).strip())}") from None
    extra: dict[str, object] = {}
    if "connect_timeout" not in given:
        extra["connect_timeout"] = 10
    if "application_name" not in given:
        extra["application_name"] = application_name
    try:
        conn = psycopg.connect(location.conninfo, autocommit=True, **extra)
        for name, value in settings.items():
            conn.execute("SELECT set_config(%s, %s, false)", [name, value])
    except psycopg.Error as exc:
        # `from None`: the driver's exception may carry the connection string.
        raise StateError(f"cannot connect to the state database {location.display}: "
                         f"{location.scrub(str(exc).strip())}") from None
    return conn


def migrate(conn: "psycopg.Connection", location: PgLocation) -> int:
    """Bring the schema to `SCHEMA_VERSION`; return the version found before."""
    from psycopg import sql

    schema = sql.Identifier(location.schema)
    with conn.transaction():
        found = _version(conn, location)
    if found == SCHEMA_VERSION:
        return found
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)",
                     [advisory_key("migrate", location.schema)])
        found = _version(conn, location)  # someone may have migrated while we waited
        if found < SCHEMA_VERSION:
            # IF NOT EXISTS alone would still need CREATE on the database.
            if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                            [location.schema]).fetchone() is None:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
            conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.schema_migrations (version integer PRIMARY KEY, "
                "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(schema))
            for version in range(found + 1, SCHEMA_VERSION + 1):
                description, statements = MIGRATIONS[version]
                for statement in statements:
                    conn.execute(sql.SQL(statement).format(s=schema))
                conn.execute(sql.SQL("INSERT INTO {} (version, description) VALUES (%s, %s)")
                             .format(location.table("schema_migrations")),
                             [version, description])
    return found


def _version(conn: "psycopg.Connection", location: PgLocation) -> int:
    # pg_class/pg_namespace are read with plain queries, not to_regclass(): after the
    # advisory lock, the catalog cache may not show what the previous holder created.
    exists = conn.execute(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = 'schema_migrations'", [location.schema]).fetchone()
    if exists is None:
        return 0
    from psycopg import sql

    found = conn.execute(sql.SQL("SELECT coalesce(max(version), 0) FROM {}")
                         .format(location.table("schema_migrations"))).fetchone()[0]
    if found > SCHEMA_VERSION:
        raise UnsupportedStateVersionError(
            f"the polyctl tables in schema {location.schema!r} of {location.display} are at "
            f"version {found}, made by a newer polyctl (this one knows up to "
            f"{SCHEMA_VERSION}); upgrade polyctl. Nothing was changed.", found_version=found)
    return found
