"""`polyctl types list | show ID | scaffold ID`: connection types from the API's schemas."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from polyctl.commands.errors import CommandError
from polyctl.commands.options import RefreshSchemasOpt, make_project

types_app = typer.Typer(help="Connection types and their configuration fields.",
                        no_args_is_help=True, add_completion=False)

TypeArg = Annotated[str, typer.Argument(metavar="ID", help="A connection type id, e.g. postgresql")]


def _schema(rt, type_id: str, refresh: bool):
    from polyctl.schema import UnknownTypeError

    project = make_project(rt, refresh_schemas=refresh)
    registry = project.schema_source
    try:
        schema = registry.lookup(type_id)
    except UnknownTypeError as exc:
        raise CommandError("Unknown connection type",
                           f'"{type_id}" is not a Polytomic connection type.{exc.suggestion}'
                           ) from exc
    if schema is None:
        raise CommandError("Schema not available", f'The schema of "{type_id}" could not be '
                           f"read: {registry.unchecked.get(type_id, 'unknown reason')}.")
    return schema


@types_app.command("list")
def types_list(ctx: typer.Context, refresh_schemas: RefreshSchemasOpt = False) -> int:
    """List the connection types the API offers."""
    rt = ctx.obj
    registry = make_project(rt, refresh_schemas=refresh_schemas).schema_source
    try:
        listed = registry.type_list()
    except LookupError as exc:
        raise CommandError("Cannot list connection types", str(exc)) from exc
    width = max((len(str(t.get("id"))) for t in listed), default=2)
    rt.out.print(f"{'ID'.ljust(width)}  NAME")
    for t in listed:
        rt.out.print(f"{str(t.get('id')).ljust(width)}  {t.get('name', '')}")
    return 0


@types_app.command("show")
def types_show(ctx: typer.Context, type_id: TypeArg, refresh_schemas: RefreshSchemasOpt = False) -> int:
    """Show a type's configuration fields."""
    from polyctl.render.types_view import field_table

    rt = ctx.obj
    schema = _schema(rt, type_id, refresh_schemas)
    rt.out.print(f"Connection type {type_id}")
    rt.out.print("")
    for line in field_table(schema):
        rt.out.print(line)
    return 0


@types_app.command("scaffold")
def types_scaffold(
    ctx: typer.Context,
    type_id: TypeArg,
    name: Annotated[Optional[str], typer.Option(
        "--name", metavar="LOCAL_NAME", help="Local name of the connection (default my_<type>).")] = None,
    refresh_schemas: RefreshSchemasOpt = False,
) -> int:
    """Print a commented YAML spec skeleton for a type."""
    import re

    from polyctl.render.types_view import scaffold

    rt = ctx.obj
    schema = _schema(rt, type_id, refresh_schemas)
    local = name or re.sub(r"[^a-z0-9_]", "_", f"my_{type_id}".lower())
    rt.out.raw(scaffold(schema, local_name=local, display_name=f"My {type_id}"))
    return 0
