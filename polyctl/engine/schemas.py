"""Connection-type schemas from the API, cached on disk.

`SchemaRegistry` answers the spec loader's `lookup(type_id)` (see
`polyctl.schema.SchemaSource`): from `.polyctl/cache/<deployment>/connection-types/`
while younger than `max_age`, else from `GET /api/connection_types/{id}` (refreshing
the cache). The list of type ids (`GET /api/connection_types`) is cached the same way
and decides "unknown type" (with the closest ids) before any schema is fetched.
Offline — `validate --offline`, or no way to reach the API — a cached schema of any
age is used, and types with none are reported as not checked.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

from polyctl.schema import TypeSchema, UnknownTypeError, builtin, from_json_schema

DEFAULT_MAX_AGE = 24 * 3600.0

# Given a coroutine factory taking an OrgClient, run it and return its result.
Fetcher = Callable[[Callable[[Any], Awaitable[Any]]], Any]


class SchemaRegistry:
    def __init__(self, cache_dir: Path, fetch: Fetcher | None, *, max_age: float = DEFAULT_MAX_AGE,
                 refresh: bool = False, offline: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.cache_dir = cache_dir
        self.fetch = None if offline else fetch
        self.max_age, self.refresh, self.offline, self.clock = max_age, refresh, offline, clock
        self.resolved: dict[str, TypeSchema] = {}
        self.unchecked: dict[str, str] = {}  # type id → why it could not be checked
        self.fetch_error: str = ""
        self._ids: list[str] | None = None
        self._fetched: dict[str, Any] = {}  # this run's answers: fresh even with `refresh`

    # -- SchemaSource ---------------------------------------------------------------

    def lookup(self, type_id: str) -> TypeSchema | None:
        known = builtin(type_id)
        if known is not None:
            return known
        if type_id in self.resolved:
            return self.resolved[type_id]
        if type_id in self.unchecked:
            return None
        ids = self.type_ids()
        if ids is not None and type_id not in ids:
            raise UnknownTypeError(type_id, ids)
        raw = self._cached(f"{type_id}.json", fresh=True)
        if raw is None and self.fetch is not None:
            raw = self._fetch_one(type_id)
        if raw is None:
            raw = self._cached(f"{type_id}.json", fresh=False)  # stale beats nothing offline
        if raw is None:
            self.unchecked[type_id] = self._why()
            return None
        schema = from_json_schema(type_id, raw)
        self.resolved[type_id] = schema
        return schema

    def prefetch(self, type_ids: Iterable[str]) -> None:
        """Fetch the schemas not fresh in the cache concurrently (one round trip each)."""
        wanted = sorted({t for t in type_ids if builtin(t) is None and t not in self.resolved})
        if not wanted:
            return
        ids = self.type_ids()
        missing = [t for t in wanted if (ids is None or t in ids)
                   and self._cached(f"{t}.json", fresh=True) is None]
        if not missing or self.fetch is None:
            return

        async def all_of(org):
            import asyncio

            from polyctl.api import NotFoundError

            async def one(t):
                try:
                    return t, await org.get_connection_type_schema(t)
                except NotFoundError:
                    return t, None

            return await asyncio.gather(*(one(t) for t in missing))

        for type_id, raw in self._call(all_of) or ():
            if raw is not None:
                self._store(f"{type_id}.json", raw)

    # -- type ids -------------------------------------------------------------------

    def type_ids(self) -> list[str] | None:
        if self._ids is not None:
            return self._ids
        listed = self._cached("_types.json", fresh=True)
        if listed is None and self.fetch is not None:
            async def types(org):
                return await org.list_connection_types()

            fetched = self._call(types)
            if fetched is not None:
                listed = sorted({str(t.get("id")) for t in fetched if t.get("id")})
                self._store("_types.json", listed)
        if listed is None:
            listed = self._cached("_types.json", fresh=False)
        self._ids = sorted(set(listed) | {"api"}) if isinstance(listed, list) else None
        return self._ids

    def type_list(self) -> list[dict[str, Any]]:
        """Every type as the API lists it (for `types list`); needs the API."""
        async def types(org):
            return await org.list_connection_types()

        listed = self._call(types)
        if listed is None:
            raise LookupError(self.fetch_error or "the connection types cannot be listed offline")
        return sorted(listed, key=lambda t: str(t.get("id")))

    # -- cache and fetching ---------------------------------------------------------

    def _path(self, name: str) -> Path:
        return self.cache_dir / re.sub(r"[^A-Za-z0-9_.-]", "_", name)

    def _cached(self, name: str, *, fresh: bool) -> Any:
        if name in self._fetched:
            return self._fetched[name]
        if fresh and self.refresh:
            return None
        path = self._path(name)
        try:
            age = self.clock() - path.stat().st_mtime
            if fresh and age > self.max_age and not self.offline:
                return None
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _store(self, name: str, data: Any) -> None:
        self._fetched[name] = data
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            path = self._path(name)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written only costs a fetch next time

    def _fetch_one(self, type_id: str) -> Any:
        async def one(org):
            from polyctl.api import NotFoundError

            try:
                return await org.get_connection_type_schema(type_id)
            except NotFoundError:
                return None

        raw = self._call(one)
        if raw is not None:
            self._store(f"{type_id}.json", raw)
        return raw

    def _call(self, work: Callable[[Any], Awaitable[Any]]) -> Any:
        if self.fetch is None:
            return None
        try:
            return self.fetch(work)
        except Exception as exc:  # no credentials, network down: degrade to "unchecked"
            self.fetch = None
            self.fetch_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return None

    def _why(self) -> str:
        if self.offline:
            return "not in the schema cache (run polyctl validate without --offline once)"
        if self.fetch_error:
            return f"its schema could not be fetched: {self.fetch_error}"
        return "its schema is not available"


def cache_dir_for(root: Path, base_url: str | None, *, sandbox: bool) -> Path:
    """Per-deployment cache folder, so the sandbox and the real API never mix."""
    if sandbox:
        host = "sandbox"
    else:
        host = re.sub(r"^[a-z]+://", "", (base_url or "app.polytomic.com").lower()).strip("/")
    return root / ".polyctl" / "cache" / re.sub(r"[^a-z0-9_.-]", "_", host) / "connection-types"
