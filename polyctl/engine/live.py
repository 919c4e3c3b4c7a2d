"""Reading a connection as the API returns it into a state resource, safely.

The API masks secrets (`"********"`) or leaves them out, may echo server defaults the
spec never set, and answers plain values for fields that polyctl treats as sensitive
because they were interpolated. `reconcile_live` folds all of that against the prior
state so that only real changes look like drift:

- masked or missing where the prior holds a digest → keep the prior digest (unknown,
  assumed unchanged: a mask is never data);
- a plain value where the prior holds a digest → its digest (so a changed interpolated
  value is seen, and never stored or shown);
- a masked value with no prior → `UNKNOWN_SECRET`, a digest nothing matches (so the
  next plan sends the spec's secret, e.g. after import);
- an empty value (`""`, `[]`, `{}`, null) for a key the prior never had, a read-only
  field, or a server default the spec did not set → ignored.

Most connections have not changed since the last run: `_unchanged` first checks that
the live object folds to exactly the prior configuration by the rules above, without
building anything, and the prior is reused as it is. Whatever it is unsure of (a list
whose length or order moved, a type that changed, a new non-empty key) goes the whole
way through `_merge`.
"""

from __future__ import annotations

from typing import Any

from polyctl.api import is_masked
from polyctl.resource import Lifecycle
from polyctl.schema import TypeSchema
from polyctl.schema.attributes import Attribute, canonical_key
from polyctl.state.model import ResourceState
from polyctl.values import Digest, digest_of

UNKNOWN_SECRET = Digest("sha256:unknown")
_MISSING: Any = object()


def live_type(live: dict[str, Any]) -> str:
    t = live.get("type")
    if isinstance(t, dict):
        return str(t.get("id", ""))
    return str(t or "")


def reconcile_live(live: dict[str, Any], prior: ResourceState | None, salt: str,
                   schema: TypeSchema) -> ResourceState:
    """The state resource that `live` (an API connection object) stands for."""
    live_config = live.get("configuration") or {}
    if prior is not None and isinstance(prior.configuration, dict) and \
            _unchanged(live_config, prior.configuration, salt, schema.configuration):
        config = prior.configuration
    else:
        config = _merge(live_config, prior.configuration if prior else _MISSING, salt,
                        schema.configuration)
        if config is _MISSING or not isinstance(config, dict):
            config = {}
        config = schema.canonical(config)
    return ResourceState(
        id=str(live["id"]),
        type=live_type(live) or (prior.type if prior else ""),
        name=str(live.get("name", prior.name if prior else "")),
        configuration=config,
        organization=prior.organization if prior else None,
        organization_id=live.get("organization_id") or (prior.organization_id if prior else None),
        force_destroy=prior.force_destroy if prior else None,
        lifecycle=prior.lifecycle if prior else Lifecycle(),
    )


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _merge(live: Any, prior: Any, salt: str, attr: Attribute | None) -> Any:
    sensitive = attr is not None and attr.sensitive
    if isinstance(prior, Digest):
        if live is _MISSING or live is None or is_masked(live):
            return prior
        return digest_of(live, salt)
    if live is _MISSING:
        return _MISSING
    if is_masked(live) or (sensitive and not _empty(live)):
        return UNKNOWN_SECRET
    if prior is _MISSING and _empty(live):
        return _MISSING
    if isinstance(live, dict):
        prior_map = prior if isinstance(prior, dict) else {}
        out = {}
        for key in list(live) + [k for k in prior_map if k not in live]:
            sub = _child(attr, key)
            if key not in prior_map and _server_owned(sub, live.get(key)):
                continue
            merged = _merge(live.get(key, _MISSING), prior_map.get(key, _MISSING), salt, sub)
            if merged is not _MISSING:
                out[key] = merged
        return out
    if isinstance(live, list):
        item_attr = attr.item if attr is not None and attr.kind in ("list", "set") else None
        prior_list = prior if isinstance(prior, list) else []
        if attr is not None and attr.is_set:
            keys: list[str | None] = [None] * len(prior_list)  # filled as needed
            merged = [_merge_element(v, prior_list, keys, salt, item_attr) for v in live]
        else:
            merged = [_merge(v, prior_list[i] if i < len(prior_list) else _MISSING, salt,
                             item_attr) for i, v in enumerate(live)]
        # an empty element with nothing before it is still an element of the list
        return [v if m is _MISSING else m for m, v in zip(merged, live)]
    return live


def _unchanged(live: Any, prior: Any, salt: str, attr: Attribute | None) -> bool:
    """True only if `_merge(live, prior, …)` would give back a value equal to `prior`: a
    cheap walk over both, no copies. False means "not sure", never "changed". (Where the
    two differ, it is in the fast check's favour: in a set whose elements look alike to
    `_merge_element` — differing only in secrets, or in keys the prior lacks whose live
    values are empty or server defaults — the full fold matches several live elements
    to the first of them.)"""
    if isinstance(prior, Digest):
        if live is None or is_masked(live):
            return True
        return digest_of(live, salt) == prior
    if type(live) is not type(prior):  # also keeps 1, 1.0 and true apart
        return False
    if is_masked(live) or (attr is not None and attr.sensitive and not _empty(live)):
        return False  # a secret with no digest before it: unknown, not unchanged
    if isinstance(live, dict):
        for key, value in live.items():
            sub = _child(attr, key)
            if key in prior:
                if not _unchanged(value, prior[key], salt, sub):
                    return False
            elif not (_empty(value) or _server_owned(sub, value)):
                return False
        # a prior key the API no longer returns survives only as a kept digest
        return all(key in live or isinstance(value, Digest) for key, value in prior.items())
    if isinstance(live, list):
        if len(live) != len(prior):
            return False
        item = attr.item if attr is not None and attr.kind in ("list", "set") else None
        return all(_unchanged(v, p, salt, item) for v, p in zip(live, prior))
    return live == prior


def _server_owned(attr: Attribute | None, value: Any) -> bool:
    """A value the spec never set that the server fills in: read-only, or its default."""
    if attr is None:
        return False
    return attr.read_only or (attr.default is not None and value == attr.default)


def _child(attr: Attribute | None, key: str) -> Attribute | None:
    if attr is None or attr.kind != "object":
        return None
    return attr.fields.get(key)


def _merge_element(live: Any, prior: list, keys: list[str | None], salt: str,
                   attr: Attribute | None) -> Any:
    """A live set element merged with the prior element it corresponds to: the one it is
    identical to once concealed, else the one with the same `name` (so a changed secret
    inside a named element stays secret), else none. `keys` caches the prior elements'
    canonical keys across the elements of one set."""
    for i, candidate in enumerate(prior):
        merged = _merge(live, candidate, salt, attr)
        if keys[i] is None:
            keys[i] = canonical_key(candidate)
        if canonical_key(merged) == keys[i]:
            return merged  # _merge is pure: this is what merging with it again gives
    if isinstance(live, dict) and "name" in live:
        for candidate in prior:
            if isinstance(candidate, dict) and candidate.get("name") == live["name"]:
                return _merge(live, candidate, salt, attr)
    return _merge(live, _MISSING, salt, attr)
