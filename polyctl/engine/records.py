"""Resource records: the one comparable shape of a connection for the planner.

Specs, state and the API all describe a connection differently; the planner compares
*records* — plain dicts with concealed configuration (secrets as digests) and sets in
canonical order — so that equal things compare equal whatever their source.
"""

from __future__ import annotations

from typing import Any

from polyctl.resource import Lifecycle
from polyctl.schema import TypeSchema
from polyctl.spec.model import ConnectionSpec
from polyctl.state.model import ResourceState
from polyctl.values import conceal

RECORD_KEYS = ("name", "type", "organization", "force_destroy", "lifecycle", "configuration")


def desired_record(spec: ConnectionSpec, salt: str, schema: TypeSchema) -> dict[str, Any]:
    return {
        "name": spec.name,
        "type": spec.type,
        "organization": spec.organization,
        "force_destroy": spec.force_destroy,
        "lifecycle": spec.lifecycle.to_json(),
        "configuration": schema.canonical(conceal(spec.configuration, salt)),
    }


def state_record(resource: ResourceState) -> dict[str, Any]:
    return {
        "id": resource.id,
        "name": resource.name,
        "type": resource.type,
        "organization": resource.organization,
        "organization_id": resource.organization_id,
        "force_destroy": resource.force_destroy,
        "lifecycle": resource.lifecycle.to_json(),
        "configuration": resource.configuration,
    }


def resource_from_record(record: dict[str, Any], *, id: str | None = None,
                         organization_id: str | None = None) -> ResourceState:
    return ResourceState(
        id=str(id or record["id"]),
        type=record["type"],
        name=record["name"],
        configuration=record["configuration"],
        organization=record.get("organization"),
        organization_id=organization_id or record.get("organization_id"),
        force_destroy=record.get("force_destroy"),
        lifecycle=Lifecycle.from_json(record.get("lifecycle")),
    )
