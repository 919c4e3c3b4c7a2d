"""Resource settings shared by spec, state and engine.

`Lifecycle` is the same three knobs wherever it appears: written in a spec, remembered
in state (so `prevent_destroy` survives removal of the spec block), compared by the
planner. Living here keeps the arrows one-way: spec and state both import it, neither
imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Lifecycle:
    prevent_destroy: bool = False
    create_before_destroy: bool = False
    ignore_changes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "prevent_destroy": self.prevent_destroy,
            "create_before_destroy": self.create_before_destroy,
            "ignore_changes": list(self.ignore_changes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "Lifecycle":
        data = data or {}
        return cls(
            prevent_destroy=bool(data.get("prevent_destroy", False)),
            create_before_destroy=bool(data.get("create_before_destroy", False)),
            ignore_changes=tuple(data.get("ignore_changes") or ()),
        )
