"""Making and showing a plan — shared by `plan`, `apply` and `destroy`."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from polyctl.commands.bulk import collector_paused
from polyctl.diagnostics import DiagnosticsError
from polyctl.engine.plan import Action, Mode, Plan
from polyctl.render.diagnostics import render_diagnostics
from polyctl.spec.model import SpecSet
from polyctl.state.model import State


@dataclass(frozen=True)
class PlanRequest:
    refresh: bool = True
    refresh_only: bool = False
    destroy: bool = False
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()

    @property
    def mode(self) -> Mode:
        if self.destroy:
            return Mode.DESTROY
        return Mode.REFRESH_ONLY if self.refresh_only else Mode.NORMAL


@dataclass
class PlanResult:
    plan: Plan
    specs: SpecSet
    state: State


@collector_paused()
def make_plan(rt, project, request: PlanRequest, *, state: State | None = None) -> PlanResult:
    """Load specs and state, refresh if asked (and there is anything to refresh), plan."""
    from polyctl.commands.errors import CommandError
    from polyctl.engine.planner import PlanOptions, plan_changes
    from polyctl.schema import builtin

    if request.refresh_only and request.destroy:
        raise CommandError("Incompatible options", "--refresh-only and --destroy cannot be "
                           "used together.")
    if request.refresh_only and not request.refresh:
        raise CommandError("Incompatible options", "--refresh-only needs a refresh; drop "
                           "--no-refresh.")
    # Large spec sets are parsed in a child process meanwhile (polyctl.spec.ahead);
    # otherwise the specs come first, so that their problems stop a run before the
    # state or the API is touched.
    ahead = project.parse_specs_ahead()
    if not ahead:
        project.load_specs()
    try:
        if state is None:
            stored = project.backend.read()
            state = stored or State.new()
            founding = stored is None
        else:
            founding = False
        refreshed = None
        needs_api = request.refresh and bool(state.resources)
        if needs_api and ahead and not all(builtin(r.type) for r in state.resources.values()):
            # folding a live object takes its type's schema, resolved with the specs
            project.load_specs()
        if needs_api:
            refreshed = _refresh(rt, project, state)
    except KeyboardInterrupt:
        project.cancel_parse_ahead()
        raise
    except DiagnosticsError:
        raise  # the specs' own problems, found loading them for the refresh's schemas
    except BaseException:
        if ahead:
            project.load_specs()  # a problem in the specs is still the one reported
        raise
    specs = project.load_specs()
    plan, diags = plan_changes(
        specs, state, refreshed=refreshed, schemas=project.schemas,
        options=PlanOptions(mode=request.mode, targets=request.targets,
                            replace=request.replace))
    if diags.has_errors:
        raise DiagnosticsError(diags.sorted())
    if founding:
        plan = dataclasses.replace(plan, founding_salt=state.digest_salt)
    if any(rc.force_delete for rc in plan.changes) and request.refresh:
        plan = _with_dependents(rt, project, plan)
    return PlanResult(plan, specs, state)


def _refresh(rt, project, state: State):
    from polyctl.commands.remote import api_settings, open_client, run_async
    from polyctl.engine.refresh import refresh_state

    settings = api_settings(rt, project)

    async def go():
        async with open_client(settings, project.settings.parallelism) as orgs:
            return await refresh_state(state, orgs, project.schemas)

    return run_async(go())


def _with_dependents(rt, project, plan: Plan) -> Plan:
    """Fill in what each forced delete will cascade to (models, syncs, bulk syncs)."""
    from polyctl.commands.remote import api_settings, open_client, run_async

    settings = api_settings(rt, project)
    forced = [rc for rc in plan.resource_changes
              if rc.force_delete and rc.action in (Action.DELETE, Action.REPLACE)]

    async def go():
        async with open_client(settings, project.settings.parallelism) as orgs:
            out = {}
            for rc in forced:
                org = orgs((rc.before or {}).get("organization"))
                found = await org.find_dependents(rc.id)
                out[rc.address] = tuple(found)
            return out

    dependents = run_async(go())
    return dataclasses.replace(plan, resource_changes=tuple(
        dataclasses.replace(rc, dependents=dependents.get(rc.address, rc.dependents))
        for rc in plan.resource_changes))


@collector_paused()
def show_plan(rt, project, plan: Plan, *, json_out: bool = False) -> None:
    from polyctl.render.plan_text import plan_pieces, render_warnings

    if json_out:
        from polyctl.render.plan_json import plan_to_json

        rt.out.raw(json.dumps(plan_to_json(plan), indent=2))
        rt.out.lines(render_diagnostics(project.warnings), err=True)
        return
    rt.out.lines(render_diagnostics(project.warnings), err=True)
    batch: list = []
    for piece in plan_pieces(plan):  # print as rendered: 10,000 creates are 250,000 lines
        batch += piece
        if len(batch) >= 2000:
            rt.out.lines(batch)
            batch = []
    if batch:
        rt.out.lines(batch)
    warnings = render_warnings(plan)
    if warnings:
        rt.out.print("")
        rt.out.lines(warnings)
