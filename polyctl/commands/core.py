"""`validate`, `plan` and `show`: the read-only commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from polyctl.commands.bulk import collector_paused
from polyctl.commands.options import (
    JsonOpt, RefreshSchemasOpt, ReplaceOpt, SpecsOpt, StateOpt, TargetOpt, WorkspaceOpt,
    display_path, make_project,
)


def validate(
    ctx: typer.Context,
    specs: SpecsOpt = None,
    json_out: JsonOpt = False,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Use only cached connection-type schemas; never call the API.")] = False,
    refresh_schemas: RefreshSchemasOpt = False,
) -> int:
    """Check the specs: syntax, attributes, types, interpolation (no changes made)."""
    from polyctl.diagnostics import DiagnosticsError
    from polyctl.render.diagnostics import render_diagnostics

    rt = ctx.obj
    try:
        with collector_paused():
            project = make_project(rt, specs=specs, offline=offline,
                                   refresh_schemas=refresh_schemas)
            spec_set = project.load_specs()
    except DiagnosticsError as exc:
        if json_out:
            errors = sum(d.severity.value == "error" for d in exc.diagnostics)
            rt.out.raw(json.dumps({"valid": False, "error_count": errors,
                                   "diagnostics": [d.to_json() for d in exc.diagnostics]},
                                  indent=2))
            return 1
        raise
    warnings = list(project.warnings)
    if json_out:
        rt.out.raw(json.dumps({"valid": True, "error_count": 0,
                               "connection_count": len(spec_set.connections),
                               "diagnostics": [d.to_json() for d in warnings]}, indent=2))
        return 0
    rt.out.lines(render_diagnostics(warnings), err=True)
    n = len(spec_set.connections)
    rt.out.print(f"Success! {n} connection{'s' * (n != 1)} in "
                 f"{display_path(rt, project.settings.specs_dir)}/ "
                 f"({len(spec_set.files)} file{'s' * (len(spec_set.files) != 1)}) "
                 "are valid.")
    return 0


def plan(
    ctx: typer.Context,
    specs: SpecsOpt = None,
    state: StateOpt = None,
    workspace: WorkspaceOpt = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", metavar="FILE", help="Save the plan for 'polyctl apply FILE'.")] = None,
    json_out: JsonOpt = False,
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 0: no changes, 1: error, 2: changes.")] = False,
    no_refresh: Annotated[bool, typer.Option(
        "--no-refresh", help="Plan against the state without reading Polytomic.")] = False,
    refresh_only: Annotated[bool, typer.Option(
        "--refresh-only", help="Only record changes made outside polyctl.")] = False,
    destroy: Annotated[bool, typer.Option("--destroy", help="Plan to destroy everything managed.")] = False,
    target: TargetOpt = None,
    replace: ReplaceOpt = None,
    parallelism: Annotated[Optional[int], typer.Option("--parallelism", min=1, metavar="N")] = None,
    refresh_schemas: RefreshSchemasOpt = False,
) -> int:
    """Show what apply would change (refreshing from Polytomic unless --no-refresh)."""
    from polyctl.commands.planning import PlanRequest, make_plan, show_plan

    rt = ctx.obj
    project = make_project(rt, specs=specs, state=state, workspace=workspace,
                           parallelism=parallelism, refresh_schemas=refresh_schemas)
    request = PlanRequest(refresh=not no_refresh, refresh_only=refresh_only, destroy=destroy,
                          targets=tuple(target or ()), replace=tuple(replace or ()))
    result = make_plan(rt, project, request)
    if out is not None:
        from polyctl.engine.planfile import write_plan_file

        write_plan_file(rt.root / out, result.plan)
    show_plan(rt, project, result.plan, json_out=json_out)
    if out is not None and not json_out:
        rt.out.print("")
        rt.out.print(f'Saved the plan to: {display_path(rt, rt.root / out)}')
        rt.out.print(f'To perform exactly these actions, run: polyctl apply {out}')
    if detailed_exitcode and result.plan.has_changes:
        return 2
    return 0


def show(
    ctx: typer.Context,
    planfile: Annotated[Optional[Path], typer.Argument(
        metavar="[PLANFILE]", help="A saved plan to show instead of the state.")] = None,
    state: StateOpt = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> int:
    """Show the state (or a saved plan), with sensitive values hidden."""
    rt = ctx.obj
    project = make_project(rt, state=state, workspace=workspace)
    if planfile is not None:
        from polyctl.commands.planning import show_plan
        from polyctl.engine.planfile import read_plan_file

        show_plan(rt, project, read_plan_file(rt.root / planfile), json_out=json_out)
        return 0
    from polyctl.render.state_view import render_state, state_to_json

    current = project.backend.read()
    if json_out:
        rt.out.raw(json.dumps(state_to_json(current), indent=2))
        return 0
    if current is None or not current.resources:
        rt.out.print("No state: nothing is managed yet.")
        return 0
    rt.out.lines(render_state(current))
    return 0
