"""Attribute-level differences between two resource records.

deepdiff does the structural walk; this module tells it which lists are sets (so
`[a, b]` → `[b, c]` reads as "remove a, add c", never "a changed to c"), keeps digests
atomic (a changed secret is one change at its leaf, never a peek inside), and turns
its report into `AttributeChange`s with our paths.
"""

from __future__ import annotations

from typing import Any

from polyctl.diagnostics import AttrPath
from polyctl.engine.plan import AttributeChange
from polyctl.schema import TypeSchema
from polyctl.schema.attributes import canonical_key
from polyctl.values import Digest, contains_digest

_MARK = "\x00polyctl-sensitive\x00"
REPLACE_KEYS = ("type", "organization")

_KINDS = {
    "values_changed": "update",
    "type_changes": "update",
    "dictionary_item_added": "add",
    "dictionary_item_removed": "remove",
    "iterable_item_added": "add",
    "iterable_item_removed": "remove",
    "attribute_added": "add",
    "attribute_removed": "remove",
}


def _mask(tree: Any) -> Any:
    if isinstance(tree, Digest):
        return _MARK + tree.value
    if isinstance(tree, dict):
        return {k: _mask(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_mask(v) for v in tree]
    return tree


def _unmask(tree: Any) -> Any:
    if isinstance(tree, str) and tree.startswith(_MARK):
        return Digest(tree[len(_MARK):])
    if isinstance(tree, dict):
        return {k: _unmask(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_unmask(v) for v in tree]
    return tree


def diff_records(before: dict[str, Any], after: dict[str, Any],
                 schema: TypeSchema | None, *, keys: tuple[str, ...]) -> tuple[AttributeChange, ...]:
    """Changes from `before` to `after`, restricted to the top-level `keys`."""
    left = {k: before.get(k) for k in keys}
    right = {k: after.get(k) for k in keys}
    if left == right:
        return ()
    from deepdiff import DeepDiff  # imported on first real difference: it is slow to load

    is_set = schema.is_set_at if schema is not None else (lambda path: False)
    report = DeepDiff(
        _mask(left), _mask(right), view="tree",
        ignore_order_func=lambda level: is_set(level.path(output_format="list")),
        cutoff_distance_for_pairs=0.0, cutoff_intersection_for_pairs=0.0,
        verbose_level=2,
    )
    changes: list[AttributeChange] = []
    for report_type, levels in report.items():
        kind = _KINDS.get(report_type)
        if kind is None:
            continue
        for level in levels:
            path: AttrPath = tuple(level.path(output_format="list"))
            if report_type.startswith("iterable") and is_set(path[:-1]):
                path = path[:-1]  # a set element has no position
            old = None if kind == "add" else _unmask(level.t1)
            new = None if kind == "remove" else _unmask(level.t2)
            if kind == "update" and path and isinstance(path[-1], int) \
                    and is_set(path[:-1]):
                # deepdiff pairs one removed and one added element as a "change" at an
                # index; a set has no positions, so it is a removal and an addition.
                for k, value in (("remove", old), ("add", new)):
                    changes.append(AttributeChange(
                        path=path[:-1], before=value if k == "remove" else None,
                        after=value if k == "add" else None, kind=k,
                        sensitive=contains_digest(value), forces_replacement=False))
                continue
            changes.append(AttributeChange(
                path=path, before=old, after=new, kind=kind,
                sensitive=contains_digest(old) or contains_digest(new),
                forces_replacement=bool(path) and path[0] in REPLACE_KEYS,
            ))
    # deepdiff reports set elements in hash order, which varies between runs
    # (PYTHONHASHSEED): order them by value so the same inputs give the same plan.
    changes.sort(key=lambda c: (_path_key(c.path), c.kind != "remove",
                                canonical_key(c.before if c.kind == "remove" else c.after)))
    return tuple(changes)


def _path_key(path: AttrPath) -> tuple:
    return tuple((0, e) if isinstance(e, int) else (1, e) for e in path)
