"""The machine-readable plan: versioned JSON, Terraform-shaped, with no secret in it.

Format (format_version "1.0"):

    {
      "format_version": "1.0", "polyctl_version": "…", "mode": "normal",
      "state": {"lineage": "…", "serial": 3}, "refreshed": true,
      "resource_changes": [{
        "address": "connection.example", "type": "connection", "name": "example",
        "connection_type": "api", "id": "…", "action": "update", "actions": ["update"],
        "before": {…}, "after": {…}, "before_sensitive": {…}, "after_sensitive": {…},
        "changes": [{"path": ["configuration", "url"], "kind": "update",
                     "before": "…", "after": "…", "sensitive": false}],
        "replace_paths": [["type"]], "replace_reasons": ["…"],
        "force_delete": false, "dependents": [{"type", "name", "id"}], "warnings": []
      }],
      "resource_drift": [{"address", "deleted", "before", "after", "changes"}],
      "warnings": [], "summary": {"add": 0, "change": 1, "destroy": 0}
    }

Sensitive leaves are `null` in `before`/`after`/`changes`, and `true` at the same place
in `before_sensitive`/`after_sensitive` (as Terraform marks them). Digests are never
emitted: the JSON plan is for people and pipelines, the saved plan file is separate.
"""

from __future__ import annotations

from typing import Any

from polyctl import __version__
from polyctl.engine.plan import AttributeChange, Drift, Plan, ResourceChange
from polyctl.values import Digest

JSON_FORMAT_VERSION = "1.0"


def redact(tree: Any) -> Any:
    if isinstance(tree, Digest):
        return None
    if isinstance(tree, dict):
        return {k: redact(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [redact(v) for v in tree]
    return tree


def sensitivity(tree: Any) -> Any:
    """Terraform's `*_sensitive` mirror: True at sensitive leaves, {} / [] elsewhere."""
    if isinstance(tree, Digest):
        return True
    if isinstance(tree, dict):
        return {k: s for k, v in tree.items() if (s := sensitivity(v)) not in ({}, [], False)}
    if isinstance(tree, list):
        marks = [sensitivity(v) for v in tree]
        return [m or False for m in marks] if any(m not in ({}, [], False) for m in marks) else []
    return False


def _change(c: AttributeChange) -> dict[str, Any]:
    return {"path": list(c.path), "kind": c.kind, "before": redact(c.before),
            "after": redact(c.after), "sensitive": c.sensitive,
            "forces_replacement": c.forces_replacement}


def _resource_change(rc: ResourceChange) -> dict[str, Any]:
    kind, _, name = rc.address.partition(".")
    return {
        "address": rc.address,
        "type": kind,
        "name": name,
        "connection_type": rc.connection_type,
        "id": rc.id,
        "action": rc.action.value,
        "actions": rc.terraform_actions,
        "before": redact(rc.before),
        "after": redact(rc.after),
        "before_sensitive": sensitivity(rc.before) if rc.before is not None else False,
        "after_sensitive": sensitivity(rc.after) if rc.after is not None else False,
        "changes": [_change(c) for c in rc.changes],
        "replace_paths": [list(p) for p in rc.replace_paths],
        "replace_reasons": list(rc.replace_reasons),
        "create_before_destroy": rc.create_before_destroy,
        "force_delete": rc.force_delete,
        "dependents": [{"type": d.type, "name": d.name, "id": d.id} for d in rc.dependents],
        "warnings": list(rc.warnings),
    }


def _drift(d: Drift) -> dict[str, Any]:
    return {"address": d.address, "deleted": d.deleted, "before": redact(d.before),
            "after": redact(d.after), "changes": [_change(c) for c in d.changes]}


def plan_to_json(plan: Plan) -> dict[str, Any]:
    summary = plan.summary
    return {
        "format_version": JSON_FORMAT_VERSION,
        "polyctl_version": __version__,
        "mode": plan.mode.value,
        "state": {"lineage": plan.lineage, "serial": plan.serial},
        "refreshed": plan.refreshed,
        "targets": list(plan.targets),
        "replace": list(plan.replace),
        "resource_changes": [_resource_change(rc) for rc in plan.resource_changes],
        "resource_drift": [_drift(d) for d in plan.drift],
        "warnings": list(plan.warnings) + [w for rc in plan.resource_changes for w in rc.warnings],
        "summary": {"add": summary.add, "change": summary.change, "destroy": summary.destroy},
        "has_changes": plan.has_changes,
    }
