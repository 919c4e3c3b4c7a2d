"""Small values shared across layers that must not import each other.

`Lifecycle` is the same three knobs wherever it appears: written in a spec, remembered
in state (so `prevent_destroy` survives removal of the spec block), compared by the
planner. `Dependent` is what uses a connection, whether the API reports it or a plan
lists it. Living here keeps the arrows one-way: spec, state, api and the plan import
them, none of them imports another for them.
"""

from __future__ import annotations

from collections.abc import Mapping
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
