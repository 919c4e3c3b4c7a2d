"""Small values shared by the client and its callers: dependents, masks, idempotency keys."""

from __future__ import annotations

import uuid

from polyctl.resource import Dependent

__all__ = ["Dependent", "is_masked", "generate_idempotency_key"]


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
