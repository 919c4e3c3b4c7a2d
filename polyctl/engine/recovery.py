"""Finishing what an interrupted apply left: fold its journal, adopt what it created.

A create that was recorded as pending but never as done may or may not have reached
Polytomic. We look for it (same organization, display name and type, not managed by
any address) and adopt it at its address, so the next plan updates it instead of
creating a duplicate. When the request that was sent is exactly what the current
spec would send (same request digest), the spec's record is adopted — the next plan
is then a no-op; otherwise the live configuration is, and the plan shows the update.

`settle` then makes what was learned durable: the state written when it changed, and
the journal left holding only the creates that may still land.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable

from polyctl.api import OrgClient
from polyctl.engine.apply import deposed_address
from polyctl.engine.journal import InFlight, Recovery, end_journal, pending_creates
from polyctl.engine.live import live_type, reconcile_live
from polyctl.engine.payload import SecretSource, StalePlanError, request_body, request_digest
from polyctl.engine.records import desired_record, resource_from_record
from polyctl.resource import Lifecycle
from polyctl.schema import TypeSchema, schema_for
from polyctl.spec.model import SpecSet
from polyctl.state.backend import StateBackend
from polyctl.state.model import ResourceState, State


async def adopt_in_flight(recovery: Recovery, orgs: Callable[[str | None], OrgClient],
                          specs: SpecSet, schemas: dict[str, TypeSchema] | None = None
                          ) -> tuple[State, list[str]]:
    state = recovery.state
    resources = dict(state.resources)
    notes: list[str] = []
    listings: dict[str | None, list[dict]] = {}
    secrets = SecretSource(specs, state.digest_salt)
    for item in recovery.in_flight:
        if item.op != "create":
            continue  # updates and deletes are settled by the next refresh
        if item.organization not in listings:
            listings[item.organization] = await orgs(item.organization).list_connections()
        managed = {r.id for r in resources.values()}
        found = [c for c in listings[item.organization]
                 if c.get("name") == item.name and live_type(c) == item.conn_type
                 and str(c.get("id")) not in managed]
        if not found:
            continue
        live = found[-1]
        schema = schema_for(item.conn_type, schemas)
        adopted = _adopted_record(item, live, specs, secrets, state.digest_salt, schema)
        previous = resources.get(item.address)
        if previous is not None and previous.id != adopted.id:
            resources[deposed_address(item.address, previous.id)] = previous
        resources[item.address] = adopted
        notes.append(f"{item.address}: adopted connection {adopted.id}, created by an "
                     "interrupted run")
    return state.with_resources(resources), notes


def settle(backend: StateBackend, stored: State | None, recovery: Recovery, state: State,
           declared: Iterable[str]) -> tuple[State, list[InFlight], int | None]:
    """Store what recovery learned: `state` is `recovery.state` (folded from the journal
    into `stored`, the state read) with the creates `adopt_in_flight` found; `declared`
    the addresses the specs declare.

    Returns the state to plan from, the operations still in flight (the next run reuses
    their Idempotency-Keys) and the serial now stored (None: no state is stored)."""
    stored_serial = stored.serial if stored is not None else None
    adopted = {a for a, r in state.resources.items()
               if a not in recovery.state.resources or recovery.state.resources[a].id != r.id}
    rewritten = state.resources != (stored.resources if stored is not None else {})
    if rewritten:
        state = state.next()
        backend.write(state, expected_serial=stored_serial)
        stored_serial = state.serial
    # A create not found may still land (a slow server): while its spec exists it stays
    # pending until a run records its own attempt, so a crash of this run too (or a run
    # that does not attempt it) does not forget it.
    declared = set(declared)
    in_flight = [i for i in recovery.in_flight if i.op != "create" or (
        i.address not in adopted and i.address in declared)]
    carried = pending_creates(in_flight)
    if rewritten or not carried:  # else nothing changed: the journal already says it all
        end_journal(backend, state, carried, rewritten=rewritten)
    return state, in_flight, stored_serial


def _adopted_record(item, live: dict, specs: SpecSet, secrets: SecretSource, salt: str,
                    schema: TypeSchema) -> ResourceState:
    spec = specs.connections.get(item.address)
    prior = None
    if spec is not None:
        record = desired_record(spec, salt, schema)
        try:
            sent_now = request_digest(request_body(secrets, item.address, record), salt)
        except StalePlanError:
            sent_now = ""
        if sent_now == item.request_digest:
            return resource_from_record(record, id=str(live["id"]),
                                        organization_id=live.get("organization_id"))
        # read the live object against the spec, so that what the spec holds as a secret
        # (e.g. an interpolated header value, which the API echoes) becomes a digest
        prior = resource_from_record(record, id=str(live["id"]))
    adopted = reconcile_live(live, prior, salt, schema)
    return dataclasses.replace(adopted, organization=item.organization, force_destroy=None,
                               lifecycle=Lifecycle())
