"""Decide what to do: desired specs + prior (possibly refreshed) state → `Plan`.

Pure: no I/O, no clock, no randomness — the same inputs give the same plan. The rules
are the design's §6: `type`/`organization` changes force replacement; a change of only
`force_destroy` or `lifecycle` is a state-only update; a delete uses the *state's*
`force_destroy`; `prevent_destroy` is honoured from the spec, or from state once the
spec block is gone; `ignore_changes` keeps the prior value of the listed paths.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping

from polyctl.diagnostics import Diagnostics, did_you_mean
from polyctl.engine.diff import diff_records
from polyctl.engine.plan import Action, Drift, Mode, Plan, ResourceChange
from polyctl.engine.records import RECORD_KEYS, desired_record, state_record
from polyctl.schema import TypeSchema, schema_for
from polyctl.spec.model import ConnectionSpec, SpecSet
from polyctl.state.model import ResourceState, State

CONTENT_KEYS = ("name", "type", "organization", "configuration")  # what the API holds
DRIFT_KEYS = ("name", "configuration")


@dataclass(frozen=True)
class PlanOptions:
    mode: Mode = Mode.NORMAL
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()


def plan_changes(
    specs: SpecSet,
    state: State,
    *,
    refreshed: Mapping[str, ResourceState | None] | None = None,
    options: PlanOptions = PlanOptions(),
    schemas: dict[str, TypeSchema] | None = None,
) -> tuple[Plan, Diagnostics]:
    """Plan against `state`, or against `refreshed` (address → live resource or None
    when deleted outside polyctl) when a refresh was done."""
    diags = Diagnostics()
    prior: dict[str, ResourceState] = dict(state.resources)
    drift: list[Drift] = []
    if refreshed is not None:
        for address, before in state.resources.items():
            if address not in refreshed:
                continue
            live = refreshed[address]
            if live is None:
                drift.append(Drift(address, state_record(before), None))
                del prior[address]
                continue
            prior[address] = live
            changes = diff_records(state_record(before), state_record(live),
                                   schema_for(live.type, schemas), keys=DRIFT_KEYS)
            if changes:
                drift.append(Drift(address, state_record(before), state_record(live), changes))

    known = set(specs.connections) | set(state.resources)
    for flag, addresses in (("--target", options.targets), ("--replace", options.replace)):
        for address in addresses:
            if address not in known:
                diags.error(f"Invalid {flag} address",
                            f'"{address}" is not declared in the specs or recorded in state.'
                            f"{did_you_mean(address, known)}")
    for address in options.replace:
        if address in known and (address not in specs.connections or address not in prior):
            diags.error("Cannot replace", f"{address} must be both declared and managed to be "
                        "replaced (it would otherwise only be created or destroyed).")

    changes: list[ResourceChange] = []
    if options.mode is not Mode.REFRESH_ONLY:
        targets = set(options.targets)
        for address in sorted(set(specs.connections) | set(prior)):
            if targets and address not in targets:
                continue
            change = _plan_resource(address, specs.connections.get(address), prior.get(address),
                                    state.digest_salt, options, schemas, diags)
            if change is not None:
                changes.append(change)

    plan = Plan(
        lineage=state.lineage, serial=state.serial, mode=options.mode,
        resource_changes=tuple(changes), drift=tuple(drift), refreshed=refreshed is not None,
        targets=tuple(options.targets), replace=tuple(options.replace),
        prior={a: state_record(r) for a, r in sorted(prior.items())},
    )
    return plan, diags


def _plan_resource(address: str, spec: ConnectionSpec | None, cur: ResourceState | None,
                   salt: str, options: PlanOptions, schemas, diags: Diagnostics
                   ) -> ResourceChange | None:
    if options.mode is Mode.DESTROY or spec is None:
        if cur is None:
            return None
        return _plan_delete(address, spec, cur, diags)
    schema = schema_for(spec.type, schemas)
    desired = desired_record(spec, salt, schema)
    if cur is None:
        return ResourceChange(address, Action.CREATE, None, desired)

    before = state_record(cur)
    if cur.type == spec.type:
        before = {**before, "configuration": _stated_defaults(
            before.get("configuration"), desired.get("configuration"), schema.configuration)}
    desired = {"id": cur.id, **desired, "organization_id": cur.organization_id}
    if spec.organization is None:
        desired["organization"] = cur.organization  # unset: stays where it is
    desired = _apply_ignore_changes(desired, before, spec.lifecycle.ignore_changes)
    changes = diff_records(before, desired, schema, keys=RECORD_KEYS)
    reasons = [f"{c.path[0]} changed from {_quoted(c.before)} to {_quoted(c.after)}"
               for c in changes if c.forces_replacement]
    if spec.organization is not None and spec.organization == cur.organization_id:
        changes = tuple(c for c in changes if c.path != ("organization",))
        reasons = [r for r in reasons if not r.startswith("organization")]
    if address in options.replace:
        reasons.append("replacement requested with --replace")

    if reasons:
        warnings = []
        if spec.force_destroy and not cur.force_destroy:
            warnings.append(
                "force_destroy is set in the same run as a replacement; the delete uses the "
                "value in state (false), so dependents will not be cascade-deleted. Apply the "
                "force_destroy change on its own first.")
        if spec.lifecycle.prevent_destroy:
            diags.error("Instance cannot be destroyed",
                        f"{address} has lifecycle.prevent_destroy set, but the plan calls for "
                        f"it to be replaced ({'; '.join(reasons)}). Remove prevent_destroy "
                        "or undo the change.", location=spec.location, address=address)
        # the replacement's id is not known until it is created
        desired = {k: v for k, v in desired.items() if k not in ("id", "organization_id")}
        return ResourceChange(address, Action.REPLACE, before, desired, changes, id=cur.id,
                              replace_reasons=tuple(reasons),
                              create_before_destroy=spec.lifecycle.create_before_destroy,
                              force_delete=cur.force_destroy is True, warnings=tuple(warnings))
    if any(c.path[0] in CONTENT_KEYS for c in changes):
        return ResourceChange(address, Action.UPDATE, before, desired, changes, id=cur.id)
    if changes:
        return ResourceChange(address, Action.STATE_ONLY, before, desired, changes, id=cur.id)
    return ResourceChange(address, Action.NOOP, before, desired, id=cur.id)


def _stated_defaults(before: Any, desired: Any, attr) -> Any:
    """`before` plus the server defaults that `desired` now states explicitly. Refresh
    leaves a server-filled default out while the spec does not set it; without this,
    adding `ssl: true` where the server already holds its default `true` (or importing a
    required field that holds its default) would plan an update that changes nothing."""
    if not (isinstance(before, dict) and isinstance(desired, dict)) or attr is None \
            or attr.kind != "object":
        return before
    out = dict(before)
    for key, want in desired.items():
        sub = attr.fields.get(key)
        if sub is None:
            continue
        if key not in out:
            if sub.default is not None and not sub.read_only and want == sub.default:
                out[key] = want
        else:
            out[key] = _stated_defaults(out[key], want, sub)
    return out


def _quoted(value: Any) -> str:
    return "null" if value is None else f'"{value}"'


def _plan_delete(address: str, spec: ConnectionSpec | None, cur: ResourceState,
                 diags: Diagnostics) -> ResourceChange:
    before = state_record(cur)
    lifecycle = spec.lifecycle if spec is not None else cur.lifecycle
    if lifecycle.prevent_destroy:
        where = ("its spec sets lifecycle.prevent_destroy" if spec is not None else
                 "its state records lifecycle.prevent_destroy (the spec block was removed, "
                 "which does not lift it)")
        diags.error("Instance cannot be destroyed",
                    f"{address} would be destroyed, but {where}. To destroy it, set "
                    "prevent_destroy: false in its spec and apply, then remove it.",
                    location=spec.location if spec else None, address=address)
    warnings = []
    if spec is not None and spec.force_destroy and not cur.force_destroy:
        warnings.append(
            "force_destroy is set in the spec but not yet in state; the destroy uses the "
            "value in state, so dependents will not be cascade-deleted. Apply the "
            "force_destroy change first.")
    return ResourceChange(address, Action.DELETE, before, None, id=cur.id,
                          force_delete=cur.force_destroy is True, warnings=tuple(warnings))


def _apply_ignore_changes(desired: dict[str, Any], prior: dict[str, Any],
                          ignore: tuple[str, ...]) -> dict[str, Any]:
    if not ignore:
        return desired
    out = dict(desired)  # _copy_path copies each dict it changes: `desired` stays as it was
    for item in ignore:
        if item == "all":
            out["name"] = prior["name"]
            out["configuration"] = copy.deepcopy(prior["configuration"])
            continue
        parts = item.split(".")
        _copy_path(prior, out, parts)
    return out


def _copy_path(src: dict[str, Any], dst: dict[str, Any], parts: list[str]) -> None:
    """Make dst[parts] equal src[parts] (removing it from dst when src lacks it)."""
    s: Any = src
    d: Any = dst
    for part in parts[:-1]:
        s = s.get(part) if isinstance(s, dict) else None
        if not isinstance(d, dict):
            return
        if part not in d:
            if not isinstance(s, dict):
                return
            d[part] = {}
        elif isinstance(d[part], dict):
            d[part] = dict(d[part])  # copy on write: the caller's dicts are never changed
        d = d[part]
    last = parts[-1]
    if not isinstance(d, dict):
        return
    if isinstance(s, dict) and last in s:
        d[last] = copy.deepcopy(s[last])
    else:
        d.pop(last, None)
