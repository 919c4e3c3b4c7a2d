"""YAML files → plain Python data plus the location of every value and key.

Two readers, one result. The fast one (`yamlfast`) builds data straight from libyaml's
event stream (resolving plain scalars as PyYAML does, memoised), with no positions:
that is what a 10,000-connection spec set pays for. Locations are only needed to report
a problem, so `SourceDoc.where()` builds them on first use with the slow reader (here),
which walks PyYAML's composed nodes and records each path
(`("connections", "example", "configuration", "url")`) → file, line, column. Anything
unusual for the fast reader (duplicate keys, merge keys, explicit tags, several
documents, complex keys) sends the whole file to the slow reader, which also reports
duplicate keys — PyYAML silently collapses them — with both places. Keys are always
strings (`on:` is a key named "on", not a boolean).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from polyctl.diagnostics import AttrPath, Diagnostics, Location
from polyctl.spec.model import address_of
from polyctl.spec.yamlfast import (
    CONSTRUCTOR, LOADER, MAX_DEPTH, MAX_VALUES, TIMESTAMP, TooBig, Unusual, fast_load,
    non_json_number,
)

_STR = "tag:yaml.org,2002:str"
_JSON_SCALARS = {f"tag:yaml.org,2002:{t}" for t in ("int", "float", "bool", "null")}
_MERGE = "tag:yaml.org,2002:merge"


@dataclass
class SourceDoc:
    """One parsed file: its data and where each part of it was written."""

    file: str
    data: Any
    values: dict[AttrPath, Location] = field(default_factory=dict)
    keys: dict[AttrPath, Location] = field(default_factory=dict)
    text: str | None = None  # kept until positions are built on demand

    def where(self, path: AttrPath, *, key: bool = False) -> Location:
        """Location of `path`'s key (or value), else of its nearest written ancestor."""
        if self.text is not None:
            if key and tuple(path) in self.keys:
                return self.keys[tuple(path)]  # a shallow key the fast reader placed
            self._locate()
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            loc = table.get(probe) or self.values.get(probe)
            if loc:
                return loc
            probe = probe[:-1]
        return self.values.get((), Location(self.file, 1, 1))


    def _locate(self) -> None:
        text, self.text = self.text, None
        builder = _Builder(self.file, Diagnostics())
        try:
            nodes = list(yaml.compose_all(text, Loader=LOADER))
            if nodes:
                builder.build(nodes[0], ())
        except (yaml.YAMLError, RecursionError):  # the fast reader accepted it; be safe
            pass
        self.values, self.keys = builder.values, builder.keys


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column:column + 1] if 0 <= line < len(lines) else ""


def _loc(file: str, node: yaml.Node) -> Location:
    mark = node.start_mark
    return Location(file, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file: str, diags: Diagnostics) -> None:
        self.file = file
        self.diags = diags
        self.values: dict[AttrPath, Location] = {}
        self.keys: dict[AttrPath, Location] = {}
        # An aliased node is built once and shared, as the fast reader does; `total`
        # counts the values the document expands to.
        self._built: dict[int, tuple[Any, int]] = {}
        self._open: set[int] = set()
        self.total = 0
        self._too_big = False

    def build(self, node: yaml.Node, path: AttrPath) -> Any:
        self.values[path] = _loc(self.file, node)
        done = self._built.get(id(node))
        if done is not None:
            self._count(done[1], node)
            return done[0]
        if id(node) in self._open:
            self.diags.error("Invalid YAML", "An alias refers to a collection that contains "
                             "it: the value would be infinite.", location=_loc(self.file, node))
            return None
        if len(path) > MAX_DEPTH:
            self.diags.error("Invalid YAML", f"The document is nested more than {MAX_DEPTH} "
                             "levels deep.", location=_loc(self.file, node))
            return None
        before = self.total
        self._open.add(id(node))
        try:
            value = self._value(node, path)
        finally:
            self._open.discard(id(node))
        self._count(1, node)
        self._built[id(node)] = (value, self.total - before)
        return value

    def _count(self, values: int, node: yaml.Node) -> None:
        self.total += values
        if self.total > MAX_VALUES and not self._too_big:
            self._too_big = True
            self.diags.error("Invalid YAML", f"The document expands to more than {MAX_VALUES:,} "
                             "values (through aliases).", location=_loc(self.file, node))

    def _value(self, node: yaml.Node, path: AttrPath) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
        if node.tag == _STR or node.tag == TIMESTAMP:
            return node.value
        if node.tag not in _JSON_SCALARS:  # !!binary, !!set, a local !tag: not JSON data
            self.diags.error("Unsupported YAML tag",
                             f'"{node.tag}" does not describe JSON data; a spec holds strings, '
                             "numbers, booleans, null, lists and mappings.",
                             location=_loc(self.file, node))
            return None
        try:
            value = CONSTRUCTOR.construct_object(node, deep=True)
            if non_json_number(value):
                self.diags.error("Invalid number", f"{node.value} cannot be sent to Polytomic: "
                                 "the API takes JSON, which has no NaN or infinity.",
                                 location=_loc(self.file, node), **_attribute(path))
                return None
            return value
        except yaml.YAMLError as exc:
            self.diags.error("Invalid YAML value", str(exc).splitlines()[0],
                             location=_loc(self.file, node))
            return None
        except (ValueError, TypeError, KeyError, AttributeError):
            # PyYAML's constructors raise these for an explicit tag the text does not fit
            # (`!!int many`, `!!bool maybe`, `!!timestamp soon`), or an integer with more
            # digits than Python converts.
            shown = node.value if len(node.value) <= 40 else node.value[:40] + "…"
            self.diags.error("Invalid YAML value",
                             f'"{shown}" is not a valid {node.tag.rpartition(":")[2]}.',
                             location=_loc(self.file, node))
            return None

    def _mapping(self, node: yaml.MappingNode, path: AttrPath) -> dict[str, Any]:
        if any(k.tag == _MERGE for k, _ in node.value):
            CONSTRUCTOR.flatten_mapping(node)  # resolve `<<: *anchor` merge keys
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
                    location=key_loc, **_attribute(path + (key,)),
                )
                continue
            first_seen[key] = key_loc
            self.keys[path + (key,)] = key_loc
            out[key] = self.build(value_node, path + (key,))
        return out


def _attribute(path: AttrPath) -> dict[str, Any]:
    """The resource address and attribute path of a spec file's data path, if any."""
    if len(path) >= 2 and path[0] == "connections" and isinstance(path[1], str):
        return {"address": address_of(path[1]), "path": path[2:]}
    return {}


def load_yaml(path: Path, display: str, diags: Diagnostics) -> SourceDoc | None:
    """Parse one file; problems go to `diags` (and the result is None if unusable)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        before = exc.object[:exc.start]
        column = len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1
        diags.error("Spec file is not UTF-8 text",
                    f"Byte 0x{exc.object[exc.start]:02x} cannot be read as UTF-8 ({exc.reason}).",
                    location=Location(display, before.count(b"\n") + 1, column))
        return None
    except OSError as exc:
        diags.error("Cannot read spec file", exc.strerror or str(exc),
                    location=Location(display, 1, 1))
        return None
    try:
        data, shallow_keys = fast_load(text, display)
        return SourceDoc(display, data, keys=shallow_keys, text=text)
    except Unusual:
        pass  # the slow reader handles (and reports) the unusual
    except TooBig as exc:
        diags.error("Invalid YAML", str(exc), location=_mark_loc(display, exc.mark))
        return None
    except (yaml.YAMLError, RecursionError, ValueError):
        pass  # the slow reader reports syntax errors (and unreadable values) with their place
    try:
        nodes = list(yaml.compose_all(text, Loader=LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display, 1, 1)
        detail = " ".join(p for p in (exc.context, exc.problem) if p)
        detail = detail[:1].upper() + detail[1:] + "."
        if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
            detail += " YAML does not allow tabs for indentation: use spaces."
        diags.error("Invalid YAML", detail, location=where)
        return None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        diags.error("Invalid YAML", _reader_problem(exc), location=_reader_loc(display, text, exc))
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


def _mark_loc(file: str, mark: Any) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def _reader_loc(file: str, text: str, exc: yaml.reader.ReaderError) -> Location:
    """Where a ReaderError's position (bytes for libyaml, characters otherwise) is."""
    before = text.encode("utf-8")[:exc.position].decode("utf-8", "replace") \
        if LOADER is not yaml.SafeLoader else text[:exc.position]
    line_start = before.rfind("\n") + 1
    return Location(file, before.count("\n") + 1, len(before) - line_start + 1)


def _reader_problem(exc: yaml.reader.ReaderError) -> str:
    if isinstance(exc.character, int):
        return f"Unacceptable character #x{exc.character:04x}: {exc.reason}."
    return f"{exc.reason[:1].upper()}{exc.reason[1:]}."
