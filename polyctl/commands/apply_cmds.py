"""`apply`, `destroy` and `refresh`: the commands that change Polytomic or the state.

Each runs under the state lock: finish what an interrupted run left (journal), plan
(or load a saved plan and check it is still current), ask, execute, report.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated, Optional

import typer

from polyctl.commands.bulk import collector_paused
from polyctl.commands.errors import CommandError
from polyctl.commands.options import (
    LockTimeoutOpt, ParallelismOpt, ReplaceOpt, SpecsOpt, StateOpt, TargetOpt, WorkspaceOpt,
    make_project,
)

AutoApproveOpt = Annotated[bool, typer.Option(
    "--auto-approve", help="Do not ask for confirmation.")]
NoRefreshOpt = Annotated[bool, typer.Option(
    "--no-refresh", help="Do not read Polytomic before planning.")]


def register(app: typer.Typer) -> None:
    from polyctl.commands import import_cmd

    app.command("apply", help=apply.__doc__)(apply)
    app.command("destroy", help=destroy.__doc__)(destroy)
    app.command("refresh", help=refresh.__doc__)(refresh)
    app.command("import", help=import_cmd.import_.__doc__)(import_cmd.import_)


def apply(
    ctx: typer.Context,
    planfile: Annotated[Optional[Path], typer.Argument(
        metavar="[PLANFILE]", help="Apply exactly this saved plan.")] = None,
    auto_approve: AutoApproveOpt = False,
    specs: SpecsOpt = None,
    state: StateOpt = None,
    workspace: WorkspaceOpt = None,
    lock_timeout: LockTimeoutOpt = None,
    parallelism: ParallelismOpt = None,
    target: TargetOpt = None,
    replace: ReplaceOpt = None,
    no_refresh: NoRefreshOpt = False,
    refresh_only: Annotated[bool, typer.Option(
        "--refresh-only", help="Only record changes made outside polyctl.")] = False,
) -> int:
    """Make Polytomic match the specs (asks for 'yes' unless --auto-approve)."""
    from polyctl.commands.planning import PlanRequest

    request = PlanRequest(refresh=not no_refresh, refresh_only=refresh_only,
                          targets=tuple(target or ()), replace=tuple(replace or ()))
    if planfile is not None and (target or replace or refresh_only or no_refresh):
        raise CommandError("Incompatible options", "A saved plan is applied exactly as it was "
                           "made; planning options cannot be given with it.")
    return _run(ctx, "apply", request, planfile=planfile, auto_approve=auto_approve,
                specs=specs, state=state, workspace=workspace, lock_timeout=lock_timeout,
                parallelism=parallelism)


def destroy(
    ctx: typer.Context,
    auto_approve: AutoApproveOpt = False,
    specs: SpecsOpt = None,
    state: StateOpt = None,
    workspace: WorkspaceOpt = None,
    lock_timeout: LockTimeoutOpt = None,
    parallelism: ParallelismOpt = None,
    target: TargetOpt = None,
    no_refresh: NoRefreshOpt = False,
) -> int:
    """Destroy every managed connection (honouring prevent_destroy and force_destroy)."""
    from polyctl.commands.planning import PlanRequest

    request = PlanRequest(refresh=not no_refresh, destroy=True, targets=tuple(target or ()))
    return _run(ctx, "destroy", request, auto_approve=auto_approve, specs=specs, state=state,
                workspace=workspace, lock_timeout=lock_timeout, parallelism=parallelism)


def refresh(
    ctx: typer.Context,
    specs: SpecsOpt = None,
    state: StateOpt = None,
    workspace: WorkspaceOpt = None,
    lock_timeout: LockTimeoutOpt = None,
    parallelism: ParallelismOpt = None,
    target: TargetOpt = None,
) -> int:
    """Update the state from Polytomic without changing any connection."""
    from polyctl.commands.planning import PlanRequest

    request = PlanRequest(refresh=True, refresh_only=True, targets=tuple(target or ()))
    return _run(ctx, "refresh", request, auto_approve=True, specs=specs, state=state,
                workspace=workspace, lock_timeout=lock_timeout, parallelism=parallelism)


def _run(ctx, operation: str, request, *, planfile: Path | None = None,
         auto_approve: bool, specs, state, workspace, lock_timeout, parallelism) -> int:
    from polyctl.commands.locking import state_lock
    from polyctl.commands.planning import make_plan, show_plan

    from polyctl.commands.remote import api_settings

    rt = ctx.obj
    project = make_project(rt, specs=specs, state=state, workspace=workspace,
                           lock_timeout=lock_timeout, parallelism=parallelism)
    if planfile is None:
        api_settings(rt, project)  # no credentials: say so now, not after showing a plan
    with state_lock(rt, project, operation) as backend:
        with collector_paused():
            current, in_flight, stored_serial = _recover(rt, project, backend)
        if planfile is not None:
            from polyctl.engine.planfile import read_plan_file

            plan = read_plan_file(rt.root / planfile)
            if plan.founding_salt and stored_serial is None:
                current = _founding_state(plan)
            _check_saved_plan(plan, current)
            specs_now = project.load_specs()
        else:
            result = make_plan(rt, project, request, state=current)
            plan, specs_now = result.plan, result.specs
            show_plan(rt, project, plan)
            if not plan.has_changes:
                return _persist_refresh(rt, backend, plan, current, stored_serial, operation,
                                        in_flight)
            if not auto_approve and not _approved(rt, operation):
                rt.out.print(f"{operation.capitalize()} cancelled.", err=True)
                return 1
        return _execute(rt, project, backend, plan, current, stored_serial, specs_now,
                        operation, in_flight)


def _recover(rt, project, backend):
    """Fold an interrupted run's journal into the state and adopt its in-flight creates.

    Returns the state to plan from, the operations still in flight and the serial now
    stored (None: no state is stored yet) — the command's one read of the stored state,
    which nothing else writes while the lock is held."""
    from polyctl.render.lines import Line as Text

    from polyctl.engine.journal import recover
    from polyctl.state.model import State

    stored = backend.read()
    entries = backend.journal_read()
    if not entries:
        return stored or State.new(), [], stored.serial if stored else None
    from polyctl.engine.recovery import adopt_in_flight, settle  # imports the API client

    recovery = recover(stored or State.new(), entries)
    state, notes, declared = recovery.state, [], set()
    if any(i.op == "create" for i in recovery.in_flight):
        from polyctl.commands.remote import api_settings, open_client, run_async

        specs = project.load_specs()
        declared = set(specs.connections)
        settings = api_settings(rt, project)

        async def go():
            async with open_client(settings, project.settings.parallelism) as orgs:
                return await adopt_in_flight(recovery, orgs, specs, project.schemas)

        state, notes = run_async(go())
    state, in_flight, stored_serial = settle(backend, stored, recovery, state, declared)
    rt.out.print(Text(f"Recovered an interrupted run: {recovery.folded} finished operation(s) "
                      f"recorded, {len(recovery.in_flight)} in flight.", style="yellow"), err=True)
    for note in notes:
        rt.out.print(f"  {note}", err=True)
    # what was in flight may still land: this run reuses those Idempotency-Keys
    return state, in_flight, stored_serial


def _founding_state(plan):
    """The state a plan made before any state existed was bound to: its lineage, serial
    0 and the salt of its digests (as a first `terraform apply PLANFILE` founds one)."""
    from polyctl.state.model import State

    return State(lineage=str(plan.lineage), serial=0, digest_salt=str(plan.founding_salt))


def _check_saved_plan(plan, current) -> None:
    if plan.lineage != current.lineage or plan.serial != current.serial:
        raise CommandError(
            "Saved plan is stale",
            f"The plan was made against state serial {plan.serial} (lineage {plan.lineage}), "
            f"but the state is now at serial {current.serial} (lineage {current.lineage}). "
            "Run 'polyctl plan --out FILE' again.")


def _approved(rt, operation: str) -> bool:
    from polyctl.render.lines import Line as Text

    question = ("Do you really want to destroy all managed connections?" if operation == "destroy"
                else "Do you want to perform these actions?")
    rt.out.print("")
    rt.out.print(Text(question, style="bold"))
    rt.out.print("  polyctl will perform the actions described above.")
    rt.out.print("  Only 'yes' will be accepted to approve.")
    rt.out.print("")
    return rt.out.ask(Text("  Enter a value: ")) == "yes"


def _persist_refresh(rt, backend, plan, current, stored_serial: int | None, operation: str,
                     in_flight=()) -> int:
    """No actions: still record what the refresh learned (drift) in the state."""
    from polyctl.render.lines import Line as Text

    from polyctl.engine.journal import end_journal, pending_creates
    from polyctl.engine.records import resource_from_record

    refreshed = {a: resource_from_record(r) for a, r in plan.prior.items()}
    stored, rewritten = current, False
    if plan.refreshed and refreshed != current.resources:
        stored, rewritten = current.with_resources(refreshed).next(), True
        backend.write(stored, expected_serial=stored_serial)
        rt.out.print("")
        rt.out.print("The state now records the changes made outside polyctl.")
    end_journal(backend, stored, pending_creates(in_flight), rewritten=rewritten)
    if operation == "refresh" or plan.mode.value == "refresh-only":
        rt.out.print(Text("Refresh complete!", style="bold green"))
    return 0


def _execute(rt, project, backend, plan, current, stored_serial: int | None, specs_now,
             operation: str, in_flight=()) -> int:
    import asyncio

    from polyctl.commands.remote import api_settings
    from polyctl.engine.apply import Executor
    from polyctl.engine.payload import SecretSource
    from polyctl.render.progress import ProgressPrinter

    needs_api = any(rc.action.value not in ("state-only", "no-op") for rc in plan.changes)
    settings = api_settings(rt, project) if needs_api else None
    with collector_paused():
        secrets = SecretSource(specs_now, current.digest_salt)
        _check_secrets(plan, secrets)
    if stored_serial is None:  # first apply: the state must exist for the CAS write
        backend.write(current, expected_serial=None)
    printer = ProgressPrinter(rt.out, live=rt.env.is_tty(rt.env.stdout) and not rt.no_color)
    rt.out.print("")

    async def go():
        async with _client_or_none(settings, project.settings.parallelism) as orgs:
            executor = Executor(plan, current, backend, secrets, orgs,
                                parallelism=project.settings.parallelism, hooks=printer,
                                in_flight=list(in_flight))
            _install_interrupts(executor)
            return await executor.run()

    try:
        result = asyncio.run(go())
    finally:
        printer.close()
    return _report(rt, result, operation)


def _client_or_none(settings, parallelism):
    from contextlib import asynccontextmanager

    from polyctl.commands.remote import open_client

    if settings is not None:
        return open_client(settings, parallelism)

    @asynccontextmanager
    async def none():
        def orgs(organization):
            raise RuntimeError("no API call expected for state-only changes")

        yield orgs

    return none()


def _check_secrets(plan, secrets) -> None:
    """Refuse before any request if a secret the plan needs is not the one planned."""
    from polyctl.engine.payload import StalePlanError, request_body

    for rc in plan.changes:
        if rc.after is not None and rc.action.value in ("create", "update", "replace"):
            try:
                request_body(secrets, rc.address, rc.after)
            except StalePlanError as exc:
                raise CommandError("Saved plan is stale", f"{exc}. Make a new plan.") from exc


def _install_interrupts(executor) -> None:
    """First Ctrl-C: stop starting operations. Second: exit at once (journal keeps us safe)."""
    import asyncio

    loop = asyncio.get_running_loop()
    count = 0

    def on_interrupt() -> None:
        nonlocal count
        count += 1
        if count == 1:
            executor.cancel()
        else:
            os.write(2, b"\nSecond interrupt: exiting now. The next run finishes what "
                        b"was in flight.\n")
            os._exit(130)

    try:
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
        pass


def _report(rt, result, operation: str) -> int:
    from polyctl.render.lines import Line as Text

    rt.out.print("")
    for error in result.errors:
        rt.out.print(Text.assemble(("Error: ", "bold red"), (f"{error.address}", "bold"),
                                   f" ({error.kind.value}): {error.message}"), err=True)
    if result.errors:
        rt.out.print("", err=True)
    if result.emergency_copy is not None:
        rt.out.print(Text.assemble(
            ("Error: Failed to save the state", "bold red"),
            f"\n\n{result.write_error}\n\nWhat the API did is saved in {result.emergency_copy}. "
            "When the problem is fixed, restore it with: polyctl state push "
            f"{result.emergency_copy}"), err=True)
    counts = f"{result.added} added, {result.changed} changed, {result.destroyed} destroyed."
    if result.interrupted:
        rt.out.print(Text(f"Apply interrupted. Resources: {counts}", style="bold yellow"))
        return 1
    if result.errors or result.emergency_copy is not None:
        rt.out.print(Text(f"Apply incomplete. Resources: {counts} "
                          f"{len(result.errors)} operation(s) failed.", style="bold red"))
        return 1
    if operation == "destroy":
        rt.out.print(Text(f"Destroy complete! Resources: {result.destroyed} destroyed.",
                          style="bold green"))
    else:
        rt.out.print(Text(f"Apply complete! Resources: {counts}", style="bold green"))
    return 0
