"""Connection types the sandbox knows: the built-in `api` type and a schema folder.

`api` is always built in, with its JSON Schema written here from the Terraform
provider's `polytomic_api_connection` reference plus the fields the current API serves
(`auth.query`, `auth.oauth.scopes`, `auth.oauth.auth_style`). Unlike the schema the API
serves for `api`, ours marks the secrets `sensitive`, because the real API masks them.

Other types come from `connection_types_dir` (`<type-id>.json` JSON Schemas and an
optional `_index.json` of `{id, name, use_oauth}`), read lazily and cached. Without a
folder every other type id is accepted leniently: no schema, so nothing is masked,
defaulted or validated.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import schema_rules

LOGO_URL = "https://connect-assets.polytomic.com/logos/{id}.svg"
# [INFERRED] The schema folder carries no capabilities or operation flags, so every type
# is presented as a source and a destination with the operations that implies.
CAPABILITIES = {"source": True, "destination": True, "enrichment": False, "orchestration": False}
OPERATIONS = ["FIELDSETQUERY", "BulkSyncSource", "TARGET"]
_TYPE_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


def _string(title: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "title": title, **extra}


def _pairs(title: str) -> dict[str, Any]:
    """A set of `{name, value}` objects (headers, parameters, form data)."""
    return {
        "type": "array",
        "title": title,
        "items": {
            "type": "object",
            "properties": {"name": _string("Name"), "value": _string("Value")},
            "required": ["name", "value"],
            "additionalProperties": False,
        },
    }


def _object(title: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "title": title,
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


API_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/polytomic/app/services/polytomic/backend/api/connection-conf",
    "type": "object",
    "properties": {
        "url": _string("Base URL", examples=["https://example.com"]),
        "headers": _pairs("Headers"),
        "body": _string("JSON payload", format="json"),
        "parameters": _pairs("Query string parameters"),
        "healthcheck": _string("Health check endpoint"),
        "auth": _object(
            "Authentication method",
            {
                "basic": _object(
                    "Basic authentication",
                    {
                        "username": _string("Username"),
                        "password": _string("Password", sensitive=True, password=True),
                    },
                ),
                "header": _object(
                    "Header key",
                    {"name": _string("Name"), "value": _string("Value", sensitive=True)},
                    required=["name", "value"],
                ),
                "query": _pairs("Query string authentication parameters"),
                "oauth": _object(
                    "OAuth",
                    {
                        "client_id": _string("Client ID"),
                        "client_secret": _string("Client secret", sensitive=True),
                        "token_endpoint": _string("Token endpoint"),
                        "extra_form_data": _pairs("Extra form data"),
                        "scopes": {"type": "array", "title": "Scopes", "items": {"type": "string"}},
                        "auth_style": {"type": "integer", "title": "Auth style"},
                    },
                ),
            },
        ),
    },
    "required": ["url"],
}


@dataclass(frozen=True)
class ConnectionType:
    id: str
    name: str
    use_oauth: bool = False
    schema: dict[str, Any] | None = None  # None: lenient, nothing masked or checked

    def summary(self) -> dict[str, Any]:
        """An item of `GET /api/connection_types`."""
        return {
            "id": self.id,
            "name": self.name,
            "logo_url": LOGO_URL.format(id=self.id),
            "use_oauth": self.use_oauth,
            "capabilities": dict(CAPABILITIES),
            "envConfig": {},
            "initialConfiguration": {},
        }

    def reference(self, *, operations: bool) -> dict[str, Any]:
        """The `type` object inside a connection (list items carry no `operations`)."""
        ref: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "logo_url": LOGO_URL.format(id=self.id),
        }
        if operations:
            ref["operations"] = list(OPERATIONS)
        return ref

    def prepare(self, configuration: dict[str, Any]) -> dict[str, Any]:
        """The configuration as stored: defaults filled, read-only/unknown keys dropped."""
        if self.schema is None:
            return configuration
        return schema_rules.prepare(self.schema, configuration)

    def mask(self, configuration: dict[str, Any]) -> dict[str, Any]:
        if self.schema is None:
            return configuration
        return schema_rules.mask(self.schema, configuration)


API_TYPE = ConnectionType("api", "HTTP API", False, API_SCHEMA)


class ConnectionTypes:
    """Looks types up by id; loads each schema file once, on first use."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._index: dict[str, dict[str, Any]] = {}
        self._cache: dict[str, ConnectionType | None] = {"api": API_TYPE}
        self._lock = threading.Lock()
        self._list_json: bytes | None = None
        if self.directory is not None:
            index_path = self.directory / "_index.json"
            if index_path.is_file():
                entries = json.loads(index_path.read_text())
                self._index = {e["id"]: e for e in entries}
            else:
                self._index = {
                    p.stem: {"id": p.stem, "name": p.stem}
                    for p in sorted(self.directory.glob("*.json"))
                    if not p.name.startswith("_")
                }
            if "api" in self._index:
                name = self._index["api"].get("name") or API_TYPE.name
                self._cache["api"] = ConnectionType("api", name, False, API_SCHEMA)

    @property
    def lenient(self) -> bool:
        return self.directory is None

    def get(self, type_id: str) -> ConnectionType | None:
        """The type, or None when a schema folder is given and does not know it."""
        if type_id in self._cache:
            return self._cache[type_id]
        with self._lock:
            found = self._load(type_id)
            self._cache[type_id] = found
        return found

    def _load(self, type_id: str) -> ConnectionType | None:
        if self.directory is None:
            return ConnectionType(type_id, type_id) if _TYPE_ID.match(type_id) else None
        if not _TYPE_ID.match(type_id):  # never let an id walk out of the folder
            return None
        path = self.directory / f"{type_id}.json"
        if not path.is_file():
            return None
        entry = self._index.get(type_id, {})
        schema = json.loads(path.read_text())
        return ConnectionType(type_id, entry.get("name") or type_id, bool(entry.get("use_oauth")), schema)

    def schema_json(self, type_id: str) -> bytes | None:
        """The bare JSON Schema served by `GET /api/connection_types/{id}`."""
        ctype = self.get(type_id) if (type_id in self._index or type_id == "api") else None
        if ctype is None or ctype.schema is None:
            return None
        return json.dumps(ctype.schema, separators=(",", ":")).encode()

    def list_json(self) -> bytes:
        """`GET /api/connection_types`, encoded once: it never changes while running."""
        if self._list_json is None:
            entries = [API_TYPE.summary() | {"name": self._cache["api"].name}]
            for type_id, entry in self._index.items():
                if type_id == "api":
                    continue
                entries.append(
                    ConnectionType(type_id, entry.get("name") or type_id, bool(entry.get("use_oauth"))).summary()
                )
            self._list_json = json.dumps({"data": entries}, separators=(",", ":")).encode()
        return self._list_json
