"""The fast YAML reader: a spec file's data straight from libyaml's event stream.

`fast_load` builds plain data from the parser's events, resolving plain scalars exactly
as PyYAML's SafeLoader does (memoised), and records where only the shallow keys were
written (enough to point at a connection). It keeps no other positions: that is what a
10,000-connection spec set pays for. What it does not handle — duplicate or merge keys,
explicit tags, several documents, complex or undefined aliases, NaN — raises `Unusual`, and
`yamlsource`'s slow reader takes the whole file; a document beyond the bounds below
raises `TooBig` at its place. Both readers share the loader and the bounds defined here.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from polyctl.diagnostics import AttrPath, Location

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CONSTRUCTOR = yaml.constructor.SafeConstructor()

# Bounds on what a spec file may be, so that hostile or broken input is a located error
# rather than a crash deep in later code or a run that never ends: nesting (Polytomic
# configurations need about ten levels) and the values a document expands to through
# aliases (`&a [*b, *b, …]` nine levels down is a billion values).
MAX_DEPTH = 100
MAX_VALUES = 1_000_000

# A connection's configuration is JSON: an unquoted date stays the text it is (PyYAML
# would make a datetime, which JSON — and so the API, the state and a plan — cannot hold),
# and `.nan` or `.inf` is an error (`non_json_number`).
TIMESTAMP = "tag:yaml.org,2002:timestamp"


def non_json_number(value: Any) -> bool:
    """A float JSON has no number for: NaN or an infinity."""
    return isinstance(value, float) and not math.isfinite(value)


class Unusual(Exception):
    """Something the fast reader leaves to the slow one."""


class TooBig(Exception):
    """Beyond MAX_DEPTH or MAX_VALUES: reported at `mark`."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.mark = mark


_IMPLICIT = yaml.resolver.Resolver.yaml_implicit_resolvers
_AS_STRING = {"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value", "tag:yaml.org,2002:yaml",
              TIMESTAMP}


def _resolve_plain(value: str, cache: dict[str, Any]) -> Any:
    """A plain scalar's value exactly as PyYAML's SafeLoader gives it."""
    try:
        return cache[value]
    except KeyError:
        pass
    result: Any = value
    for tag, regexp in _IMPLICIT.get(value[:1], ()):
        if regexp.match(value):
            if tag not in _AS_STRING:
                result = CONSTRUCTOR.construct_object(yaml.ScalarNode(tag, value), deep=True)
                if non_json_number(result):
                    raise Unusual("NaN or infinity")  # the slow reader says where
            break
    cache[value] = result
    return result


SHALLOW = 2  # the fast reader records where keys this deep were written (connection names)


def fast_load(text: str, file: str = "") -> tuple[Any, dict[AttrPath, Location]]:
    """Data of a one-document YAML text, built from the event stream, and the places
    of the shallow keys (enough to point at a connection without the slow reader)."""
    stack: list[list] = []  # [container, is_mapping, pending key, path or None, size at start]
    anchors: dict[str, Any] = {}
    # Expansion through aliases, measured in events (a scalar is one, a collection two
    # plus its contents): id(closed collection) → its size; `extra` is what aliases add.
    sizes: dict[int, int] = {}
    extra = 0
    cache: dict[str, Any] = {}
    keys: dict[AttrPath, Location] = {}
    root: Any = None
    documents = 0
    Scalar, Alias = yaml.ScalarEvent, yaml.AliasEvent
    MapStart, MapEnd = yaml.MappingStartEvent, yaml.MappingEndEvent
    SeqStart, SeqEnd = yaml.SequenceStartEvent, yaml.SequenceEndEvent

    def add(value: Any) -> None:
        nonlocal root
        if not stack:
            root = value
            return
        frame = stack[-1]
        if not frame[1]:
            frame[0].append(value)
        elif frame[2] is None:
            raise Unusual("complex key")
        else:
            frame[0][frame[2]] = value
            frame[2] = None

    loader = LOADER(text)
    # straight from libyaml (None after the stream's end): yaml.parse() adds two calls per event
    for n, event in enumerate(iter(loader.get_event, None)):
        kind = type(event)
        if kind is Scalar:
            if event.tag is not None and event.tag != "!":
                raise Unusual("explicit tag")
            if stack and stack[-1][1] and stack[-1][2] is None:  # a mapping key
                frame = stack[-1]
                key = event.value
                if key in frame[0] or key == "<<":
                    raise Unusual("duplicate or merge key")
                frame[2] = key
                if frame[3] is not None:
                    mark = event.start_mark
                    keys[frame[3] + (key,)] = Location(file, mark.line + 1, mark.column + 1)
                continue
            # libyaml reports a plain scalar's style as "" (PyYAML's reader as None)
            value = _resolve_plain(event.value, cache) if not event.style and \
                event.implicit[0] else event.value
            if event.anchor:
                anchors[event.anchor] = value
            add(value)
        elif kind is MapStart or kind is SeqStart:
            if event.tag is not None and event.tag != "!":
                raise Unusual("explicit tag")
            if len(stack) >= MAX_DEPTH:
                raise TooBig(f"The document is nested more than {MAX_DEPTH} levels deep.",
                              event.start_mark)
            path = None
            if not stack:
                path = ()
            else:
                parent = stack[-1]
                if parent[1] and parent[2] is None:
                    raise Unusual("complex key")
                if parent[3] is not None and len(parent[3]) < SHALLOW:
                    path = parent[3] + ((parent[2],) if parent[1] else (len(parent[0]),))
            container: Any = {} if kind is MapStart else []
            if event.anchor:
                anchors[event.anchor] = container
            add(container)
            stack.append([container, kind is MapStart, None, path, n + extra])
        elif kind is MapEnd or kind is SeqEnd:
            frame = stack.pop()
            sizes[id(frame[0])] = n + extra + 1 - frame[4]
        elif kind is Alias:
            if stack and stack[-1][1] and stack[-1][2] is None:
                raise Unusual("alias as a key")
            target = anchors.get(event.anchor, anchors)  # `anchors` itself: unknown
            if target is anchors:
                raise Unusual("undefined alias")  # the slow reader says where
            if isinstance(target, (dict, list)):
                if id(target) not in sizes:
                    raise Unusual("recursive alias")
                extra += sizes[id(target)] - 1
            if n + extra > MAX_VALUES:
                raise TooBig(f"The document expands to more than {MAX_VALUES:,} values "
                              "(through aliases).", event.start_mark)
            add(target)
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise Unusual("several documents")
    loader.dispose()
    return root, keys
