"""Option declarations shared by several commands, and the `Project` they resolve to."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from polyctl.diagnostics import Diagnostics, DiagnosticsError

SpecsOpt = Annotated[Optional[str], typer.Option(
    "--specs", metavar="DIR", help="Spec directory (default specs/).")]
StateOpt = Annotated[Optional[str], typer.Option(
    "--state", metavar="PATH", help="State file or postgresql:// URL (env POLYCTL_STATE).")]
WorkspaceOpt = Annotated[Optional[str], typer.Option(
    "--workspace", metavar="NAME", help="State workspace (env POLYCTL_WORKSPACE).")]
LockTimeoutOpt = Annotated[Optional[str], typer.Option(
    "--lock-timeout", metavar="DURATION", help="Wait this long for the state lock (e.g. 30s).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
TargetOpt = Annotated[Optional[list[str]], typer.Option(
    "--target", metavar="ADDR", help="Limit to this resource address (repeatable).")]
ReplaceOpt = Annotated[Optional[list[str]], typer.Option(
    "--replace", metavar="ADDR", help="Force replacement of this resource (repeatable).")]
RefreshSchemasOpt = Annotated[bool, typer.Option(
    "--refresh-schemas", help="Fetch connection-type schemas again, ignoring the cache.")]
ParallelismOpt = Annotated[Optional[int], typer.Option(
    "--parallelism", min=1, metavar="N", help="Concurrent API operations (default 10).")]


def make_project(rt, *, specs: str | None = None, state: str | None = None,
                 workspace: str | None = None, lock_timeout: str | None = None,
                 parallelism: int | None = None, offline: bool = False,
                 refresh_schemas: bool = False):
    """Resolve settings (flag > env > polyctl.yaml > default) into a Project."""
    from polyctl.engine.project import Project
    from polyctl.settings import load_project_file, parse_duration, resolve_settings

    diags = Diagnostics()
    project_file = load_project_file(rt.root, diags)
    timeout = None
    if lock_timeout is not None:
        try:
            timeout = parse_duration(lock_timeout)
        except ValueError as exc:
            diags.error("Invalid --lock-timeout", f"{exc}.")
    if diags.has_errors:
        raise DiagnosticsError(diags.sorted())
    settings = resolve_settings(
        rt.root, env=rt.env.environ, project=project_file, specs=specs, state=state,
        workspace=workspace, parallelism=parallelism, lock_timeout=timeout)
    project = Project(settings=settings, env=rt.env.environ)
    project.schema_source = _schema_registry(rt, project, offline=offline,
                                             refresh=refresh_schemas)
    return project


def _schema_registry(rt, project, *, offline: bool, refresh: bool):
    """Type schemas from the API (or the embedded sandbox), cached under .polyctl/cache/."""
    from polyctl.engine.schemas import SchemaRegistry, cache_dir_for

    def fetch(work):
        from polyctl.commands.remote import api_settings, open_client, run_async

        settings = api_settings(rt, project)

        async def go():
            async with open_client(settings, 10) as orgs:
                return await work(orgs(None))

        return run_async(go())

    base_url = rt.env.environ.get("POLYTOMIC_DEPLOYMENT_URL")
    return SchemaRegistry(cache_dir_for(rt.root, base_url, sandbox=rt.sandbox), fetch,
                          refresh=refresh, offline=offline)


def display_path(rt, path: str | Path) -> str:
    try:
        return Path(path).relative_to(rt.root).as_posix()
    except ValueError:
        return str(path)
