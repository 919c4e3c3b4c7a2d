"""Apply a plan: ordered, concurrent operations, each durable before it is reported.

Order (design §6): creates, updates, state-only changes and replacements first, then
deletes. A replacement deletes the old connection and then creates the new one, unless
`create_before_destroy`: then the new one is created first and the old one, kept in
state as a *deposed* object (`connection.x#deposed-<id>`), is deleted with the other
deletes — so a crash in between never forgets it.

Every API request is recorded as pending in the journal (with its Idempotency-Key)
before it is sent, and as done (with the resulting state change) before it is
reported; the state is written once at the end. One failed operation never stops
the others; Ctrl-C (`cancel()`) stops new operations and lets running ones finish.
A create that failed in a way that does not prove the server did nothing (a lost
answer, a 5xx, a 408/409) stays in the journal as pending once the state is written,
so the next run adopts what it may have created instead of creating it again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from polyctl.api import (
    ConnectionInUseError, NetworkError, NotFoundError, OrgClient, PolytomicError, ServerError,
    generate_idempotency_key,
)
from polyctl.engine.hooks import ApplyHooks, Operation, OpKind, Outcome
from polyctl.engine.journal import InFlight, JournalWriter, begin_entry, end_journal
from polyctl.engine.payload import SecretSource, StalePlanError, request_body, request_digest
from polyctl.engine.plan import Action, Mode, Plan, ResourceChange
from polyctl.engine.records import resource_from_record
from polyctl.state.backend import StateBackend, StateWriteError
from polyctl.state.model import ResourceState, State

DEPOSED = "#deposed-"


def deposed_address(address: str, id: str) -> str:
    return f"{address}{DEPOSED}{id[:8]}"


@dataclass(frozen=True)
class OperationError:
    address: str
    kind: OpKind
    message: str


@dataclass
class ApplyResult:
    state: State
    written: bool
    outcomes: list[tuple[Operation, Outcome]] = field(default_factory=list)
    errors: list[OperationError] = field(default_factory=list)
    interrupted: bool = False
    write_error: str = ""
    emergency_copy: Any = None  # Path of the state saved elsewhere when the backend failed

    def count(self, kind: OpKind) -> int:
        return sum(1 for op, o in self.outcomes if o.ok and op.kind is kind)

    @property
    def added(self) -> int:
        return self.count(OpKind.CREATE)

    @property
    def changed(self) -> int:
        return self.count(OpKind.UPDATE) + self.count(OpKind.STATE_ONLY)

    @property
    def destroyed(self) -> int:
        return self.count(OpKind.DELETE)


@dataclass
class _Unit:
    """Operations that must run in sequence (a replacement's delete then create)."""

    ops: list[tuple[Operation, ResourceChange]]


class Executor:
    def __init__(self, plan: Plan, state: State, backend: StateBackend, secrets: SecretSource,
                 orgs: Callable[[str | None], OrgClient], *, parallelism: int = 10,
                 hooks: ApplyHooks | None = None,
                 in_flight: list[InFlight] | None = None) -> None:
        self.plan, self.state, self.backend, self.secrets = plan, state, backend, secrets
        self.orgs, self.parallelism = orgs, parallelism
        self.hooks = hooks or ApplyHooks()
        self.reusable = {(i.address, i.op): i for i in in_flight or ()}
        self.resources: dict[str, ResourceState] = {
            a: resource_from_record(r) for a, r in plan.prior.items()}
        self.journal = JournalWriter(backend)
        self.cancelled = False
        self.errors: list[OperationError] = []
        self.outcomes: list[tuple[Operation, Outcome]] = []
        self._journal_broken: BaseException | None = None
        self._created: set[str] = set()
        self._pending_entries: dict[tuple[str, str], dict[str, Any]] = {}
        self._unsettled: list[dict[str, Any]] = []  # pending entries of maybe-done creates

    # -- public ---------------------------------------------------------------------

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self.hooks.interrupted()

    async def run(self) -> ApplyResult:
        first, second = self._schedule()
        if first or second:
            await self.journal.append(begin_entry(self.state))
        await self._run_units(first)
        await self._run_units(second)
        self.outcomes.sort(key=lambda pair: pair[0].index)
        return self._finish()

    # -- scheduling -----------------------------------------------------------------

    def _schedule(self) -> tuple[list[_Unit], list[_Unit]]:
        first: list[_Unit] = []
        second: list[_Unit] = []
        index = 0

        def op(rc: ResourceChange, kind: OpKind, **kw) -> tuple[Operation, ResourceChange]:
            nonlocal index
            index += 1
            return Operation(index, rc.address, kind, **kw), rc

        if self.plan.mode is Mode.REFRESH_ONLY:
            return first, second
        for rc in self.plan.changes:
            if rc.action is Action.CREATE:
                first.append(_Unit([op(rc, OpKind.CREATE)]))
            elif rc.action is Action.UPDATE:
                first.append(_Unit([op(rc, OpKind.UPDATE, id=rc.id)]))
            elif rc.action is Action.STATE_ONLY:
                first.append(_Unit([op(rc, OpKind.STATE_ONLY, id=rc.id)]))
            elif rc.action is Action.REPLACE and rc.create_before_destroy:
                first.append(_Unit([op(rc, OpKind.CREATE)]))
                second.append(_Unit([op(rc, OpKind.DELETE, id=rc.id, deposed=True,
                                        force=rc.force_delete)]))
            elif rc.action is Action.REPLACE:
                first.append(_Unit([op(rc, OpKind.DELETE, id=rc.id, force=rc.force_delete),
                                    op(rc, OpKind.CREATE)]))
            elif rc.action is Action.DELETE:
                second.append(_Unit([op(rc, OpKind.DELETE, id=rc.id, force=rc.force_delete)]))
        return first, second

    async def _run_units(self, units: list[_Unit]) -> None:
        # `parallelism` operations at a time talk to the API; recording a finished one
        # durably (its journal entry's fsync) does not hold a slot the next one could use
        gate = asyncio.Semaphore(self.parallelism)

        async def run(unit: _Unit) -> None:
            failed = False
            for op, rc in unit.ops:
                async with gate:
                    # a deposed object is deleted only once its replacement exists
                    if failed or self.cancelled or self._journal_broken is not None or (
                            op.deposed and rc.address not in self._created):
                        self._record(op, Outcome(False, 0.0, skipped=True,
                                                 error="not attempted"))
                        continue
                    started = time.monotonic()
                    performed = await self._call(op, rc, started)
                failed = performed is None or not await self._settle(op, started, *performed)

        await asyncio.gather(*(run(u) for u in units))

    # -- one operation --------------------------------------------------------------

    async def _call(self, op: Operation, rc: ResourceChange, started: float
                    ) -> tuple[dict[str, ResourceState | None], str | None] | None:
        """Perform the operation: its changes and new id, or None once its failure is
        recorded."""
        self.hooks.operation_started(op)
        try:
            return await self._perform(op, rc)
        except _JournalFailure as exc:
            self._fail(op, started, f"could not record the operation durably: {exc}")
        except (PolytomicError, StalePlanError) as exc:
            entry = self._pending_entries.get((op.address, op.kind.value))
            if op.kind is OpKind.CREATE and entry is not None and _outcome_unknown(exc):
                self._unsettled.append(entry)
            self._fail(op, started, _message(exc, op))
        return None

    async def _settle(self, op: Operation, started: float,
                      changes: dict[str, ResourceState | None], new_id: str | None) -> bool:
        """Record a performed operation durably, then report it."""
        self._apply(changes)  # in memory first: a failed journal write must not lose it
        try:
            await self.journal.append({
                "type": "done", "address": op.address, "op": op.kind.value,
                "set": {a: (r.to_json() if r else None) for a, r in changes.items()}})
        except (OSError, StateWriteError) as exc:
            self._journal_broken = exc
            return self._fail(op, started, "the API call succeeded but could not be recorded "
                                           f"durably ({exc}); stopping")
        if op.kind is OpKind.CREATE:
            self._created.add(op.address)
        self._record(op, Outcome(True, time.monotonic() - started, id=new_id))
        return True

    async def _perform(self, op: Operation, rc: ResourceChange
                       ) -> tuple[dict[str, ResourceState | None], str | None]:
        if op.kind is OpKind.STATE_ONLY:
            assert rc.after is not None
            return {op.address: resource_from_record(rc.after, id=rc.id)}, rc.id
        if op.kind is OpKind.DELETE:
            return await self._delete(op, rc), op.id
        assert rc.after is not None
        after = rc.after
        org = self.orgs(after.get("organization"))
        body = request_body(self.secrets, op.address, after)
        key = await self._pending(op, body, after)
        if op.kind is OpKind.CREATE:
            created = await org.create_connection(**body, idempotency_key=key)
            new = resource_from_record(after, id=str(created["id"]),
                                       organization_id=created.get("organization_id"))
            changes: dict[str, ResourceState | None] = {op.address: new}
            old = self.resources.get(op.address)
            if old is not None and rc.create_before_destroy and rc.action is Action.REPLACE:
                changes[deposed_address(op.address, old.id)] = old
            return changes, new.id
        assert op.id is not None
        updated = await org.update_connection(op.id, **body, idempotency_key=key)
        return {op.address: resource_from_record(
            after, id=op.id,
            organization_id=updated.get("organization_id") or after.get("organization_id"))}, op.id

    async def _delete(self, op: Operation, rc: ResourceChange) -> dict[str, ResourceState | None]:
        before = rc.before or {}
        address = deposed_address(op.address, op.id or "") if op.deposed else op.address
        org = self.orgs(before.get("organization"))
        key = await self._pending(op, {"delete": op.id, "force": op.force}, before)
        try:
            await org.delete_connection(str(op.id), force=op.force, idempotency_key=key)
        except NotFoundError:
            pass  # already gone: the goal is reached
        return {address: None}

    async def _pending(self, op: Operation, body: dict[str, Any], record: dict) -> str:
        digest = request_digest(body, self.state.digest_salt)
        previous = self.reusable.get((op.address, op.kind.value))
        key = previous.idempotency_key if previous and previous.request_digest == digest \
            else generate_idempotency_key()
        entry = InFlight(op.address, op.kind.value, key, digest, record.get("name", ""),
                         record.get("type", ""), record.get("organization")).entry()
        try:
            await self.journal.append(entry)
            self._pending_entries[(op.address, op.kind.value)] = entry
        except (OSError, StateWriteError) as exc:
            self._journal_broken = exc
            raise _JournalFailure(exc) from exc
        return key

    # -- bookkeeping ----------------------------------------------------------------

    def _apply(self, changes: dict[str, ResourceState | None]) -> None:
        for address, resource in changes.items():
            if resource is None:
                self.resources.pop(address, None)
            else:
                self.resources[address] = resource

    def _fail(self, op: Operation, started: float, message: str) -> bool:
        self.errors.append(OperationError(op.address, op.kind, message))
        self._record(op, Outcome(False, time.monotonic() - started, error=message))
        return False

    def _record(self, op: Operation, outcome: Outcome) -> None:
        self.outcomes.append((op, outcome))
        self.hooks.operation_finished(op, outcome)

    def _finish(self) -> ApplyResult:
        """Write the state once (journal compacted into it), or an emergency copy."""
        final = self.state.with_resources(self.resources)
        result = ApplyResult(self.state, False, self.outcomes,
                             sorted(self.errors, key=lambda e: e.address), self.cancelled)
        if final.resources == self.state.resources:
            if self._journal_broken is None:
                end_journal(self.backend, self.state, self._unsettled_creates(), rewritten=False)
            return result
        final = final.next()
        try:
            self.backend.write(final, expected_serial=self.state.serial)
        except (StateWriteError, OSError) as exc:
            result.state = final
            result.write_error = str(exc)
            result.emergency_copy = self.backend.write_emergency_copy(final, str(exc))
            return result
        result.state, result.written = final, True
        if self._journal_broken is None:
            end_journal(self.backend, final, self._unsettled_creates(), rewritten=True)
        return result

    def _unsettled_creates(self) -> list[dict[str, Any]]:
        """Creates that may have happened unrecorded: this run's whose outcome is unknown,
        and those an interrupted run left in flight that this run did not attempt."""
        return self._unsettled + [
            i.entry() for (address, op), i in self.reusable.items()
            if op == "create" and (address, op) not in self._pending_entries]


class _JournalFailure(Exception):
    pass


def _outcome_unknown(exc: BaseException) -> bool:
    """Whether the server may have acted although the request failed."""
    return isinstance(exc, (NetworkError, ServerError)) or (
        isinstance(exc, PolytomicError) and exc.status in (408, 409))


def _message(exc: BaseException, op: Operation) -> str:
    if isinstance(exc, ConnectionInUseError):
        lines = [f"Connection is used by {d}" for d in exc.used_by] or [str(exc)]
        lines.append("Set force_destroy: true on this connection and apply once (a state-only "
                     "change) before destroying it to cascade-delete its dependents.")
        return "\n".join(lines)
    if isinstance(exc, StalePlanError):
        return f"stale plan: {exc}"
    return str(exc)
