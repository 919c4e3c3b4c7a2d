"""A small attribute-schema language and its validator.

Connection types describe their `configuration` as a tree of `Attribute`s (strings,
integers, booleans, objects, lists and sets). `validate` walks a value against it,
reports every problem as a located diagnostic (with "did you mean" for unknown keys),
wraps sensitive leaves in `Secret`, drops explicit nulls (null means "not set"), and
returns the cleaned value. `canonical` gives the comparison form in which sets are
sorted, so `[a, b]` and `[b, a]` are the same set.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from polyctl.diagnostics import AttrPath, did_you_mean, format_path
from polyctl.values import Digest, Secret

Check = Callable[[Any], "str | None"]  # returns what was expected, or None when fine


@dataclass(frozen=True)
class Attribute:
    kind: str  # string | integer | number | boolean | object | list | set | any
    required: bool = False
    sensitive: bool = False
    description: str = ""
    fields: Mapping[str, "Attribute"] = field(default_factory=dict)
    item: "Attribute | None" = None
    check: Check | None = None
    open: bool = False  # object: accept keys not in `fields`
    enum: tuple[Any, ...] = ()
    default: Any = None
    read_only: bool = False  # set by Polytomic: never sent, ignored in drift
    title: str = ""
    examples: tuple[Any, ...] = ()

    @property
    def is_set(self) -> bool:
        return self.kind == "set"


class Reporter(Protocol):
    def error(self, path: AttrPath, summary: str, detail: str, *, key: bool = False) -> None: ...


_KIND_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "list": "a list",
    "set": "a list (a set: order does not matter, no duplicates)",
    "any": "a value",
}


def describe(value: Any) -> str:
    if isinstance(value, (Secret, Digest)):
        return "a sensitive value"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {json.dumps(shown)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _plain(value: Any) -> Any:
    return value.reveal() if isinstance(value, Secret) else value


def _type_ok(kind: str, value: Any) -> bool:
    raw = _plain(value)
    if kind == "string":
        return isinstance(raw, str)
    if kind == "integer":
        return isinstance(raw, int) and not isinstance(raw, bool)
    if kind == "number":
        return isinstance(raw, (int, float)) and not isinstance(raw, bool)
    if kind == "boolean":
        return isinstance(raw, bool)
    if kind == "object":
        return isinstance(raw, dict)
    if kind in ("list", "set"):
        return isinstance(raw, list)
    return True


def _coerce(kind: str, value: Any) -> Any:
    """An interpolated string where the schema wants a number or boolean is converted,
    as Terraform converts "5432" to 5432 (interpolation can only produce strings)."""
    if not isinstance(value, Secret) or not isinstance(value.reveal(), str):
        return value
    text = value.reveal().strip()
    try:
        if kind == "integer":
            return Secret(int(text))
        if kind == "number":
            number = float(text) if any(c in text for c in ".eE") else int(text)
            # "1e999" is infinity, which JSON cannot carry: left a string, it is refused
            return Secret(number) if math.isfinite(number) else value
    except ValueError:
        return value
    if kind == "boolean" and text.lower() in ("true", "false"):
        return Secret(text.lower() == "true")
    return value


def validate(value: Any, attr: Attribute, path: AttrPath, report: Reporter, *,
             keep_unknown: bool = False) -> Any:
    """Check `value` against `attr`; return the cleaned value (sensitive leaves as Secret).

    `keep_unknown` passes keys the schema does not declare through unreported (for a
    caller that reports them itself)."""
    value = _coerce(attr.kind, value)
    if not _type_ok(attr.kind, value):
        hint = ""
        if attr.kind == "string" and isinstance(value, (int, float, bool)):
            hint = " Quote the value to make it a string."
        report.error(path, "Incorrect attribute value type",
                     f"{format_path(path)}: expected {_KIND_NAMES[attr.kind]}, got "
                     f"{'a sensitive value' if attr.sensitive else describe(value)}.{hint}")
        return value
    if attr.kind == "object":
        return _validate_object(value, attr, path, report, keep_unknown)
    if attr.kind in ("list", "set"):
        return _validate_list(value, attr, path, report, keep_unknown)
    if attr.enum and _plain(value) not in attr.enum:
        allowed = ", ".join(json.dumps(v) for v in attr.enum)
        shown = "a sensitive value" if attr.sensitive or isinstance(value, Secret) else describe(value)
        report.error(path, "Invalid value",
                     f"{format_path(path)}: expected one of {allowed}; got {shown}.")
    if attr.check is not None:
        expected = attr.check(_plain(value))
        if expected:
            shown = "" if attr.sensitive or isinstance(value, Secret) else f" (got {describe(value)})"
            report.error(path, "Invalid value", f"{format_path(path)}: expected {expected}{shown}.")
    if attr.sensitive and not isinstance(value, Secret):
        return Secret(value)
    return value


def _validate_object(value: dict, attr: Attribute, path: AttrPath, report: Reporter,
                     keep_unknown: bool) -> dict:
    out: dict[str, Any] = {}
    for key, item in value.items():
        sub = attr.fields.get(key)
        if sub is None:
            if attr.open or keep_unknown:
                out[key] = item
                continue
            allowed = ", ".join(sorted(attr.fields)) or "(none)"
            report.error(path + (key,), "Unsupported attribute",
                         f'An attribute named "{key}" is not expected in '
                         f"{format_path(path) or 'this block'}.{did_you_mean(key, attr.fields)}"
                         f" Expected one of: {allowed}.", key=True)
            continue
        if item is None and not sub.required:
            continue  # an explicit null means "not set"
        out[key] = validate(item, sub, path + (key,), report, keep_unknown=keep_unknown)
    for key, sub in attr.fields.items():
        if sub.required and value.get(key) is None:
            report.error(path, "Missing required attribute",
                         f'{format_path(path) or "This block"} must set "{key}" '
                         f"({_KIND_NAMES[sub.kind]}).", key=True)
    return out


def _validate_list(value: list, attr: Attribute, path: AttrPath, report: Reporter,
                   keep_unknown: bool) -> list:
    assert attr.item is not None
    out = [validate(v, attr.item, path + (i,), report, keep_unknown=keep_unknown)
           for i, v in enumerate(value)]
    if attr.is_set and len(out) > 1:
        seen: dict[str, int] = {}
        for i, v in enumerate(out):
            key = canonical_key(v)
            if key in seen:
                report.error(path + (i,), "Duplicate set element",
                             f"{format_path(path)} is a set: element {i} repeats element "
                             f"{seen[key]}. Remove one of them.")
            else:
                seen[key] = i
    return out


def _key_default(value: Any) -> Any:
    if isinstance(value, Digest):
        return {"$sensitive": value.value}
    if isinstance(value, Secret):
        return {"$secret": value.reveal()}
    raise TypeError(type(value).__name__)


# One encoder for every key: json.dumps with options builds a new one per call, which
# cost more than the encoding itself (a refresh makes ~15 keys per connection).
_KEY_ENCODER = json.JSONEncoder(sort_keys=True, default=_key_default, separators=(",", ":"))


def canonical_key(value: Any) -> str:
    """A stable sort key for any (possibly sensitive) JSON-like value."""
    return _KEY_ENCODER.encode(value)


_NESTED = frozenset({"object", "list", "set"})


def canonical(value: Any, attr: Attribute | None) -> Any:
    """`value` with every set sorted (by `canonical_key`); other structure unchanged.

    What is already in order is handed back as it is, not copied (a plan of 10,000
    connections asks this of every configuration); what is not is copied, never
    sorted in place."""
    if attr is None:
        return value
    if isinstance(value, dict) and attr.kind == "object":
        out = None
        for key, item in value.items():
            sub = attr.fields.get(key)
            if sub is None or sub.kind not in _NESTED:
                continue
            done = canonical(item, sub)
            if done is not item:
                if out is None:
                    out = dict(value)
                out[key] = done
        return value if out is None else out
    if isinstance(value, list) and attr.kind in ("list", "set"):
        items = value
        if attr.item is not None and attr.item.kind in _NESTED:
            done = [canonical(v, attr.item) for v in value]
            if any(a is not b for a, b in zip(done, value)):
                items = done
        if attr.is_set and len(items) > 1:
            keys = [canonical_key(v) for v in items]
            if any(keys[i] > keys[i + 1] for i in range(len(keys) - 1)):
                order = sorted(range(len(items)), key=keys.__getitem__)  # stable
                items = [items[i] for i in order]
        return items
    return value


def find(attr: Attribute, path: AttrPath) -> Attribute | None:
    """The attribute at `path` (list indices skipped), or None if there is none."""
    node: Attribute | None = attr
    for element in path:
        if node is None:
            return None
        if node.kind in ("list", "set"):
            node = node.item
            if isinstance(element, int):
                continue
        if node is None or node.kind != "object":
            return None
        if node.open and element not in node.fields:
            return Attribute("any")
        node = node.fields.get(element)  # type: ignore[arg-type]
    return node
