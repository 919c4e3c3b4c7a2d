"""Saved plans (`plan --out FILE`, `apply FILE`): the exact plan, bound to its state.

A plan file is JSON holding the full `Plan` — concealed, so secrets appear only as
salted digests — plus the lineage and serial of the state it was made against. Apply
refuses it when the state moved on, and fills each digest back with the secret of the
same digest from the current specs: if no current secret matches, the secret changed
since the plan was made and the plan is stale. The file is written atomically, 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from polyctl import __version__
from polyctl.engine.plan import (
    Action, AttributeChange, Dependent, Drift, Mode, Plan, ResourceChange,
)
from polyctl.values import from_json, loads_json, to_json

PLAN_FILE_KIND = "polyctl-plan"
PLAN_FILE_VERSION = 1


class PlanFileError(Exception):
    pass


def _change_to(c: AttributeChange) -> dict[str, Any]:
    return {"path": list(c.path), "before": to_json(c.before), "after": to_json(c.after),
            "kind": c.kind, "sensitive": c.sensitive, "forces_replacement": c.forces_replacement}


def _change_from(d: dict[str, Any]) -> AttributeChange:
    return AttributeChange(tuple(d["path"]), from_json(d["before"]), from_json(d["after"]),
                           d["kind"], d["sensitive"], d["forces_replacement"])


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "kind": PLAN_FILE_KIND,
        "version": PLAN_FILE_VERSION,
        "polyctl_version": __version__,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "mode": plan.mode.value,
        "refreshed": plan.refreshed,
        "targets": list(plan.targets),
        "replace": list(plan.replace),
        "warnings": list(plan.warnings),
        "prior": to_json(plan.prior),
        **({"founding_salt": plan.founding_salt} if plan.founding_salt else {}),
        "drift": [{"address": d.address, "before": to_json(d.before), "after": to_json(d.after),
                   "changes": [_change_to(c) for c in d.changes]} for d in plan.drift],
        "resource_changes": [{
            "address": rc.address, "action": rc.action.value, "id": rc.id,
            "before": to_json(rc.before), "after": to_json(rc.after),
            "changes": [_change_to(c) for c in rc.changes],
            "replace_reasons": list(rc.replace_reasons),
            "create_before_destroy": rc.create_before_destroy,
            "force_delete": rc.force_delete,
            "dependents": [vars(d) for d in rc.dependents],
            "warnings": list(rc.warnings),
        } for rc in plan.resource_changes],
    }


def plan_from_dict(data: dict[str, Any]) -> Plan:
    if data.get("kind") != PLAN_FILE_KIND:
        raise PlanFileError("not a polyctl plan file")
    if data.get("version") != PLAN_FILE_VERSION:
        raise PlanFileError(f"plan file version {data.get('version')} is not supported by "
                            f"polyctl {__version__}")
    return Plan(
        lineage=data["lineage"], serial=data["serial"], mode=Mode(data["mode"]),
        refreshed=data["refreshed"], targets=tuple(data["targets"]),
        replace=tuple(data["replace"]), warnings=tuple(data["warnings"]),
        prior=from_json(data["prior"]), founding_salt=data.get("founding_salt"),
        drift=tuple(Drift(d["address"], from_json(d["before"]), from_json(d["after"]),
                          tuple(_change_from(c) for c in d["changes"])) for d in data["drift"]),
        resource_changes=tuple(ResourceChange(
            address=r["address"], action=Action(r["action"]), id=r["id"],
            before=from_json(r["before"]), after=from_json(r["after"]),
            changes=tuple(_change_from(c) for c in r["changes"]),
            replace_reasons=tuple(r["replace_reasons"]),
            create_before_destroy=r["create_before_destroy"], force_delete=r["force_delete"],
            dependents=tuple(Dependent(**d) for d in r["dependents"]),
            warnings=tuple(r["warnings"]),
        ) for r in data["resource_changes"]),
    )


def write_plan_file(path: Path, plan: Plan) -> None:
    data = json.dumps(plan_to_dict(plan), indent=1, allow_nan=False).encode()
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise PlanFileError(f"cannot write the plan file {path}: {exc.strerror or exc} "
                            f"({directory})") from exc
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.close(fd)
        except OSError:
            pass
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_plan_file(path: Path) -> Plan:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanFileError(f"cannot read plan file {path}: {exc.strerror or exc}") from exc
    try:
        data = loads_json(raw)  # NaN is not JSON: a plan never holds one
        return plan_from_dict(data)
    except PlanFileError as exc:
        raise PlanFileError(f"{path}: {exc}") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PlanFileError(f"{path} is not a valid polyctl plan file ({exc})") from exc
