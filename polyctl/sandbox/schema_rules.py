"""What a connection type's JSON Schema means to the server: checking, defaults, masking.

The real backend decodes a configuration into a Go struct generated alongside the JSON
Schema it serves, so the sandbox imitates what such a decoder does [INFERRED]:

- a value of the wrong JSON type is a 400 (all problems reported together);
- keys the schema does not declare are dropped (a struct has nowhere to put them), and
  so are `readOnly`/`readonly` keys, which only the server may set;
- declared `default`s fill keys the request omitted, which is why responses carry
  settings nobody sent (the list fixture shows `ssl`, `change_detection`, …);
- `required` keys must be present, except hidden, read-only or undeclared ones (OAuth
  tokens are "required" by some schemas yet only ever set by the OAuth flow);
- enums are not checked: their values come as `{value, label}` objects.

Masking replaces every non-empty value of a `sensitive` property, at any depth and
inside arrays, with `MASK`; empty strings stay `""` as in the official fixtures.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError

MASK = "********"

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "array": (list,),
    "object": (dict,),
}


def _read_only(prop: dict[str, Any]) -> bool:
    return bool(prop.get("readOnly") or prop.get("readonly"))


def _type_ok(value: Any, expected: Any) -> bool:
    names = expected if isinstance(expected, list) else [expected]
    for name in names:
        if name == "null" and value is None:
            return True
        kinds = _JSON_TYPES.get(name)
        if kinds is None:
            return True  # a type we do not model: accept rather than reject valid input
        if isinstance(value, bool) and name in ("integer", "number"):
            continue
        if isinstance(value, kinds):
            return True
        if name == "integer" and isinstance(value, float) and value.is_integer():
            return True
    return False


def prepare(schema: dict[str, Any], configuration: dict[str, Any]) -> dict[str, Any]:
    """The configuration to store, or ApiError(400) listing every problem found."""
    problems: list[str] = []
    prepared = _prepare(schema, configuration, "configuration", problems)
    if problems:
        raise ApiError(
            400,
            "invalid configuration: " + "; ".join(problems),
            key="invalid_configuration",
            metadata={"errors": problems},
        )
    return prepared


def _prepare(schema: dict[str, Any], value: Any, path: str, problems: list[str]) -> Any:
    if value is None:
        return None
    expected = schema.get("type")
    if expected is not None and not _type_ok(value, expected):
        problems.append(f"{path}: expected {expected}, got {type(value).__name__}")
        return value
    props = schema.get("properties")
    if isinstance(value, dict) and isinstance(props, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            prop = props.get(key)
            if prop is None or _read_only(prop):
                continue
            out[key] = _prepare(prop, item, f"{path}.{key}", problems)
        for key, prop in props.items():
            if key not in out and "default" in prop and not _read_only(prop):
                out[key] = copy.deepcopy(prop["default"])
        for key in schema.get("required", ()):
            prop = props.get(key)
            if prop is None or prop.get("hidden") or _read_only(prop):
                continue
            if out.get(key) is None:
                problems.append(f"{path}.{key}: required")
        return out
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, dict):
        return [_prepare(items, item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    return value


def mask(schema: dict[str, Any], value: Any) -> Any:
    """A copy of `value` with every sensitive, non-empty leaf replaced by MASK."""
    props = schema.get("properties")
    if isinstance(value, dict) and isinstance(props, dict):
        out = {}
        for key, item in value.items():
            prop = props.get(key)
            if prop is None:
                out[key] = item
            elif prop.get("sensitive") and item not in ("", None):
                out[key] = MASK
            else:
                out[key] = mask(prop, item)
        return out
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, dict):
        return [mask(items, item) for item in value]
    return value
