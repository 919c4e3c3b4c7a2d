"""`state list|show|rm|mv|pull|push|history|restore|migrate` and `force-unlock`:
careful state surgery.

Every command that writes takes the lock, writes with a compare-and-swap on the
serial, and leaves the previous version as the backend's backup (the PostgreSQL
backend keeps every version: `history`, `pull --serial`, `restore`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from polyctl.commands.errors import CommandError
from polyctl.commands.options import (
    JsonOpt,
    LockTimeoutOpt,
    StateOpt,
    WorkspaceOpt,
    make_project,
)
from polyctl.diagnostics import did_you_mean

state_app = typer.Typer(help="Inspect and edit the state.", no_args_is_help=True,
                        add_completion=False)

AddressArg = Annotated[str, typer.Argument(metavar="ADDR", help="e.g. connection.example")]


def _missing(address: str, state) -> CommandError:
    known = list(state.resources) if state else []
    return CommandError("Resource not in state",
                        f'"{address}" is not recorded in the state.{did_you_mean(address, known)}')


@state_app.command("list")
def state_list(ctx: typer.Context, state: StateOpt = None, workspace: WorkspaceOpt = None) -> int:
    """List the addresses recorded in the state."""
    rt = ctx.obj
    current = make_project(rt, state=state, workspace=workspace).backend.read()
    for address in sorted(current.resources if current else ()):
        rt.out.print(address)
    return 0


@state_app.command("show")
def state_show(ctx: typer.Context, address: AddressArg, state: StateOpt = None,
               workspace: WorkspaceOpt = None) -> int:
    """Show one resource from the state (sensitive values hidden)."""
    from polyctl.render.state_view import render_resource

    rt = ctx.obj
    current = make_project(rt, state=state, workspace=workspace).backend.read()
    if current is None or address not in current.resources:
        raise _missing(address, current)
    rt.out.lines(render_resource(address, current.resources[address]))
    return 0


def _edit(ctx, operation: str, state_opt, workspace, lock_timeout, change) -> int:
    """Read under the lock, apply `change(state) -> (new resources, message)`, CAS-write."""
    from polyctl.commands.locking import state_lock

    rt = ctx.obj
    project = make_project(rt, state=state_opt, workspace=workspace, lock_timeout=lock_timeout)
    with state_lock(rt, project, operation) as backend:
        current = backend.read()
        if current is None:
            raise CommandError("No state", "There is no state to change yet.")
        resources, message = change(current)
        backend.write(current.with_resources(resources).next(), expected_serial=current.serial)
    rt.out.print(message)
    return 0


@state_app.command("rm")
def state_rm(ctx: typer.Context, address: Annotated[list[str], typer.Argument(metavar="ADDR...")],
             state: StateOpt = None, workspace: WorkspaceOpt = None,
             lock_timeout: LockTimeoutOpt = None) -> int:
    """Forget resources (they stay in Polytomic, no longer managed)."""
    def change(current):
        for a in address:
            if a not in current.resources:
                raise _missing(a, current)
        kept = {a: r for a, r in current.resources.items() if a not in address}
        n = len(address)
        return kept, f"Removed {n} resource{'s' * (n != 1)} from the state: {', '.join(address)}"

    return _edit(ctx, "state rm", state, workspace, lock_timeout, change)


@state_app.command("mv")
def state_mv(ctx: typer.Context, source: AddressArg, destination: AddressArg,
             state: StateOpt = None, workspace: WorkspaceOpt = None,
             lock_timeout: LockTimeoutOpt = None) -> int:
    """Move a resource to another address (e.g. after renaming its local name)."""
    import re

    if not re.fullmatch(r"connection\.[A-Za-z_][A-Za-z0-9_-]*", destination):
        raise CommandError("Invalid address", f'"{destination}" is not a connection address '
                           "(connection.<local name>).")

    def change(current):
        if source not in current.resources:
            raise _missing(source, current)
        if destination in current.resources:
            raise CommandError("Destination exists",
                               f"{destination} is already in the state; remove it first.")
        moved = dict(current.resources)
        moved[destination] = moved.pop(source)
        return moved, f'Moved {source} to {destination}'

    return _edit(ctx, "state mv", state, workspace, lock_timeout, change)


@state_app.command("pull")
def state_pull(ctx: typer.Context, state: StateOpt = None, workspace: WorkspaceOpt = None,
               serial: Annotated[Optional[int], typer.Option(
                   "--serial", help="An earlier version (backends that keep history).")] = None
               ) -> int:
    """Print the raw state JSON (secrets are digests only)."""
    from polyctl.state.model import dumps

    rt = ctx.obj
    backend = make_project(rt, state=state, workspace=workspace).backend
    if serial is not None:
        reader = getattr(backend, "read_version", None)
        if reader is None:
            raise CommandError("No history", "This state backend keeps no history of earlier "
                               "versions (the PostgreSQL backend does).")
        current = reader(serial)
    else:
        current = backend.read()
    if current is None:
        raise CommandError("No state", "There is no state yet.")
    rt.out.raw(dumps(current).decode())
    return 0


@state_app.command("push")
def state_push(ctx: typer.Context,
               path: Annotated[Path, typer.Argument(metavar="FILE", help="State JSON, or - for stdin.")],
               force: Annotated[bool, typer.Option(
                   "--force", help="Write even over another lineage or a higher serial.")] = False,
               state: StateOpt = None, workspace: WorkspaceOpt = None,
               lock_timeout: LockTimeoutOpt = None) -> int:
    """Replace the stored state with FILE (refused if it would lose newer changes)."""
    from polyctl.commands.locking import state_lock
    from polyctl.state.model import loads

    rt = ctx.obj
    raw = rt.env.stdin.read() if str(path) == "-" else (rt.root / path).read_bytes()
    incoming = loads(raw, source=str(path))
    project = make_project(rt, state=state, workspace=workspace, lock_timeout=lock_timeout)
    with state_lock(rt, project, "state push") as backend:
        current = backend.read()
        if current is not None and not force:
            if incoming.lineage != current.lineage:
                raise CommandError("Lineage mismatch",
                                   f"{path} has lineage {incoming.lineage} but the stored state "
                                   f"has {current.lineage}; use --force to overwrite it.")
            if incoming.serial < current.serial:
                raise CommandError("Older state",
                                   f"{path} has serial {incoming.serial}, older than the stored "
                                   f"{current.serial}; use --force to overwrite it.")
        serial = max(incoming.serial, current.serial if current else -1) + 1
        written = dataclasses.replace(incoming, serial=serial)
        if current is not None and written.lineage != current.lineage:
            written = dataclasses.replace(written, lineage=current.lineage)
        backend.write(written, expected_serial=current.serial if current else None)
    rt.out.print(f"Pushed the state (serial {serial}).")
    return 0


def _history_method(backend, name: str):
    method = getattr(backend, name, None)
    if method is None:
        raise CommandError("No history", "This state backend keeps no history of earlier "
                           "versions (the PostgreSQL backend does); the file backend keeps "
                           "only the previous one, in its .backup file.")
    return method


@state_app.command("history")
def state_history(ctx: typer.Context, state: StateOpt = None, workspace: WorkspaceOpt = None,
                  json_out: JsonOpt = False) -> int:
    """List every stored version of the state, oldest first (* marks the current one)."""
    rt = ctx.obj
    backend = make_project(rt, state=state, workspace=workspace).backend
    versions = _history_method(backend, "history")()
    if json_out:
        rt.out.raw(json.dumps(versions, indent=2))
        return 0
    if not versions:
        rt.out.print("No state has been written yet.")
        return 0
    current = backend.read()
    rows = [("SERIAL", "WRITTEN (UTC)", "WHO", "OPERATION", "RESOURCES", "LINEAGE")]
    for v in versions:
        mark = " *" if current and (v["serial"], v["lineage"]) == (current.serial,
                                                                   current.lineage) else ""
        rows.append((f"{v['serial']}{mark}", v["when"], v["who"], v["operation"],
                     str(v["resources"]), v["lineage"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        rt.out.print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


@state_app.command("restore")
def state_restore(ctx: typer.Context,
                  serial: Annotated[int, typer.Option(
                      "--serial", help="The version to restore (see `polyctl state history`).")],
                  state: StateOpt = None, workspace: WorkspaceOpt = None,
                  lock_timeout: LockTimeoutOpt = None) -> int:
    """Make an earlier version current again, written as a new serial (history is kept).

    Only the state changes; the next plan shows what differs in Polytomic."""
    from polyctl.commands.locking import state_lock

    rt = ctx.obj
    project = make_project(rt, state=state, workspace=workspace, lock_timeout=lock_timeout)
    read_version = _history_method(project.backend, "read_version")
    with state_lock(rt, project, "state restore") as backend:
        current = backend.read()
        old = read_version(serial)
        if old is None or current is None:
            raise CommandError("No such version", f"Serial {serial} is not in the history of "
                               "this workspace; see polyctl state history.")
        if old.lineage != current.lineage:
            raise CommandError("Lineage mismatch", f"Serial {serial} belongs to lineage "
                               f"{old.lineage}, not the current {current.lineage}.")
        written = dataclasses.replace(old, serial=current.serial + 1)
        backend.write(written, expected_serial=current.serial)
    rt.out.print(f"Restored serial {serial} as serial {written.serial} "
                 f"({len(written.resources)} resources).")
    return 0


@state_app.command("migrate")
def state_migrate(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", metavar="PATH_OR_URL",
                                    help="Target: a state file path or a postgresql:// URL.")],
    to_workspace: Annotated[Optional[str], typer.Option(
        "--to-workspace", metavar="NAME", help="Workspace at the target (default: the same).")
    ] = None,
    state: StateOpt = None, workspace: WorkspaceOpt = None, lock_timeout: LockTimeoutOpt = None,
) -> int:
    """Copy the state to another backend (file <-> PostgreSQL), holding both locks.

    Copies into an empty target, updates an older copy of the same lineage, does
    nothing when the target already holds it, and refuses a target holding another
    lineage or newer changes. The source is left as it was."""
    from polyctl.commands.locking import state_lock
    from polyctl.state import open_backend

    rt = ctx.obj
    project = make_project(rt, state=state, workspace=workspace, lock_timeout=lock_timeout)
    location = to if "://" in to else str(rt.root / to)
    target = open_backend(location, workspace=to_workspace or project.settings.workspace)
    if target.description == project.backend.description:
        raise CommandError("Same state", f"{to} is where the state already is.")
    # the target gets the same lock timeout, waiting message and stale-lock warning
    with state_lock(rt, project, "state migrate") as source, \
            state_lock(rt, project, "state migrate", backend=target):
        current = source.read()
        if current is None:
            raise CommandError("No state", f"There is no state in {source.description} "
                               "to migrate.")
        if source.journal_read():
            raise CommandError("Unfinished run", "The source holds the journal of an apply "
                               "that did not finish; run polyctl apply (or refresh) first so "
                               "nothing in flight is lost, then migrate.")
        existing = target.read()
        if existing is not None and existing.lineage != current.lineage:
            raise CommandError("Lineage mismatch", f"{target.description} already holds "
                               f"another state (lineage {existing.lineage}, serial "
                               f"{existing.serial}); nothing was copied.")
        if existing == current:
            rt.out.print(f"{target.description} already holds this state (serial "
                         f"{current.serial}); nothing to do.")
            return 0
        if existing is not None and existing.serial >= current.serial:
            raise CommandError("Target is newer", f"{target.description} holds serial "
                               f"{existing.serial} of this lineage, the source serial "
                               f"{current.serial}: copying would lose its changes.")
        target.write(current, expected_serial=existing.serial if existing else None)
    rt.out.print(f"Copied the state (lineage {current.lineage}, serial {current.serial}, "
                 f"{len(current.resources)} resources) to {target.description}.")
    rt.out.print("The source was left as it was; point --state, POLYCTL_STATE or `state:` in "
                 "polyctl.yaml at the target to use it.")
    return 0


def force_unlock(
    ctx: typer.Context,
    lock_id: Annotated[str, typer.Argument(metavar="LOCK_ID")],
    state: StateOpt = None,
    workspace: WorkspaceOpt = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask for confirmation.")] = False,
) -> int:
    """Release a state lock left behind by a run that died."""
    rt = ctx.obj
    backend = make_project(rt, state=state, workspace=workspace).backend
    holder = backend.current_lock()
    if holder is not None and not force:
        rt.out.print(holder.describe())
        answer = rt.out.ask("Do you really want to force-unlock? Only 'yes' will be accepted: ")
        if answer != "yes":
            rt.out.print("force-unlock cancelled.", err=True)
            return 1
    removed = backend.force_unlock(lock_id)
    rt.out.print(f"polyctl state has been successfully unlocked! (lock {removed.id} held by "
                 f"{removed.who}, {removed.operation})")
    return 0
