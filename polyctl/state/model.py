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
from typing import Any, Callable

import orjson

from polyctl import __version__
from polyctl.resource import Lifecycle  # noqa: F401  (part of the state model)
from polyctl.values import Digest, from_json, loads_json, to_json

FORMAT_VERSION = 1


class StateError(Exception):
    """Base of every state problem a user can act on."""


class CorruptStateError(StateError):
    """The stored state cannot be parsed; it is left untouched.

    `path` names the file (or other location) when the backend knows it.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UnsupportedStateVersionError(StateError):
    """The state was written by a newer polyctl; it is left untouched."""

    def __init__(self, message: str, *, path: str | None = None,
                 found_version: int | None = None) -> None:
        super().__init__(message)
        self.path, self.found_version = path, found_version


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

    def to_json(self, *, leaves: Callable[[Any], Any] = to_json) -> dict[str, Any]:
        """The JSON form; `leaves` renders the configuration (its digests as JSON objects,
        by default; `dumps` leaves them for its encoder)."""
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "organization": self.organization,
            "organization_id": self.organization_id,
            "force_destroy": self.force_destroy,
            "lifecycle": self.lifecycle.to_json(),
            "configuration": leaves(self.configuration),
        }

    @classmethod
    def from_json(cls, data: Any, *, where: str = "resource") -> "ResourceState":
        """Parse one resource, refusing wrong types (a hand-edited state is common)."""
        data = _expect(data, dict, where, "an object")
        lifecycle = _get(data, "lifecycle", (dict, type(None)), where, "an object", optional=True)
        if lifecycle:
            for knob in ("prevent_destroy", "create_before_destroy"):
                _get(lifecycle, knob, bool, f"{where}.lifecycle", "true or false", optional=True)
            changes = _get(lifecycle, "ignore_changes", (list, type(None)),
                           f"{where}.lifecycle", "a list", optional=True) or []
            for i, item in enumerate(changes):
                _expect(item, str, f"{where}.lifecycle.ignore_changes[{i}]", "a string")
        return cls(
            id=_get(data, "id", str, where, "a string"),
            type=_get(data, "type", str, where, "a string"),
            name=_get(data, "name", str, where, "a string"),
            configuration=from_json(
                _get(data, "configuration", (dict, type(None)), where, "an object",
                     optional=True) or {}
            ),
            organization=_get(data, "organization", (str, type(None)), where, "a string or null",
                              optional=True),
            organization_id=_get(data, "organization_id", (str, type(None)), where,
                                 "a string or null", optional=True),
            force_destroy=_get(data, "force_destroy", (bool, type(None)), where,
                               "true, false or null", optional=True),
            lifecycle=Lifecycle.from_json(lifecycle),
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

    def to_json(self, *, leaves: Callable[[Any], Any] = to_json) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "lineage": self.lineage,
            "serial": self.serial,
            "polyctl_version": __version__,
            "digest_salt": self.digest_salt,
            "resources": {a: r.to_json(leaves=leaves)
                          for a, r in sorted(self.resources.items())},
        }

    @classmethod
    def from_json(cls, data: Any) -> "State":
        """Parse a state document; `CorruptStateError` names the first bad field."""
        data = _expect(data, dict, "state", "a JSON object")
        version = data.get("format_version")
        # bool is an int subclass in Python; `true` is not a version.
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise CorruptStateError("format_version: expected a positive integer, "
                                    f"found {_kind(version)}")
        if version > FORMAT_VERSION:
            raise UnsupportedStateVersionError(
                f"state format_version {version} was written by a newer polyctl "
                f"(this one reads up to {FORMAT_VERSION}); upgrade polyctl",
                found_version=version,
            )
        lineage = _get(data, "lineage", str, "state", "a string")
        if not lineage:
            raise CorruptStateError("lineage: expected a non-empty string")
        serial = _get(data, "serial", int, "state", "an integer")
        if serial < 0:
            raise CorruptStateError(f"serial: expected a non-negative integer, found {serial}")
        resources = _get(data, "resources", dict, "state", "an object")
        return cls(
            lineage=lineage,
            serial=serial,
            digest_salt=_get(data, "digest_salt", str, "state", "a string"),
            resources={
                addr: ResourceState.from_json(r, where=f"resources[{addr!r}]")
                for addr, r in resources.items()
            },
            format_version=version,
        )


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _expect(value: Any, types: type | tuple[type, ...], where: str, expected: str) -> Any:
    wanted = types if isinstance(types, tuple) else (types,)
    # `True` must not pass for an integer field.
    if isinstance(value, bool) and bool not in wanted:
        ok = False
    else:
        ok = isinstance(value, wanted)
    if not ok:
        raise CorruptStateError(f"{where}: expected {expected}, found {_kind(value)}")
    return value


def _get(data: dict[str, Any], key: str, types: type | tuple[type, ...], where: str,
         expected: str, *, optional: bool = False) -> Any:
    if key not in data:
        if optional:
            return None
        raise CorruptStateError(f"{where}: missing field {key!r}")
    return _expect(data[key], types, f"{where}.{key}" if where != "state" else key, expected)


# orjson writes the state of 10,000 connections (11 MB) in ~30 ms; json's encoder, pure
# Python once it indents, took ~450 ms, and its copy of every configuration ~80 ms more.
# The layout is json's indent=2; text is UTF-8 as is, and a float may be spelled
# differently (0.00001 for 1e-05): the same document when read.
_ORJSON_OPTIONS = (orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
                   | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
                   | orjson.OPT_PASSTHROUGH_DATETIME)
_STATE_ENCODER = json.JSONEncoder(indent=2)  # \u-escapes: a lone surrogate stays writable


def dumps(state: State) -> bytes:
    """The stored form: JSON indented by two spaces, and a newline. Configurations are
    handed to orjson as held: a `Digest` becomes `{"$sensitive": …}`. Anything else that
    is not plain JSON data (a `Secret`, an integer beyond 64 bits, a str subclass, a lone
    surrogate) goes through json instead, which encodes it or refuses it (a `Secret` is
    a TypeError there too: never written). NaN and infinity cannot reach here: every
    way in refuses them (orjson would write null)."""
    try:
        return orjson.dumps(state.to_json(leaves=_as_held), default=_digest_only,
                            option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: json says what is wrong, or encodes it
        return _dumps_chunked(state.to_json())


def _as_held(configuration: dict[str, Any]) -> dict[str, Any]:
    return configuration


def _digest_only(value: Any) -> Any:
    if type(value) is Digest:
        return value.to_json()
    raise TypeError(f"{type(value).__name__} is not plain JSON data")


def _dumps_chunked(data: dict[str, Any]) -> bytes:
    """json's indented encoding joined a few thousand chunks at a time (json.dumps would
    hold all of 10,000 resources' millions of small chunks at once, ~100 MB)."""
    pieces: list[bytes] = []
    batch: list[str] = []
    for chunk in _STATE_ENCODER.iterencode(data):
        batch.append(chunk)
        if len(batch) >= 4096:
            pieces.append("".join(batch).encode())
            batch.clear()
    batch.append("\n")
    pieces.append("".join(batch).encode())
    return b"".join(pieces)


def loads(raw: bytes | str, *, source: str = "state") -> State:
    """Parse stored state; every error message starts with `source` (e.g. the path)."""
    if not (raw.strip() if isinstance(raw, (bytes, str)) else raw):
        raise CorruptStateError(f"{source} is empty (a write was probably cut short)")
    try:
        data = loads_json(raw)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN or Infinity
        raise CorruptStateError(f"{source} is not valid JSON: {exc}") from exc
    try:
        return State.from_json(data)
    except UnsupportedStateVersionError as exc:
        raise UnsupportedStateVersionError(f"{source}: {exc}",
                                           found_version=exc.found_version) from None
    except CorruptStateError as exc:
        raise CorruptStateError(f"{source}: {exc}") from None
