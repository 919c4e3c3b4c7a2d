"""The state model: what polyctl remembers about the connections it manages.

State is plain, documented JSON (see README "State format"):

    {
      "format_version": 1,
      "lineage": "<uuid, fixed when the state is created>",
      "serial": 7,                      # +1 on every write
      "polyctl_version": "0.1.0",
      "digest_salt": "<hex>",           # salt of every sensitive digest in this lineage
      "resources": {
        "connection.example": {
          "id": "<connection uuid>",
          "type": "api",
          "name": "Example",
          "organization": null,          # as written in the spec (null = the credential's org)
          "organization_id": "<uuid>",   # where the connection really lives
          "force_destroy": false,
          "lifecycle": {"prevent_destroy": false, "create_before_destroy": false,
                        "ignore_changes": []},
          "configuration": {"url": "…", "auth": {"basic": {"password":
                              {"$sensitive": "sha256:…"}}}}
        }
      }
    }

Sensitive leaves are stored only as salted digests (`polyctl.values.Digest`).
The model is immutable-by-convention data; backends serialise it with `dumps`/`loads`.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from polyctl import __version__
from polyctl.resource import Lifecycle  # noqa: F401  (part of the state model)
from polyctl.values import from_json, to_json

FORMAT_VERSION = 1


class StateError(Exception):
    """Base of every state problem a user can act on."""


class CorruptStateError(StateError):
    """The stored state cannot be parsed; it is left untouched."""


class UnsupportedStateVersionError(StateError):
    """The state was written by a newer polyctl; it is left untouched."""


@dataclass(frozen=True)
class ResourceState:
    """One managed connection as last applied (configuration concealed)."""

    id: str
    type: str
    name: str
    configuration: dict[str, Any]
    organization: str | None = None
    organization_id: str | None = None
    force_destroy: bool | None = None  # None: never recorded (e.g. just imported)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "organization": self.organization,
            "organization_id": self.organization_id,
            "force_destroy": self.force_destroy,
            "lifecycle": self.lifecycle.to_json(),
            "configuration": to_json(self.configuration),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ResourceState":
        return cls(
            id=str(data["id"]),
            type=str(data["type"]),
            name=str(data["name"]),
            configuration=from_json(data.get("configuration") or {}),
            organization=data.get("organization"),
            organization_id=data.get("organization_id"),
            force_destroy=data.get("force_destroy"),
            lifecycle=Lifecycle.from_json(data.get("lifecycle")),
        )


@dataclass(frozen=True)
class State:
    lineage: str
    serial: int
    digest_salt: str
    resources: dict[str, ResourceState] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @classmethod
    def new(cls) -> "State":
        return cls(lineage=str(uuid.uuid4()), serial=0, digest_salt=secrets.token_hex(16))

    def with_resources(self, resources: dict[str, ResourceState]) -> "State":
        return replace(self, resources=dict(sorted(resources.items())))

    def next(self) -> "State":
        """The same content one serial later (what a write stores)."""
        return replace(self, serial=self.serial + 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "lineage": self.lineage,
            "serial": self.serial,
            "polyctl_version": __version__,
            "digest_salt": self.digest_salt,
            "resources": {a: r.to_json() for a, r in sorted(self.resources.items())},
        }

    @classmethod
    def from_json(cls, data: Any) -> "State":
        if not isinstance(data, dict):
            raise CorruptStateError("state is not a JSON object")
        version = data.get("format_version")
        if not isinstance(version, int):
            raise CorruptStateError("state has no integer format_version")
        if version > FORMAT_VERSION:
            raise UnsupportedStateVersionError(
                f"state format_version {version} was written by a newer polyctl "
                f"(this one reads up to {FORMAT_VERSION}); upgrade polyctl"
            )
        try:
            resources = {
                str(addr): ResourceState.from_json(r) for addr, r in data["resources"].items()
            }
            return cls(
                lineage=str(data["lineage"]),
                serial=int(data["serial"]),
                digest_salt=str(data["digest_salt"]),
                resources=resources,
                format_version=version,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CorruptStateError(f"state is missing or has a malformed field: {exc}") from exc


def dumps(state: State) -> bytes:
    return (json.dumps(state.to_json(), indent=2, sort_keys=False) + "\n").encode()


def loads(raw: bytes | str, *, source: str = "state") -> State:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptStateError(f"{source} is not valid JSON: {exc}") from exc
    return State.from_json(data)
