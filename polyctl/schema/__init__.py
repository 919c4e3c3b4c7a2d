"""Connection-type schemas: what a `configuration` may hold, per connection type.

`TypeSchema` is what the rest of polyctl asks: validate a configuration, give its
comparison form (sets sorted), say whether an attribute path exists. The `api` type
is built in (from the seed); any other type is open (any mapping) unless a JSON
Schema for it is handed in by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from polyctl.diagnostics import AttrPath
from polyctl.schema.api_type import API_CONFIGURATION
from polyctl.schema.attributes import Attribute, Reporter, canonical, find, validate

__all__ = ["Attribute", "TypeSchema", "schema_for", "API_CONFIGURATION"]

_OPEN = Attribute("object", open=True)


@dataclass(frozen=True)
class TypeSchema:
    type_id: str
    configuration: Attribute
    known: bool = True  # False: no schema, any mapping accepted

    def validate(self, config: Any, path: AttrPath, report: Reporter) -> Any:
        return validate(config, self.configuration, path, report)

    def canonical(self, config: Any) -> Any:
        return canonical(config, self.configuration)

    def has_path(self, path: AttrPath) -> bool:
        return find(self.configuration, path) is not None

    def attribute(self, path: AttrPath) -> Attribute | None:
        return find(self.configuration, path)


_BUILTIN = {"api": TypeSchema("api", API_CONFIGURATION)}


def schema_for(type_id: str, extra: dict[str, TypeSchema] | None = None) -> TypeSchema:
    if extra and type_id in extra:
        return extra[type_id]
    return _BUILTIN.get(type_id) or TypeSchema(type_id, _OPEN, known=False)
