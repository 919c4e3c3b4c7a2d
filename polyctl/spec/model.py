"""The desired resources a spec set declares, as validated, immutable data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from polyctl.diagnostics import Location
from polyctl.resource import Lifecycle

RESOURCE_KIND = "connection"


def address_of(local_name: str) -> str:
    return f"{RESOURCE_KIND}.{local_name}"


@dataclass(frozen=True)
class ConnectionSpec:
    """One `connections.<local name>` block after interpolation and validation.

    `configuration` is plain data whose sensitive leaves are `polyctl.values.Secret`.
    """

    local_name: str
    name: str
    type: str
    configuration: dict[str, Any]
    organization: str | None = None
    force_destroy: bool = False
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    location: Location | None = None

    @property
    def address(self) -> str:
        return address_of(self.local_name)


@dataclass(frozen=True)
class SpecSet:
    """Every connection declared under a specs directory, keyed by address."""

    connections: dict[str, ConnectionSpec]
    files: tuple[str, ...] = ()
