"""What depends on a connection, worked out from the model, sync and bulk-sync lists.

Contract §8: a model uses a connection as its source (``connection_id``) or enricher
(``enricher.connection_id``); a model sync through its target (``target_connection_id``
in the slim list item, ``target.connection_id`` in the full object), its schedule
(``schedule.connection_id``), or any of its models (``model_ids``, ``source.model_id``);
a bulk sync through ``source_connection_id`` or ``destination_connection_id``. Both sync
shapes are read because the list endpoint has drifted between them.

The server's own 422 ``used_by`` stays authoritative; this lets a plan name the
cascade before anything is deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._values import Dependent

__all__ = ["dependents_of", "MODEL", "SYNC", "BULK_SYNC"]

MODEL = "model"
SYNC = "sync"
BULK_SYNC = "bulk_sync"  # the spelling the sandbox uses in `used_by`


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _model_refs(model: Mapping[str, Any]) -> set[Any]:
    refs = {model.get("connection_id"), _get(model, "enricher", "connection_id")}
    enrichers = model.get("enrichers")  # tolerate a plural form holding several
    if isinstance(enrichers, list):
        refs.update(_get(e, "connection_id") for e in enrichers)
    return refs


def _sync_refs(sync: Mapping[str, Any]) -> set[Any]:
    return {
        sync.get("target_connection_id"),
        _get(sync, "target", "connection_id"),
        _get(sync, "schedule", "connection_id"),
    }


def _sync_model_ids(sync: Mapping[str, Any]) -> set[str]:
    ids = sync.get("model_ids")
    found = {str(i) for i in ids} if isinstance(ids, list) else set()
    source_model = _get(sync, "source", "model_id")
    if source_model:
        found.add(str(source_model))
    fields = sync.get("fields")
    if isinstance(fields, list):
        found.update(str(m) for f in fields if (m := _get(f, "source", "model_id")))
    return found


def _dependent(kind: str, item: Mapping[str, Any]) -> Dependent:
    return Dependent(type=kind, name=str(item.get("name") or ""), id=str(item.get("id") or ""))


def dependents_of(
    connection_id: str,
    models: Iterable[Mapping[str, Any]],
    syncs: Iterable[Mapping[str, Any]],
    bulk_syncs: Iterable[Mapping[str, Any]],
) -> list[Dependent]:
    """Dependents in a stable order: models, then syncs, then bulk syncs, as listed."""
    found: list[Dependent] = []
    using_models: set[str] = set()
    for model in models:
        if isinstance(model, Mapping) and connection_id in _model_refs(model):
            found.append(_dependent(MODEL, model))
            using_models.add(str(model.get("id")))
    for sync in syncs:
        if not isinstance(sync, Mapping):
            continue
        if connection_id in _sync_refs(sync) or _sync_model_ids(sync) & using_models:
            found.append(_dependent(SYNC, sync))
    for bulk in bulk_syncs:
        if isinstance(bulk, Mapping) and connection_id in (
            bulk.get("source_connection_id"),
            bulk.get("destination_connection_id"),
        ):
            found.append(_dependent(BULK_SYNC, bulk))
    unique: dict[tuple[str, str], Dependent] = {}
    for dep in found:
        unique.setdefault((dep.type, dep.id), dep)
    return list(unique.values())
