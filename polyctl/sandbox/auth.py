"""Who is calling: API keys, partner keys, organizations (contract §2).

- `Bearer <api key>` acts as a user of that key's organization.
- `Bearer <partner key>` acts as the partner with no organization: only partner-level
  endpoints (`/api/organizations`, `/api/me`) accept it; org-scoped ones answer 403.
- `Basic base64("<org-uuid>:<partner key>")` acts as the partner inside that org; an
  unknown org id is created on first use, as a partner provisioning flow would.

Keys live in SQLite so a restart keeps them: without configured keys one API key and
one partner key are generated (`sbx_…`) on first start and reused afterwards. With
configured keys exactly those are accepted (plus keys minted at runtime through the
admin API). Accepted keys are also held in memory: authenticating costs no query.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from . import records
from .db import Database
from .errors import UNAUTHORIZED_MESSAGE, ApiError

DEFAULT_ORG_NAME = "Sandbox Organization"
DEFAULT_EMAIL = "sandbox@example.com"


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" | "partner"
    organization_id: str | None
    user_id: str | None
    email: str

    def actor(self) -> dict[str, Any]:
        """The `created_by`/`updated_by` object for changes made by this caller."""
        if self.kind == "user":
            return {"id": self.user_id, "name": "Sandbox User", "type": "user"}
        return {"id": self.organization_id or "", "name": "Partner", "type": "partner"}

    @property
    def scope(self) -> str:
        """Namespace of this caller's Idempotency-Keys."""
        return self.organization_id or "partner"


def new_org(org_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    org_id = org_id or str(uuid.uuid4())
    return {
        "id": org_id,
        "name": name or f"Organization {org_id[:8]}",
        "issuer": "",
        "sso_domain": "",
        "sso_org_id": "",
    }


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class KeyRing:
    """Accepted credentials and the organizations they act on."""

    def __init__(self, db: Database, api_keys: list[str], partner_keys: list[str]) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._known_orgs: set[str] = set()
        with db.write() as conn:
            org_id = records.meta_get(conn, "default_organization_id")
            if org_id is None:
                org_id = str(uuid.uuid4())
                records.org_insert(conn, new_org(org_id, DEFAULT_ORG_NAME))
                records.meta_set(conn, "default_organization_id", org_id)
            user_id = records.meta_get(conn, "default_user_id") or str(uuid.uuid4())
            records.meta_set(conn, "default_user_id", user_id)
            default_owner = records.KeyOwner(org_id, user_id, DEFAULT_EMAIL)
            if not api_keys:
                api_keys = [records.meta_get(conn, "generated_api_key") or "sbx_" + secrets.token_urlsafe(24)]
                records.meta_set(conn, "generated_api_key", api_keys[0])
            self._api_keys: dict[str, records.KeyOwner] = {}
            for key in api_keys:
                records.api_key_insert(conn, key, default_owner, "config")
                self._api_keys[key] = records.api_key_get(conn, key) or default_owner
            self._api_keys.update(records.api_keys_by_origin(conn, "admin"))
            if not partner_keys:
                partner_keys = [records.meta_get(conn, "generated_partner_key") or "sbx_partner_" + secrets.token_urlsafe(24)]
                records.meta_set(conn, "generated_partner_key", partner_keys[0])
            self._partner_keys = set(partner_keys)
        self.api_key = api_keys[0]
        self.partner_key = partner_keys[0]
        self.organization_id = self._api_keys[self.api_key].organization_id

    def authenticate(self, header: str | None) -> Principal:
        scheme, _, credential = (header or "").strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and credential:
            owner = self._api_keys.get(credential)
            if owner is not None:
                return Principal("user", owner.organization_id, owner.user_id, owner.email)
            if credential in self._partner_keys:
                return Principal("partner", None, None, "")
        elif scheme.lower() == "basic" and credential:
            try:
                decoded = base64.b64decode(credential, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            org_id, sep, key = decoded.partition(":")
            org_id, key = org_id.strip(), key.strip()
            if sep and key in self._partner_keys and _is_uuid(org_id):
                self.ensure_org(org_id)
                return Principal("partner", org_id, None, "")
        raise ApiError(401, UNAUTHORIZED_MESSAGE)

    def ensure_org(self, org_id: str, name: str | None = None) -> None:
        """Create organization `org_id` unless it exists (known ones cost no query)."""
        if org_id in self._known_orgs:
            return
        with self._db.write() as conn:
            records.org_insert(conn, new_org(org_id, name))  # INSERT OR IGNORE
        self._known_orgs.add(org_id)

    def mint_api_key(self, organization_id: str | None = None, name: str | None = None) -> tuple[str, str]:
        """A new API key (admin API), in a new organization unless one is named."""
        org_id = organization_id or str(uuid.uuid4())
        if not _is_uuid(org_id):
            raise ApiError(400, "organization_id must be a UUID")
        self.ensure_org(org_id, name)
        key = "sbx_" + secrets.token_urlsafe(24)
        owner = records.KeyOwner(org_id, str(uuid.uuid4()), DEFAULT_EMAIL)
        with self._db.write() as conn:
            records.api_key_insert(conn, key, owner, "admin")
        with self._lock:
            self._api_keys[key] = owner
        return key, org_id
