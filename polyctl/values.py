"""Value types for secrets, shared by every layer.

A configuration tree is plain JSON data (dict, list, str, int, float, bool, None) in
which a sensitive leaf is one of two wrappers:

- `Secret` holds a real secret in memory (an interpolated value, a password from a
  spec). Its `repr`/`str` never show the value; only `reveal()` does, and only where
  the value itself is needed: the engine's request bodies (`polyctl.engine.payload`)
  and the schema checks that validate, convert or compare it (`polyctl.schema`).
- `Digest` is what survives a secret on disk: a salted SHA-256 of it, enough to see
  that a secret changed without keeping it. State, plan files and journals hold
  digests, never secrets.

`conceal(tree, salt)` turns every `Secret` into its `Digest`; comparing concealed trees
is how the planner sees a changed secret without ever holding two secrets side by side.
The JSON form of a digest is `{"$sensitive": "sha256:<hex>"}`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

SENSITIVE_KEY = "$sensitive"


class Secret:
    """A sensitive value held in memory. Never printed; compared by value."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def reveal(self) -> Any:
        return self._value

    def __repr__(self) -> str:
        return "Secret(<sensitive>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", _canonical(self._value)))

    def __reduce__(self):  # pickling would write the secret somewhere; refuse
        raise TypeError("Secret values cannot be pickled")


@dataclass(frozen=True, slots=True)
class Digest:
    """A salted SHA-256 fingerprint of a secret (`sha256:<hex>`)."""

    value: str

    def __repr__(self) -> str:
        return f"Digest({self.value[:19]}…)"

    def to_json(self) -> dict[str, str]:
        return {SENSITIVE_KEY: self.value}


def digest_of(value: Any, salt: str) -> Digest:
    payload = salt.encode() + b"\x00" + _canonical(value).encode()
    return Digest("sha256:" + hashlib.sha256(payload).hexdigest())


def loads_json(raw: str | bytes) -> Any:
    """`json.loads` refusing NaN and ±Infinity (ValueError): they are not JSON, and where
    polyctl writes JSON they cannot be carried. Nothing takes them in, so none go out."""
    return json.loads(raw, parse_constant=_not_json)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _canonical(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def conceal(tree: Any, salt: str) -> Any:
    """Return `tree` with every `Secret` replaced by its `Digest` (other leaves shared)."""
    if isinstance(tree, Secret):
        return digest_of(tree.reveal(), salt)
    if isinstance(tree, dict):
        return {k: conceal(v, salt) for k, v in tree.items()}
    if isinstance(tree, list):
        return [conceal(v, salt) for v in tree]
    return tree


def reveal(tree: Any) -> Any:
    """Return `tree` with every `Secret` unwrapped — for request bodies and validation."""
    if isinstance(tree, Secret):
        return tree.reveal()
    if isinstance(tree, dict):
        return {k: reveal(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [reveal(v) for v in tree]
    if isinstance(tree, Digest):
        raise ValueError("a digest cannot be revealed: the secret it stands for is not known")
    return tree


def contains_digest(tree: Any) -> bool:
    if isinstance(tree, Digest):
        return True
    if isinstance(tree, dict):
        return any(contains_digest(v) for v in tree.values())
    if isinstance(tree, list):
        return any(contains_digest(v) for v in tree)
    return False


def to_json(tree: Any) -> Any:
    """JSON-ready form of a concealed tree (digests as `{"$sensitive": …}`)."""
    if isinstance(tree, Digest):
        return tree.to_json()
    if isinstance(tree, Secret):
        raise TypeError("refusing to serialise a secret")
    if isinstance(tree, dict):
        return {k: to_json(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [to_json(v) for v in tree]
    return tree


def from_json(tree: Any) -> Any:
    """Inverse of `to_json`."""
    if isinstance(tree, dict):
        if len(tree) == 1 and SENSITIVE_KEY in tree and isinstance(tree[SENSITIVE_KEY], str):
            return Digest(tree[SENSITIVE_KEY])
        return {k: from_json(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [from_json(v) for v in tree]
    return tree
