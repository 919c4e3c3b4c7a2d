"""Every SQL statement the request handlers need, as small functions over a connection.

Handlers get a connection from `Database.read()`/`write()` and call these; keeping SQL
here means the handlers read like the contract and the queries stay index-friendly:
everything is looked up by primary key or by `(organization_id, …, seq)`, and the
connection list concatenates pre-rendered JSON instead of decoding rows.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

# --- meta -----------------------------------------------------------------------------


def meta_get(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def meta_set(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


# --- organizations and keys -----------------------------------------------------------


def org_get(db: sqlite3.Connection, org_id: str) -> dict[str, Any] | None:
    row = db.execute("SELECT body FROM organizations WHERE id = ?", (org_id,)).fetchone()
    return json.loads(row[0]) if row else None


def org_insert(db: sqlite3.Connection, org: dict[str, Any]) -> None:
    db.execute(
        "INSERT OR IGNORE INTO organizations (id, name, body) VALUES (?, ?, ?)",
        (org["id"], org["name"], json.dumps(org)),
    )


def org_list(db: sqlite3.Connection) -> list[dict[str, Any]]:
    return [json.loads(b) for (b,) in db.execute("SELECT body FROM organizations ORDER BY seq")]


@dataclass(frozen=True)
class KeyOwner:
    organization_id: str
    user_id: str
    email: str


def api_key_get(db: sqlite3.Connection, key: str) -> KeyOwner | None:
    row = db.execute(
        "SELECT organization_id, user_id, email FROM api_keys WHERE key = ?", (key,)
    ).fetchone()
    return KeyOwner(*row) if row else None


def api_key_insert(db: sqlite3.Connection, key: str, owner: KeyOwner, origin: str) -> None:
    db.execute(
        "INSERT OR IGNORE INTO api_keys (key, organization_id, user_id, email, origin)"
        " VALUES (?, ?, ?, ?, ?)",
        (key, owner.organization_id, owner.user_id, owner.email, origin),
    )


def api_keys_by_origin(db: sqlite3.Connection, origin: str) -> dict[str, KeyOwner]:
    rows = db.execute(
        "SELECT key, organization_id, user_id, email FROM api_keys WHERE origin = ?", (origin,)
    )
    return {key: KeyOwner(*rest) for key, *rest in rows}


# --- connections ----------------------------------------------------------------------


@dataclass
class ConnectionRow:
    """A stored connection: `configuration` holds secrets in full; `item` is masked."""

    id: str
    organization_id: str
    type_id: str
    configuration: dict[str, Any]
    healthcheck_interval: str
    item: dict[str, Any]  # the list/get response object, already masked


def connection_get(db: sqlite3.Connection, org_id: str, conn_id: str) -> ConnectionRow | None:
    row = db.execute(
        "SELECT id, organization_id, type_id, configuration, healthcheck_interval, item"
        " FROM connections WHERE id = ? AND organization_id = ?",
        (conn_id, org_id),
    ).fetchone()
    if row is None:
        return None
    cid, org, type_id, config, interval, item = row
    return ConnectionRow(cid, org, type_id, json.loads(config), interval, json.loads(item))


def connection_save(db: sqlite3.Connection, row: ConnectionRow) -> None:
    """Insert or fully replace a connection (its `seq`, i.e. list position, is kept)."""
    values = (
        row.organization_id,
        row.type_id,
        json.dumps(row.configuration),
        row.healthcheck_interval,
        json.dumps(row.item, separators=(",", ":")),
        row.id,
    )
    updated = db.execute(
        "UPDATE connections SET organization_id = ?, type_id = ?, configuration = ?,"
        " healthcheck_interval = ?, item = ? WHERE id = ?",
        values,
    ).rowcount
    if not updated:
        db.execute(
            "INSERT INTO connections (organization_id, type_id, configuration,"
            " healthcheck_interval, item, id) VALUES (?, ?, ?, ?, ?, ?)",
            values,
        )


def connection_items_json(db: sqlite3.Connection, org_id: str) -> list[str]:
    """The org's list items as JSON text, oldest first, ready to be joined."""
    rows = db.execute(
        "SELECT item FROM connections WHERE organization_id = ? ORDER BY seq", (org_id,)
    )
    return [item for (item,) in rows]


def connection_delete(db: sqlite3.Connection, conn_id: str) -> None:
    db.execute("DELETE FROM connections WHERE id = ?", (conn_id,))
    db.execute("DELETE FROM links WHERE parent_id = ?", (conn_id,))


def connection_exists(db: sqlite3.Connection, org_id: str, conn_id: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM connections WHERE id = ? AND organization_id = ?", (conn_id, org_id)
    ).fetchone()
    return row is not None


# --- models, syncs, bulk syncs --------------------------------------------------------


def resource_insert(
    db: sqlite3.Connection,
    kind: str,
    body: dict[str, Any],
    links: list[tuple[str, str]],
) -> None:
    """Store a dependent object and what it depends on: `links` is `[(parent_id, role)]`."""
    db.execute(
        "INSERT INTO resources (kind, id, organization_id, name, body) VALUES (?, ?, ?, ?, ?)",
        (kind, body["id"], body["organization_id"], body["name"], json.dumps(body)),
    )
    db.executemany(
        "INSERT OR IGNORE INTO links (parent_id, child_id, role) VALUES (?, ?, ?)",
        [(parent, body["id"], role) for parent, role in links],
    )


def resource_get(
    db: sqlite3.Connection, kind: str, org_id: str, res_id: str
) -> dict[str, Any] | None:
    row = db.execute(
        "SELECT body FROM resources WHERE id = ? AND kind = ? AND organization_id = ?",
        (res_id, kind, org_id),
    ).fetchone()
    return json.loads(row[0]) if row else None


def resource_page(
    db: sqlite3.Connection,
    kind: str,
    org_id: str,
    *,
    after_seq: int,
    limit: int,
    linked_to: tuple[str, str] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Up to `limit` objects after `after_seq` in creation order (keyset pagination).

    `linked_to=(parent_id, role)` keeps only objects with that dependency, e.g. the
    syncs whose target is a given connection.
    """
    sql = "SELECT seq, body FROM resources WHERE organization_id = ? AND kind = ? AND seq > ?"
    args: list[Any] = [org_id, kind, after_seq]
    if linked_to is not None:
        sql += (
            " AND id IN (SELECT child_id FROM links WHERE parent_id = ? AND role = ?)"
        )
        args += list(linked_to)
    sql += " ORDER BY seq LIMIT ?"
    args.append(limit)
    return [(seq, json.loads(body)) for seq, body in db.execute(sql, args)]


def resource_dependents(db: sqlite3.Connection, parent_ids: list[str]) -> list[tuple[int, str, str, str]]:
    """Objects that depend on any of `parent_ids`: `(seq, kind, name, id)`, deduplicated."""
    if not parent_ids:
        return []
    marks = ",".join("?" * len(parent_ids))
    rows = db.execute(
        "SELECT DISTINCT r.seq, r.kind, r.name, r.id FROM links l"
        f" JOIN resources r ON r.id = l.child_id WHERE l.parent_id IN ({marks})",
        parent_ids,
    )
    return list(rows)


def resources_delete(db: sqlite3.Connection, ids: list[str]) -> None:
    for res_id in ids:
        db.execute("DELETE FROM resources WHERE id = ?", (res_id,))
        db.execute("DELETE FROM links WHERE child_id = ? OR parent_id = ?", (res_id, res_id))


# --- idempotency ----------------------------------------------------------------------


def idempotency_get(db: sqlite3.Connection, scope: str, key: str) -> tuple[str, int, bytes] | None:
    row = db.execute(
        "SELECT fingerprint, status, body FROM idempotency WHERE scope = ? AND key = ?",
        (scope, key),
    ).fetchone()
    return (row[0], row[1], bytes(row[2])) if row else None


def idempotency_put(
    db: sqlite3.Connection, scope: str, key: str, fingerprint: str, status: int, body: bytes, now: str
) -> None:
    db.execute(
        "INSERT INTO idempotency (scope, key, fingerprint, status, body, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (scope, key, fingerprint, status, body, now),
    )
