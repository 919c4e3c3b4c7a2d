"""Adopting connections that already exist: state records and generated specs.

`imported_resource` turns an API object into a state resource the way import must:
secrets unknown (they come back masked, so the next plan sends the spec's), and
`force_destroy` unset until an apply records it. `spec_for` writes the YAML block
`import --all` proposes, with every secret as an `${env:…}` placeholder.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from polyctl.api import is_masked
from polyctl.engine.live import live_type, reconcile_live
from polyctl.engine.records import resource_from_record
from polyctl.resource import Lifecycle
from polyctl.schema import TypeSchema
from polyctl.schema.attributes import Attribute
from polyctl.state.model import ResourceState
from polyctl.values import Digest


def imported_resource(live: dict[str, Any], *, salt: str, schema: TypeSchema,
                      organization: str | None, lifecycle: Lifecycle,
                      spec_record: dict[str, Any] | None = None) -> ResourceState:
    """The state record of an imported connection. With `spec_record` (the desired
    record of the spec it is imported for), a value the spec interpolates is a secret
    even where the API echoes it in plain (a header value, say): it is stored as its
    digest, never as itself. Masked secrets stay unknown either way."""
    resource = reconcile_live(live, None, salt, schema)
    if spec_record is not None:
        prior = resource_from_record(spec_record, id=str(live["id"]))
        against = reconcile_live(live, prior, salt, schema).configuration
        resource = replace(resource, configuration=schema.canonical(
            _conceal_echoed(resource.configuration, against)))
    return replace(resource, organization=organization, force_destroy=None, lifecycle=lifecycle)


def _conceal_echoed(plain: Any, against: Any) -> Any:
    """`plain` (the live object read with no prior) with each plain leaf that reading it
    against the spec turned into a digest replaced by that digest. Only plain leaves: an
    unknown secret (masked) must not take the spec's digest, or the plan would assume
    the live secret is the spec's and never send it."""
    if isinstance(plain, Digest):
        return plain
    if isinstance(against, Digest):
        return against
    if isinstance(plain, dict) and isinstance(against, dict):
        return {k: _conceal_echoed(v, against.get(k)) for k, v in plain.items()}
    if isinstance(plain, list) and isinstance(against, list):
        return [_conceal_echoed(v, _counterpart(v, i, against)) for i, v in enumerate(plain)]
    return plain


def _counterpart(element: Any, index: int, against: list) -> Any:
    """The element of `against` that `element` was read as: the one with its `name`
    (set elements may be ordered differently), else the one at its index."""
    if isinstance(element, dict) and "name" in element:
        for candidate in against:
            if isinstance(candidate, dict) and candidate.get("name") == element["name"]:
                return candidate
    return against[index] if index < len(against) else None


def local_name_for(display_name: str, taken: set[str]) -> str:
    """A stable local name from a display name: `My API (prod)` → `my_api_prod`,
    suffixed `_2`, `_3`… on collision."""
    base = re.sub(r"[^a-z0-9]+", "_", display_name.lower()).strip("_") or "connection"
    if not re.match(r"[a-z_]", base):
        base = f"c_{base}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def env_var_for(local_name: str, path: tuple[str | int, ...]) -> str:
    parts = [local_name] + [str(p) for p in path]
    return "POLYCTL_" + re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")


def _server_set(attr: Attribute | None, value: Any) -> bool:
    """Not the spec's to say: a read-only or hidden field, or an optional field holding
    the server's default (the imported state leaves these out too)."""
    if attr is None:
        return False
    return attr.read_only or (not attr.required and attr.default is not None
                              and value == attr.default)


def spec_for(live: dict[str, Any], local_name: str, schema: TypeSchema,
             organization: str | None) -> tuple[dict[str, Any], list[str]]:
    """(the spec block, the environment variables its placeholders need)."""
    env_vars: list[str] = []

    def walk(value: Any, attr: Attribute | None, path: tuple) -> Any:
        sensitive = attr is not None and attr.sensitive
        if is_masked(value) or (sensitive and isinstance(value, str) and value):
            var = env_var_for(local_name, path)
            env_vars.append(var)
            return "${env:" + var + "}"
        if isinstance(value, dict):
            fields = attr.fields if attr is not None and attr.kind == "object" else {}
            return {k: walk(v, fields.get(k), path + (k,)) for k, v in value.items()
                    if v not in (None, "", [], {}) and not _server_set(fields.get(k), v)}
        if isinstance(value, list):
            item = attr.item if attr is not None else None
            return [walk(v, item, path + (i,)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return value.replace("${", "$${")
        return value

    block: dict[str, Any] = {"name": live.get("name", local_name)}
    type_id = live_type(live)
    if type_id != "api":
        block["type"] = type_id
    if organization:
        block["organization"] = organization
    block["configuration"] = walk(live.get("configuration") or {}, schema.configuration, ())
    return block, env_vars
