"""The plan: frozen data describing what an apply would do, and nothing else.

A `Plan` is produced by `planner.plan_changes`, rendered by `polyctl.render` (text
and JSON both read this model), saved to a plan file by `planfile`, and executed by
the apply executor. Values inside are *concealed*: sensitive leaves are
`polyctl.values.Digest`s, so a plan can be printed or written without a secret in it.

A resource record (the `before`/`after` of a change) is a dict with the keys
`name`, `type`, `organization`, `force_destroy`, `lifecycle`, `configuration`
(plus `id` and `organization_id` when known).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from polyctl.diagnostics import AttrPath
from polyctl.resource import Dependent  # noqa: F401  (part of the plan model)

PLAN_FORMAT_VERSION = 1


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    STATE_ONLY = "state-only"  # only force_destroy/lifecycle changed: state write, no API call
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS = {
    Action.CREATE: "+", Action.UPDATE: "~", Action.REPLACE: "-/+", Action.DELETE: "-",
    Action.STATE_ONLY: "~", Action.NOOP: " ",
}


class Mode(str, Enum):
    NORMAL = "normal"
    DESTROY = "destroy"
    REFRESH_ONLY = "refresh-only"


@dataclass(frozen=True)
class AttributeChange:
    """One changed attribute. For sets, `before`/`after` hold the removed/added elements."""

    path: AttrPath
    before: Any
    after: Any
    kind: str = "update"  # update | add | remove (set/list elements and mapping keys)
    sensitive: bool = False
    forces_replacement: bool = False


@dataclass(frozen=True)
class ResourceChange:
    address: str
    action: Action
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changes: tuple[AttributeChange, ...] = ()
    id: str | None = None
    replace_reasons: tuple[str, ...] = ()
    create_before_destroy: bool = False
    force_delete: bool = False  # a delete (or replace's delete) sends force=true
    dependents: tuple[Dependent, ...] = ()  # what a forced delete cascade-deletes
    warnings: tuple[str, ...] = ()
    resource_type: str = "connection"

    @property
    def connection_type(self) -> str:
        record = self.after or self.before or {}
        return str(record.get("type", ""))

    @property
    def replace_paths(self) -> tuple[AttrPath, ...]:
        return tuple(c.path for c in self.changes if c.forces_replacement)

    @property
    def terraform_actions(self) -> list[str]:
        """Terraform's JSON action list for this change."""
        if self.action is Action.REPLACE:
            return ["create", "delete"] if self.create_before_destroy else ["delete", "create"]
        if self.action is Action.STATE_ONLY:
            return ["update"]
        return [self.action.value]


@dataclass(frozen=True)
class Drift:
    """A managed connection changed outside polyctl (`after` None: deleted)."""

    address: str
    before: dict[str, Any]
    after: dict[str, Any] | None
    changes: tuple[AttributeChange, ...] = ()

    @property
    def deleted(self) -> bool:
        return self.after is None


@dataclass(frozen=True)
class Summary:
    add: int = 0
    change: int = 0
    destroy: int = 0

    @property
    def empty(self) -> bool:
        return not (self.add or self.change or self.destroy)


@dataclass(frozen=True)
class Plan:
    lineage: str | None
    serial: int | None
    mode: Mode = Mode.NORMAL
    resource_changes: tuple[ResourceChange, ...] = ()
    drift: tuple[Drift, ...] = ()
    refreshed: bool = False
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    # The prior state as refreshed (address → record): what apply starts from.
    prior: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Only for a plan made before any state existed: the salt its digests use, so that
    # `apply FILE` founds the state with it (no stored state can supply it). A plan made
    # against a stored state never carries it: the salt stays with the state.
    founding_salt: str | None = None
    format_version: int = PLAN_FORMAT_VERSION

    @property
    def summary(self) -> Summary:
        add = change = destroy = 0
        for rc in self.resource_changes:
            if rc.action is Action.CREATE:
                add += 1
            elif rc.action in (Action.UPDATE, Action.STATE_ONLY):
                change += 1
            elif rc.action is Action.DELETE:
                destroy += 1
            elif rc.action is Action.REPLACE:
                add += 1
                destroy += 1
        return Summary(add, change, destroy)

    @property
    def changes(self) -> tuple[ResourceChange, ...]:
        """The resource changes that do something (no-ops left out)."""
        return tuple(rc for rc in self.resource_changes if rc.action is not Action.NOOP)

    @property
    def has_changes(self) -> bool:
        """True when applying would change Polytomic or the state."""
        return bool(self.changes) or (self.mode is Mode.REFRESH_ONLY and bool(self.drift))
