"""Connection types described by the API's own JSON Schemas (draft 2020-12).

Polytomic serves each type's configuration schema with extensions a standard
validator does not understand. `from_json_schema` normalises them and builds two
views of the same schema:

- a standard JSON Schema checked with the `jsonschema` library: `enum` lists of
  `{value, label}` objects become their values, every object with declared
  properties rejects unknown keys, read-only and internal fields are not settable;
- an `Attribute` tree (polyctl's own) for what validation does not answer: which
  leaves are sensitive (`sensitive`, `password`), which are read-only (`readOnly`,
  `readonly`, `hidden` without `api_field`) or defaulted (for drift), which lists are
  sets, and titles/examples for `types show` and `types scaffold`.

Error messages are written here from the validator's facts, never from its text:
jsonschema's messages quote the offending value, which may be a secret.
"""

from __future__ import annotations

import copy
import json
from functools import cached_property
from typing import Any

from polyctl.diagnostics import AttrPath, did_you_mean, format_path
from polyctl.schema.attributes import Attribute, Reporter, describe, find, validate
from polyctl.values import Secret, reveal

_SCALARS = {"string", "integer", "number", "boolean"}
_TYPE_WORDS = {"string": "a string", "integer": "a whole number", "number": "a number",
               "boolean": "true or false", "object": "a mapping", "array": "a list",
               "null": "null"}


def enum_values(enum: list[Any]) -> tuple[Any, ...]:
    return tuple(e["value"] if isinstance(e, dict) and "value" in e else e for e in enum)


def is_read_only(node: dict[str, Any]) -> bool:
    if node.get("readOnly") or node.get("readonly"):
        return True
    return bool(node.get("hidden")) and not node.get("api_field")


def _is_set(node: dict[str, Any], item: dict[str, Any]) -> bool:
    """Arrays compare as sets when they are multi-selects or name/value pairs."""
    if node.get("uniqueItems") or "enum" in item:
        return True
    props = set((item.get("properties") or {}).keys())
    return props in ({"value", "label"}, {"name", "value"})


def to_attribute(node: dict[str, Any], *, required: bool = False) -> Attribute:
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    common = dict(
        required=required,
        sensitive=bool(node.get("sensitive") or node.get("password")),
        description=str(node.get("description") or node.get("api_description") or ""),
        title=str(node.get("title") or ""),
        examples=tuple(node.get("examples") or ()),
        enum=enum_values(node["enum"]) if isinstance(node.get("enum"), list) else (),
        default=node.get("default"),
        read_only=is_read_only(node),
    )
    if kind == "object" or "properties" in node:
        props = node.get("properties") or {}
        needed = set(node.get("required") or ())
        return Attribute("object", fields={k: to_attribute(v, required=k in needed)
                                           for k, v in props.items()},
                         open="properties" not in node
                         or node.get("additionalProperties") not in (None, False),
                         **common)
    if kind == "array":
        item = node.get("items") if isinstance(node.get("items"), dict) else {}
        return Attribute("set" if _is_set(node, item) else "list", item=to_attribute(item),
                         **common)
    return Attribute(kind if kind in _SCALARS else "any", **common)


_SUBSCHEMA = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
_SUBSCHEMA_LISTS = ("oneOf", "anyOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("dependentSchemas", "patternProperties", "$defs", "definitions")


def normalize(node: Any) -> Any:
    """A standard draft 2020-12 schema from a Polytomic one (walks keywords, not data:
    a field may well be called "properties")."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "enum" and isinstance(value, list):
            out[key] = list(enum_values(value))
        elif key in _SUBSCHEMA and isinstance(value, dict):
            out[key] = normalize(value)
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [normalize(v) for v in value]
        elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: normalize(v) for name, v in value.items()}
        elif key != "properties":
            out[key] = value
    props = node.get("properties")
    if isinstance(props, dict):
        settable = {k: v for k, v in props.items() if isinstance(v, dict) and not is_read_only(v)}
        out["properties"] = {k: normalize(v) for k, v in settable.items()}
        if "additionalProperties" not in node:  # even `properties: {}` declares them all
            out["additionalProperties"] = False
        if isinstance(node.get("required"), list):
            out["required"] = [r for r in node["required"] if r in settable]
    return out


class _Quiet:
    def error(self, *args, **kwargs) -> None:
        pass


class _Once:
    """Passes each distinct error on once (jsonschema repeats `required` per property)."""

    def __init__(self, report: Reporter, seen: set[tuple]) -> None:
        self.report, self.seen = report, seen

    def error(self, path, summary, detail, *, key: bool = False) -> None:
        if (tuple(path), summary, detail) not in self.seen:
            self.seen.add((tuple(path), summary, detail))
            self.report.error(path, summary, detail, key=key)


class JsonSchemaChecker:
    """Validation of one type's configuration with `jsonschema`, errors located."""

    def __init__(self, type_id: str, raw: dict[str, Any], attribute: Attribute) -> None:
        self.type_id, self.raw, self.attribute = type_id, raw, attribute

    @cached_property
    def validator(self):
        from jsonschema import Draft202012Validator

        schema = normalize(copy.deepcopy(self.raw))
        schema.pop("$id", None)
        return Draft202012Validator(schema)

    def validate(self, config: Any, path: AttrPath, report: Reporter) -> Any:
        # secrets wrapped, interpolated numbers converted, nulls dropped, unknown keys kept
        cleaned = validate(config, self.attribute, path, _Quiet(), keep_unknown=True)
        errors = sorted(self.validator.iter_errors(reveal(cleaned)),
                        key=lambda e: list(e.absolute_path))
        seen: set[tuple] = set()
        for error in errors:
            self._report(error, cleaned, path, _Once(report, seen))
        return cleaned

    def _report(self, error, instance_root: Any, base: AttrPath, report: Reporter) -> None:
        where = base + tuple(error.absolute_path)
        rel = tuple(error.absolute_path)
        attr = find(self.attribute, rel)
        value = _at(instance_root, rel)
        secret = isinstance(value, Secret) or (attr is not None and attr.sensitive)
        got = "a sensitive value" if secret else describe(value)
        kind = error.validator
        if kind == "required":
            present = value if isinstance(value, dict) else {}
            for name in error.validator_value:
                if name not in present:
                    sub = find(self.attribute, rel + (name,))
                    what = f" ({_TYPE_WORDS.get(sub.kind, 'a value')})" if sub else ""
                    report.error(where, "Missing required attribute",
                                 f'{format_path(where) or "configuration"} must set "{name}"{what}'
                                 f" for connection type \"{self.type_id}\".", key=True)
        elif kind == "additionalProperties":
            declared = error.schema.get("properties", {})
            node = _raw_at(self.raw, rel)
            every = (node or {}).get("properties", {})
            for key in value if isinstance(value, dict) else {}:
                if key in declared:
                    continue
                if key in every:
                    report.error(where + (key,), "Read-only attribute",
                                 f'"{key}" is set by Polytomic and cannot be written in a spec.',
                                 key=True)
                    continue
                allowed = ", ".join(sorted(declared)) or "(none)"
                report.error(where + (key,), "Unsupported attribute",
                             f'An attribute named "{key}" is not expected in '
                             f'{format_path(where) or "configuration"} of connection type '
                             f'"{self.type_id}".{did_you_mean(key, declared)} '
                             f"Expected one of: {allowed}.", key=True)
        elif kind == "type":
            expected = error.validator_value
            words = " or ".join(_TYPE_WORDS.get(t, t) for t in (
                expected if isinstance(expected, list) else [expected]))
            hint = " Quote the value to make it a string." if "string" in str(expected) and \
                isinstance(value, (int, float, bool)) and not secret else ""
            report.error(where, "Incorrect attribute value type",
                         f"{format_path(where)}: expected {words}, got {got}.{hint}")
        elif kind == "enum":
            allowed = ", ".join(json.dumps(v) for v in error.validator_value)
            report.error(where, "Invalid value",
                         f"{format_path(where)}: expected one of {allowed}; got {got}.")
        else:
            report.error(where, "Invalid value",
                         f"{format_path(where)}: does not satisfy the schema's "
                         f"{kind} rule ({json.dumps(error.validator_value)[:80]}).")


def _at(tree: Any, path: tuple) -> Any:
    for part in path:
        try:
            tree = tree[part]
        except (KeyError, IndexError, TypeError):
            return None
    return tree


def _raw_at(schema: dict[str, Any], path: tuple) -> dict[str, Any] | None:
    node: Any = schema
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get("items") if isinstance(part, int) else (node.get("properties") or {}).get(part)
    return node if isinstance(node, dict) else None
