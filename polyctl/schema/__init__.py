"""Connection-type schemas: what a `configuration` may hold, per connection type.

`TypeSchema` is what the rest of polyctl asks: validate a configuration, give its
comparison form (sets sorted), say whether an attribute path exists. The `api` type
is built in (from the seed); any other type is open (any mapping) unless a JSON
Schema for it is handed in by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from polyctl.diagnostics import AttrPath, PathElement
from polyctl.schema.api_type import API_CONFIGURATION
from polyctl.schema.attributes import Attribute, Reporter, canonical, find, validate

__all__ = ["Attribute", "TypeSchema", "schema_for", "API_CONFIGURATION"]

_OPEN = Attribute("object", open=True)


@dataclass(frozen=True)
class TypeSchema:
    type_id: str
    configuration: Attribute
    known: bool = True  # False: no schema, any mapping accepted
    checker: Any = field(default=None, compare=False, repr=False)  # JsonSchemaChecker

    def validate(self, config: Any, path: AttrPath, report: Reporter) -> Any:
        if self.checker is not None:
            return self.checker.validate(config, path, report)
        return validate(config, self.configuration, path, report)

    def canonical(self, config: Any) -> Any:
        return canonical(config, self.configuration)

    def has_path(self, path: AttrPath) -> bool:
        return find(self.configuration, path) is not None

    def attribute(self, path: AttrPath) -> Attribute | None:
        return find(self.configuration, path)

    def is_set_at(self, record_path: Sequence[PathElement]) -> bool:
        """Whether a path in a resource record (`("configuration", …)`) names a set,
        whose elements compare without order."""
        if len(record_path) < 2 or record_path[0] != "configuration":
            return False
        attr = self.attribute(tuple(record_path[1:]))
        return attr is not None and attr.is_set


_BUILTIN = {"api": TypeSchema("api", API_CONFIGURATION)}


def from_json_schema(type_id: str, raw: dict[str, Any]) -> TypeSchema:
    """A type described by the API's JSON Schema (`GET /api/connection_types/{id}`)."""
    from polyctl.schema.jsonschema_type import JsonSchemaChecker, to_attribute

    attribute = to_attribute(raw)
    return TypeSchema(type_id, attribute, checker=JsonSchemaChecker(type_id, raw, attribute))


class SchemaSource(Protocol):
    """Where the spec loader gets schemas of types other than the built-in ones.

    `lookup` returns the type's schema; `None` when it cannot be known now (offline,
    no credentials: the type is accepted unchecked and reported); raises
    `UnknownTypeError` for an id the API does not have.
    """

    def lookup(self, type_id: str) -> TypeSchema | None: ...


class UnknownTypeError(LookupError):
    def __init__(self, type_id: str, known: list[str]) -> None:
        super().__init__(type_id)
        self.type_id, self.known = type_id, known

    @property
    def suggestion(self) -> str:
        """' Did you mean "a" or "b"?' with up to three close ids, else ''."""
        import difflib

        close = difflib.get_close_matches(self.type_id, self.known, n=3, cutoff=0.5)
        return (" Did you mean " + " or ".join(f'"{c}"' for c in close) + "?") if close else ""


def builtin(type_id: str) -> TypeSchema | None:
    return _BUILTIN.get(type_id)


def schema_for(type_id: str, extra: dict[str, TypeSchema] | None = None) -> TypeSchema:
    if extra and type_id in extra:
        return extra[type_id]
    return _BUILTIN.get(type_id) or TypeSchema(type_id, _OPEN, known=False)
