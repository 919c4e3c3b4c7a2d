"""State as people (`show`, `state show`) and pipelines (`show --json`) read it."""

from __future__ import annotations

from typing import Any

from polyctl.engine.records import state_record
from polyctl.render.plan_json import redact, sensitivity
from polyctl.render.lines import Line
from polyctl.render.plan_text import TOP_ORDER, Differ, Writer
from polyctl.state.model import ResourceState, State


def render_resource(address: str, resource: ResourceState, out: Writer | None = None) -> list[Line]:
    out = out or Writer()
    kind, _, name = address.partition(".")
    record = state_record(resource)
    out.raw(f"# {address}:", style="bold")
    out.raw(f'resource "{kind}" "{name}" {{')
    differ = Differ(out, resource.type, ())
    keys = [k for k in TOP_ORDER if record.get(k) is not None]
    keys += ["organization_id"] if record.get("organization_id") else []
    width = max(len(k) for k in keys)
    for key in keys:
        differ.whole(" ", key.ljust(width), record[key], 0, (key,))
    out.raw("}")
    out.raw()
    return out.lines


def render_state(state: State) -> list[Line]:
    out = Writer()
    for address, resource in sorted(state.resources.items()):
        render_resource(address, resource, out)
    return out.lines


def state_to_json(state: State | None) -> dict[str, Any]:
    """`show --json`: the state with sensitive values as null + `sensitive_values` marks."""
    if state is None:
        return {"format_version": "1.0", "values": None}
    resources = []
    for address, resource in sorted(state.resources.items()):
        record = state_record(resource)
        kind, _, name = address.partition(".")
        resources.append({"address": address, "type": kind, "name": name,
                          "values": redact(record), "sensitive_values": sensitivity(record)})
    return {"format_version": "1.0", "lineage": state.lineage, "serial": state.serial,
            "values": {"resources": resources}}
