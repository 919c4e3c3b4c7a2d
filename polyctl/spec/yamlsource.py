"""YAML files → plain Python data plus the location of every value and key.

PyYAML's composer gives nodes with marks; we build the data ourselves so that each
path (`("connections", "example", "configuration", "url")`) maps to the file, line and
column where it was written, and so that duplicate keys — which PyYAML silently
collapses — are reported with both places. Keys are always taken as strings (`on:`
is a key named "on", not a boolean).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from polyctl.diagnostics import AttrPath, Diagnostics, Location

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.constructor.SafeConstructor()

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


@dataclass
class SourceDoc:
    """One parsed file: its data and where each part of it was written."""

    file: str
    data: Any
    values: dict[AttrPath, Location] = field(default_factory=dict)
    keys: dict[AttrPath, Location] = field(default_factory=dict)

    def where(self, path: AttrPath, *, key: bool = False) -> Location:
        """Location of `path`'s key (or value), else of its nearest written ancestor."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            loc = table.get(probe) or self.values.get(probe)
            if loc:
                return loc
            probe = probe[:-1]
        return self.values.get((), Location(self.file, 1, 1))


def _loc(file: str, node: yaml.Node) -> Location:
    mark = node.start_mark
    return Location(file, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file: str, diags: Diagnostics) -> None:
        self.file = file
        self.diags = diags
        self.values: dict[AttrPath, Location] = {}
        self.keys: dict[AttrPath, Location] = {}

    def build(self, node: yaml.Node, path: AttrPath) -> Any:
        self.values[path] = _loc(self.file, node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
        if node.tag == _STR:
            return node.value
        try:
            return _constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.diags.error("Invalid YAML value", str(exc).splitlines()[0],
                             location=_loc(self.file, node))
            return None
        except (ValueError, TypeError, KeyError, AttributeError):
            # PyYAML's constructors raise these for an explicit tag the text does not fit
            # (`!!int many`, `!!bool maybe`, `!!timestamp soon`).
            self.diags.error("Invalid YAML value",
                             f'"{node.value}" is not a valid {node.tag.rpartition(":")[2]}.',
                             location=_loc(self.file, node))
            return None

    def _mapping(self, node: yaml.MappingNode, path: AttrPath) -> dict[str, Any]:
        if any(k.tag == _MERGE for k, _ in node.value):
            _constructor.flatten_mapping(node)  # resolve `<<: *anchor` merge keys
        out: dict[str, Any] = {}
        first_seen: dict[str, Location] = {}
        for key_node, value_node in node.value:
            key_loc = _loc(self.file, key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                self.diags.error("Invalid key", "Mapping keys must be plain strings.",
                                 location=key_loc)
                continue
            key = key_node.value
            if key in first_seen:
                prev = first_seen[key]
                self.diags.error(
                    f'Duplicate key "{key}"',
                    f"The key is also defined at {prev}; each key may appear once.",
                    location=key_loc,
                )
                continue
            first_seen[key] = key_loc
            self.keys[path + (key,)] = key_loc
            out[key] = self.build(value_node, path + (key,))
        return out


def load_yaml(path: Path, display: str, diags: Diagnostics) -> SourceDoc | None:
    """Parse one file; problems go to `diags` (and the result is None if unusable)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        diags.error("Spec file is not UTF-8 text", str(exc), location=Location(display, 1, 1))
        return None
    except OSError as exc:
        diags.error("Cannot read spec file", exc.strerror or str(exc),
                    location=Location(display, 1, 1))
        return None
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display, 1, 1)
        detail = " ".join(p for p in (exc.context, exc.problem) if p)
        diags.error("Invalid YAML", detail[:1].upper() + detail[1:] + ".", location=where)
        return None
    except yaml.YAMLError as exc:
        diags.error("Invalid YAML", str(exc), location=Location(display, 1, 1))
        return None
    except RecursionError:
        diags.error("Invalid YAML", "The document is nested too deeply.",
                    location=Location(display, 1, 1))
        return None
    if len(nodes) > 1:
        diags.error("Multiple YAML documents",
                    "A spec file holds one document; split the others into their own files.",
                    location=_loc(display, nodes[1]))
        return None
    if not nodes:
        return SourceDoc(display, None)
    builder = _Builder(display, diags)
    try:
        data = builder.build(nodes[0], ())
    except RecursionError:
        diags.error("Invalid YAML", "The document is nested too deeply.",
                    location=Location(display, 1, 1))
        return None
    return SourceDoc(display, data, builder.values, builder.keys)
