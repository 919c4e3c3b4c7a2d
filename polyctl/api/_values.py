"""Small values shared by the client and its callers: dependents, masks, idempotency keys."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Dependent", "is_masked", "generate_idempotency_key"]


@dataclass(frozen=True)
class Dependent:
    """Something that uses a connection: a model, a model sync or a bulk sync.

    ``str()`` is the Terraform provider's wording, so messages read the same:
    ``model "Users" (7c1d…)``.
    """

    type: str
    name: str
    id: str

    def __str__(self) -> str:
        return f'{self.type} "{self.name}" ({self.id})'

    @classmethod
    def from_mapping(cls, item: Mapping[str, Any]) -> Dependent:
        """Build from a loosely shaped server object; missing fields become ``""``."""
        return cls(
            type=str(item.get("type") or ""),
            name=str(item.get("name") or ""),
            id=str(item.get("id") or ""),
        )


def is_masked(value: object) -> bool:
    """True when the API sent a redacted secret instead of data.

    Masks are runs of ``*`` of any length (8, 6 and 25 are all seen, contract §5.7).
    An empty string is a real (empty) value, not a mask. A secret key that is simply
    absent from a response is the other form of masking; callers detect that by absence.
    """
    return isinstance(value, str) and value != "" and value.strip("*") == ""


def generate_idempotency_key() -> str:
    """A fresh key for one logical mutating call (kept across that call's retries)."""
    return str(uuid.uuid4())
