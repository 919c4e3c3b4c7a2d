"""The apply journal: what makes every finished operation durable at once.

During an apply the state file is not rewritten per operation; instead small entries
are appended to the backend's journal (fsynced), and the state is written once at the
end. Entries (never a secret in them):

    {"type": "begin",   "lineage": …, "serial": …}            an apply started on this state
    {"type": "pending", "address": …, "op": "create", "idempotency_key": …,
     "request_digest": …, "name": …, "conn_type": …, "organization": …}
                                                               a request is about to be sent
    {"type": "done",    "address": …, "op": …, "set": {address: resource JSON | null}}
                                                               it succeeded; state changes

`recover` folds the journal of a run that did not finish into its state, and returns
the operations that were in flight, so the next run can adopt what they created and
reuse their Idempotency-Keys. `end_journal` ends a run's use of the journal: cleared,
or — when creates may have happened that nothing recorded (an answer lost, a recovered
run's creates that had not landed yet) — holding just those as pending, in a section
bound to the state just stored, for the run after. `JournalWriter` batches concurrent
appends into one fsync (group commit), off the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Iterable

from polyctl.state.backend import StateBackend
from polyctl.state.model import ResourceState, State


@dataclass(frozen=True)
class InFlight:
    """A request recorded as pending whose outcome the journal does not know."""

    address: str
    op: str
    idempotency_key: str
    request_digest: str
    name: str = ""
    conn_type: str = ""
    organization: str | None = None

    def entry(self) -> dict[str, Any]:
        """The journal's "pending" entry for this request."""
        return {"type": "pending", "address": self.address, "op": self.op,
                "idempotency_key": self.idempotency_key, "request_digest": self.request_digest,
                "name": self.name, "conn_type": self.conn_type,
                "organization": self.organization}


@dataclass
class Recovery:
    state: State  # the stored state with every finished operation folded in
    in_flight: list[InFlight] = field(default_factory=list)
    folded: int = 0  # finished operations recovered


def begin_entry(state: State) -> dict[str, Any]:
    return {"type": "begin", "lineage": state.lineage, "serial": state.serial}


def recover(state: State, entries: list[dict[str, Any]]) -> Recovery:
    """Fold the journal entries that belong to `state` (same lineage and serial)."""
    resources = dict(state.resources)
    pending: dict[tuple[str, str], InFlight] = {}
    folded = 0
    active = False
    for entry in entries:
        kind = entry.get("type")
        if kind == "begin":
            active = entry.get("lineage") == state.lineage and entry.get("serial") == state.serial
            continue
        if not active:
            continue  # a journal of a state already written (crash before the clear)
        if kind == "pending":
            item = InFlight(entry["address"], entry["op"], entry["idempotency_key"],
                            entry.get("request_digest", ""), entry.get("name", ""),
                            entry.get("conn_type", ""), entry.get("organization"))
            pending[(item.address, item.op)] = item
        elif kind == "done":
            pending.pop((entry["address"], entry["op"]), None)
            for address, data in entry.get("set", {}).items():
                if data is None:
                    resources.pop(address, None)
                else:
                    resources[address] = ResourceState.from_json(data)
            folded += 1
    return Recovery(state.with_resources(resources), list(pending.values()), folded)


def pending_creates(in_flight: Iterable[InFlight]) -> list[dict[str, Any]]:
    """The "pending" entries of the creates among `in_flight` (they may still land)."""
    return [i.entry() for i in in_flight if i.op == "create"]


def end_journal(backend: StateBackend, stored: State, pending: list[dict[str, Any]], *,
                rewritten: bool) -> None:
    """Leave in the journal only `pending` (creates that may have happened), bound to
    `stored`, or nothing. When `stored` was just written under a new serial the older
    entries no longer apply, so the new section is appended: a crash in between loses
    nothing. Otherwise they would still apply, and the journal is replaced."""
    if not pending or not rewritten:
        backend.journal_clear()
    if pending:
        backend.journal_append([begin_entry(stored), *pending])


class JournalWriter:
    """Appends entries durably; concurrent callers share one fsync (group commit)."""

    def __init__(self, backend: StateBackend) -> None:
        self.backend = backend
        self._queue: list[tuple[dict[str, Any], asyncio.Future]] = []
        self._flushing: asyncio.Task | None = None

    async def append(self, entry: dict[str, Any]) -> None:
        """Return once `entry` is durable."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((entry, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            entries = [e for e, _ in batch]
            try:
                await asyncio.to_thread(self.backend.journal_append, entries)
            except BaseException as exc:  # every waiter learns the write failed
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
