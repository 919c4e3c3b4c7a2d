"""The command line: global flags, command registration, and the one error handler.

Every failure a user can cause ends here as a message and an exit code (`ExitCode`);
no traceback reaches a user unless `--debug` asks for it. Commands live in
`polyctl.commands.*` and return an exit code.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, Optional

import click
import typer

from polyctl import __version__
from polyctl.console import Environment, Output


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    CHANGES = 2  # plan --detailed-exitcode: succeeded and there are changes


@dataclass
class Runtime:
    """What every command gets: environment, output, project root, global flags."""

    env: Environment
    output: Output | None = None
    root: Path = Path(".")
    no_color: bool = False
    sandbox: bool = False
    debug: bool = False
    cleanups: list[Any] = field(default_factory=list)

    @property
    def out(self) -> Output:
        assert self.output is not None
        return self.output


app = typer.Typer(
    name="polyctl",
    help="Declarative reconciler for Polytomic connections: plan, apply, import.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"polyctl v{__version__}")
        raise typer.Exit(0)


@app.callback()
def _global(
    ctx: typer.Context,
    chdir: Annotated[Optional[Path], typer.Option(
        "-C", "--chdir", help="Run as if polyctl was started in DIR.", metavar="DIR")] = None,
    no_color: Annotated[bool, typer.Option(
        "--no-color", help="Plain output (also NO_COLOR; automatic when not a TTY).")] = False,
    sandbox: Annotated[bool, typer.Option(
        "--sandbox", help="Use an embedded local Polytomic sandbox (no account needed).")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    rt: Runtime = ctx.obj
    rt.root = (rt.env.cwd / chdir).resolve() if chdir else rt.env.cwd
    if chdir and not rt.root.is_dir():
        raise typer.BadParameter(f"{chdir}: no such directory", param_hint="'-C'")
    rt.no_color, rt.sandbox, rt.debug = no_color, sandbox, debug
    rt.output = Output(rt.env, no_color=no_color)


def _register() -> None:
    from polyctl.commands import apply_cmds, core, sandbox_cmd, state_cmds, types_cmd

    app.command("validate", help=core.validate.__doc__)(core.validate)
    app.command("plan", help=core.plan.__doc__)(core.plan)
    app.command("show", help=core.show.__doc__)(core.show)
    app.command("force-unlock", help=state_cmds.force_unlock.__doc__)(state_cmds.force_unlock)
    app.add_typer(state_cmds.state_app, name="state")
    apply_cmds.register(app)
    app.add_typer(types_cmd.types_app, name="types")
    app.command("sandbox", help=sandbox_cmd.sandbox.__doc__)(sandbox_cmd.sandbox)


_register()


def run(argv: list[str], env: Environment | None = None) -> int:
    """Run polyctl with `argv`; return the exit code. Never raises (except SystemExit)."""
    env = env or Environment()
    rt = Runtime(env=env)
    command = typer.main.get_command(app)
    try:
        # click prints --help, --version and bare-group help with its own echo to
        # sys.stdout: point that at this run's streams too.
        with contextlib.redirect_stdout(env.stdout), contextlib.redirect_stderr(env.stderr):
            result = command.main(args=list(argv), prog_name="polyctl", standalone_mode=False,
                                  obj=rt)
        return int(result or 0)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        _fallback(rt).print("Interrupted.", err=True)
        return ExitCode.ERROR
    except click.ClickException as exc:
        # Usage errors exit 1, never click's 2: 2 means "changes" to --detailed-exitcode.
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `polyctl`: the help, as git does
            _fallback(rt).print(exc.format_message(), err=True)
            return ExitCode.ERROR
        ctx = getattr(exc, "ctx", None)
        hint = f"\nRun '{ctx.command_path} --help' for usage." if ctx is not None else ""
        _fallback(rt).print(f"Error: {exc.format_message()}{hint}", err=True)
        return ExitCode.ERROR
    except KeyboardInterrupt:
        _fallback(rt).print("Interrupted.", err=True)
        return 130
    except Exception as exc:  # the one place errors become messages
        return handle_error(rt, exc)
    finally:
        for cleanup in reversed(rt.cleanups):
            try:
                cleanup()
            except Exception:  # pragma: no cover - best effort on the way out
                pass
        from polyctl.commands.bulk import release_frozen

        release_frozen()


def _fallback(rt: Runtime) -> Output:
    if rt.output is None:
        rt.output = Output(rt.env, no_color=True)
    return rt.output


def handle_error(rt: Runtime, exc: BaseException) -> int:
    from polyctl.commands.errors import describe_error

    out = _fallback(rt)
    lines = describe_error(exc)
    if lines is None:
        if rt.debug:
            out.raw("".join(traceback.format_exception(exc)), err=True)
        out.print(f"Error: internal error: {type(exc).__name__}: {exc}", err=True)
        out.print("This is a bug in polyctl; run again with --debug for a traceback.", err=True)
        return ExitCode.ERROR
    if rt.debug:
        out.raw("".join(traceback.format_exception(exc)), err=True)
    out.lines(lines, err=True)
    return ExitCode.ERROR


def main() -> None:  # pragma: no cover - console script goes through __main__
    raise SystemExit(run(sys.argv[1:]))
