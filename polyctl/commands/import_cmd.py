"""`polyctl import ADDR ID` and `polyctl import --all --out FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from polyctl.commands.errors import CommandError
from polyctl.commands.options import (
    LockTimeoutOpt, SpecsOpt, StateOpt, WorkspaceOpt, display_path, make_project,
)


def import_(
    ctx: typer.Context,
    address: Annotated[Optional[str], typer.Argument(metavar="ADDR")] = None,
    id: Annotated[Optional[str], typer.Argument(metavar="ID")] = None,
    all_: Annotated[bool, typer.Option(
        "--all", help="Import every connection not yet managed, writing specs for them.")] = False,
    out: Annotated[Optional[Path], typer.Option(
        "--out", metavar="FILE", help="With --all: the spec file to write (inside the specs dir).")] = None,
    organization: Annotated[Optional[str], typer.Option(
        "--organization", metavar="UUID", help="With --all: the organization to read.")] = None,
    specs: SpecsOpt = None,
    state: StateOpt = None,
    workspace: WorkspaceOpt = None,
    lock_timeout: LockTimeoutOpt = None,
) -> int:
    """Adopt existing connections into the state (one by id, or all with --all)."""
    rt = ctx.obj
    project = make_project(rt, specs=specs, state=state, workspace=workspace,
                           lock_timeout=lock_timeout)
    if all_:
        if address or id:
            raise CommandError("Incompatible arguments", "--all imports everything; give no "
                               "address or id with it.")
        if out is None:
            raise CommandError("Missing --out", "import --all writes specs: give --out FILE "
                               "(a .yaml file inside the specs directory).")
        return _import_all(rt, project, rt.root / out, organization)
    if not address or not id:
        raise CommandError("Missing arguments", "Usage: polyctl import ADDR ID (or --all --out FILE).")
    return _import_one(rt, project, address, id)


def _import_one(rt, project, address: str, id: str) -> int:
    from polyctl.api import NotFoundError
    from polyctl.commands.locking import state_lock
    from polyctl.commands.remote import api_settings, open_client, run_async
    from polyctl.diagnostics import did_you_mean
    from polyctl.state.model import State

    specs = project.load_specs()
    spec = specs.connections.get(address)
    if spec is None:
        raise CommandError("Unknown address",
                           f'"{address}" is not declared in the specs: write its spec first, '
                           f"then import.{did_you_mean(address, specs.connections)}")
    settings = api_settings(rt, project)
    with state_lock(rt, project, "import") as backend:
        stored = backend.read()
        current = stored or State.new()
        if address in current.resources:
            raise CommandError("Already managed", f"{address} is already in the state (id "
                               f"{current.resources[address].id}). Use 'polyctl state rm' first "
                               "to import another connection there.")
        for other, resource in current.resources.items():
            if resource.id == id:
                raise CommandError("Already managed", f"Connection {id} is already managed as "
                                   f"{other}.")

        async def fetch():
            async with open_client(settings, 1) as orgs:
                return await orgs(spec.organization).get_connection(id)

        try:
            live = run_async(fetch())
        except NotFoundError as exc:
            raise CommandError("Cannot import", f"No connection with id {id} exists "
                               "(or it belongs to another organization).") from exc
        resource = _imported_for_spec(project, live, spec, current.digest_salt,
                                      spec.organization)
        resources = dict(current.resources)
        resources[address] = resource
        backend.write(current.with_resources(resources).next(),
                      expected_serial=stored.serial if stored else None)
    rt.out.print(f"{address}: Import prepared! Imported connection {id} "
                 f"(\"{resource.name}\", type {resource.type}).")
    rt.out.print("Import successful! The connection is now managed. Run 'polyctl plan': its "
                 "secrets are unknown until an apply sends the spec's, and force_destroy takes "
                 "effect only after an apply records it.")
    return 0


def _import_all(rt, project, out: Path, organization: str | None) -> int:
    import yaml

    from polyctl.commands.locking import state_lock
    from polyctl.commands.remote import api_settings, open_client, run_async
    from polyctl.engine.importer import imported_resource, local_name_for, spec_for
    from polyctl.engine.live import live_type
    from polyctl.resource import Lifecycle
    from polyctl.spec.model import address_of
    from polyctl.state.model import State

    specs_dir = project.settings.specs_dir.resolve()
    if specs_dir not in out.resolve().parents:
        raise CommandError("--out must be inside the specs directory",
                           f"{display_path(rt, out)} is not under "
                           f"{display_path(rt, specs_dir)}/; the imported connections would "
                           "otherwise be planned for destruction on the next plan.")
    if out.suffix not in (".yaml", ".yml"):
        raise CommandError("Invalid --out", "The spec file must end in .yaml or .yml.")
    specs = project.load_specs()
    settings = api_settings(rt, project)
    with state_lock(rt, project, "import") as backend:
        stored = backend.read()
        current = stored or State.new()

        async def fetch():
            async with open_client(settings, 1) as orgs:
                return await orgs(organization).list_connections()

        live_all = run_async(fetch())
        managed = {r.id for r in current.resources.values()}
        taken = {s.local_name for s in specs.connections.values()} | {
            a.partition(".")[2] for a in current.resources}
        blocks: dict[str, dict] = {}
        env_vars: list[str] = []
        resources = dict(current.resources)
        unmanaged = [c for c in sorted(live_all, key=lambda c: (str(c.get("name")), str(c.get("id"))))
                     if str(c.get("id")) not in managed]
        adopted = _declared(unmanaged, specs, current, organization)
        for address, live in adopted.items():
            resources[address] = _imported_for_spec(project, live, specs.connections[address],
                                                    current.digest_salt, organization)
        taken_ids = {str(c.get("id")) for c in adopted.values()}
        for live in unmanaged:
            if str(live.get("id")) in taken_ids:
                continue
            schema = project.schema(live_type(live))
            local = local_name_for(str(live.get("name") or "connection"), taken)
            block, needed = spec_for(live, local, schema, organization)
            blocks[local] = block
            env_vars += needed
            resources[address_of(local)] = imported_resource(
                live, salt=current.digest_salt, schema=schema, organization=organization,
                lifecycle=Lifecycle())
        if not blocks and not adopted:
            rt.out.print("Nothing to import: every connection is already managed.")
            return 0
        if blocks and out.exists():
            raise CommandError("File exists", f"{display_path(rt, out)} already exists; choose "
                               "another file so nothing you wrote is overwritten.")
        if not blocks:
            backend.write(current.with_resources(resources).next(),
                          expected_serial=stored.serial if stored else None)
            rt.out.print(f"Imported {len(adopted)} connection(s) already declared in the specs "
                         f"({', '.join(adopted)}).")
            return 0
        header = ["# Written by 'polyctl import --all'.",
                  "# Secrets are read from these environment variables:"]
        header += [f"#   {v}" for v in env_vars] or ["#   (none)"]
        text = "\n".join(header) + "\n" + yaml.safe_dump(
            {"connections": blocks}, sort_keys=False, allow_unicode=True, width=100)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
        backend.write(current.with_resources(resources).next(),
                      expected_serial=stored.serial if stored else None)
    rt.out.print(f"Imported {len(blocks)} connection(s); specs written to {display_path(rt, out)}.")
    if env_vars:
        rt.out.print("Set these environment variables before the next plan:")
        for v in env_vars:
            rt.out.print(f"  {v}")
    return 0


def _imported_for_spec(project, live: dict, spec, salt: str, organization: str | None):
    """The state record of `live` imported for `spec`: read against the spec, so a value
    the spec interpolates is stored as its digest even where the API echoes it."""
    from polyctl.engine.importer import imported_resource
    from polyctl.engine.live import live_type
    from polyctl.engine.records import desired_record

    schema = project.schema(live_type(live))
    return imported_resource(live, salt=salt, schema=schema, organization=organization,
                             lifecycle=spec.lifecycle,
                             spec_record=desired_record(spec, salt, schema))


def _declared(unmanaged: list[dict], specs, current, organization: str | None) -> dict[str, dict]:
    """Unmanaged live connections that a spec the state does not hold already declares:
    {address: live}. A run killed after writing its spec file but before its state
    leaves exactly that; importing them again under new names (or refusing because
    the file exists) would let the next apply create every one a second time.

    Matched on (name, type, organization); a group of twins is matched in spec order to
    the connections in id order (the order import --all writes them) only when the
    counts agree, else none of it is."""
    from polyctl.engine.live import live_type

    def key(name, type_id, org):
        return (str(name), str(type_id or "api"), org)

    wanted: dict[tuple, list[str]] = {}
    for address, spec in specs.connections.items():
        if address not in current.resources and spec.organization == organization:
            wanted.setdefault(key(spec.name, spec.type, spec.organization), []).append(address)
    found: dict[tuple, list[dict]] = {}
    for live in unmanaged:
        found.setdefault(key(live.get("name"), live_type(live), organization), []).append(live)
    adopted: dict[str, dict] = {}
    for k, addresses in wanted.items():
        twins = sorted(found.get(k, []), key=lambda c: str(c.get("id")))
        if len(twins) == len(addresses):
            adopted.update(zip(addresses, twins))
    return adopted
