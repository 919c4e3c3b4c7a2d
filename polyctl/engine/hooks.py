"""How the engine reports progress without knowing how it is shown.

The apply executor calls these methods; `ApplyHooks` itself does nothing (tests use
it), the CLI subclasses it to print. Calls happen on the event loop thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class OpKind(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    STATE_ONLY = "state-only"


@dataclass(frozen=True)
class Operation:
    """One API call (or state-only change) of an apply, in plan order."""

    index: int
    address: str
    kind: OpKind
    id: str | None = None  # existing connection (update/delete)
    deposed: bool = False  # deleting the old object of a create-before-destroy replace
    force: bool = False  # delete with force=true


@dataclass(frozen=True)
class Outcome:
    ok: bool
    elapsed: float
    id: str | None = None
    error: str = ""
    skipped: bool = False  # not attempted (interrupted, or its replace's delete failed)


class ApplyHooks:
    def operation_started(self, op: Operation) -> None:
        pass

    def operation_finished(self, op: Operation, outcome: Outcome) -> None:
        pass

    def retrying(self, op: Operation | None, reason: str, delay: float) -> None:
        pass

    def interrupted(self) -> None:
        pass
