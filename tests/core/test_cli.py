"""CLI basics: --version and --help as real processes (module and console script), -C,
colour only on a terminal and never with --no-color/NO_COLOR, usage errors exit 1,
validate --json, and polyctl.yaml settings (flag > env > file > default)."""

from __future__ import annotations

import io
import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from core_helpers import ANSI, assert_clean, errors, invoke, resource, run_cli, spec, write_state

from polyctl import __version__
from tests.conftest import base_env

BAD_SPEC = "connections:\n  c: {name: C, configuration: {urll: x}}\n"
GOOD_SPEC = "connections:\n  c: {name: C, configuration: {url: https://c.example.com}}\n"


# -- version and help ------------------------------------------------------------------------

@pytest.mark.parametrize("args", [("--version",), ("version",)])
def test_version_as_a_process(project, args):
    result = run_cli(*args, cwd=project)

    assert (result.code, result.stdout, result.stderr) == (0, f"polyctl v{__version__}\n", "")


def test_version_and_help_through_the_console_script(project):
    script = shutil.which("polyctl")
    if script is None:
        pytest.skip("the polyctl console script is not on PATH (pip install -e . installs it)")

    version = subprocess.run([script, "--version"], cwd=project, env=base_env(),
                             capture_output=True, text=True, timeout=60)
    helped = subprocess.run([script, "--help"], cwd=project, env=base_env(),
                            capture_output=True, text=True, timeout=60)

    assert (version.returncode, version.stdout) == (0, f"polyctl v{__version__}\n")
    assert helped.returncode == 0
    assert helped.stdout.startswith("Usage: polyctl [OPTIONS] COMMAND [ARGS]...")


def test_version_and_help_in_process_go_to_the_run_streams(project, capsys):
    version = invoke("--version", cwd=project)
    helped = invoke("--help", cwd=project)
    state_help = invoke("state", cwd=project)  # a bare group prints its help

    assert (version.code, version.stdout) == (0, f"polyctl v{__version__}\n")
    assert helped.code == 0 and helped.stdout.startswith("Usage: polyctl [OPTIONS] COMMAND")
    assert "state rm" in state_help.output or "Commands:" in state_help.output
    leaked = capsys.readouterr()
    assert leaked.out == "" and leaked.err == ""


def test_help_lists_the_commands_and_global_flags(project):
    result = run_cli("--help", cwd=project)

    assert result.code == 0
    for word in ("validate", "plan", "show", "state", "force-unlock", "-C, --chdir",
                 "--no-color", "--version"):
        assert word in result.stdout, word
    assert_clean(result)


@pytest.mark.parametrize("command", [("plan",), ("validate",), ("state", "rm"), ("show",),
                                     ("force-unlock",)])
def test_each_command_has_help(project, command):
    result = invoke(*command, "--help", cwd=project)

    assert result.code == 0
    assert result.stdout.startswith(f"Usage: polyctl {' '.join(command)} ")


def test_plan_help_lists_its_options(project):
    result = invoke("plan", "--help", cwd=project)

    for option in ("--out", "--json", "--detailed-exitcode", "--no-refresh", "--target",
                   "--replace", "--destroy", "--specs", "--state"):
        assert option in result.stdout, option


# -- usage errors exit 1 -----------------------------------------------------------------

USAGE_ERRORS = {
    "unknown command": (("bogus",), "No such command 'bogus'"),
    "unknown option": (("plan", "--bogus"), "No such option"),
    "missing argument": (("state", "rm"), "Missing argument 'ADDR...'"),
    "bad option value": (("plan", "--parallelism", "0"), "Invalid value for '--parallelism'"),
    "-C to nowhere": (("-C", "no/such/dir", "validate"), "no such directory"),
    "with --detailed-exitcode": (("plan", "--no-refresh", "--detailed-exitcode", "--bogus"),
                                 "No such option"),
}


@pytest.mark.parametrize("args, message", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_errors_exit_1_not_2(project, args, message):
    result = invoke(*args, cwd=project)

    assert result.code == 1, result.output
    assert message in result.stderr
    if "--bogus" in args:  # click words it "No such option: --bogus" or "… '--bogus'"
        assert "--bogus" in result.stderr
    assert "--help' for usage." in result.stderr
    assert_clean(result)


def test_usage_error_of_a_real_process_exits_1(project):
    result = run_cli("plan", "--no-refresh", "--detailed-exitcode", "--bogus", cwd=project)

    assert result.code == 1
    assert "No such option" in result.stderr


# -- -C ----------------------------------------------------------------------------------

def test_chdir_runs_in_another_directory(project, tmp_path):
    spec(project, "c.yaml", BAD_SPEC)

    result = invoke("-C", "project", "validate", cwd=tmp_path)

    assert result.code == 1
    assert "on specs/c.yaml:2:32, in connection.c.configuration.urll" in result.stderr


def test_chdir_finds_state_and_project_file_there(project, tmp_path):
    write_state(project, {"connection.x": resource("id-x", "X")}, name="elsewhere.json")
    (project / "polyctl.yaml").write_text("state: elsewhere.json\n")

    result = invoke("-C", str(project), "state", "list", cwd=tmp_path)

    assert (result.code, result.stdout) == (0, "connection.x\n")


# -- colour ------------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_on_terminal(project, *args, environ=None) -> str:
    from polyctl.cli import run
    from polyctl.console import Environment

    out, err = _Terminal(), _Terminal()
    env = Environment(stdin=io.StringIO(), stdout=out, stderr=err,
                      environ=base_env(environ), cwd=project)
    run(list(args), env)
    return out.getvalue() + err.getvalue()


@pytest.mark.parametrize("command", [("validate",), ("plan", "--no-refresh")])
def test_colour_on_a_terminal_and_never_when_asked_not_to(project, command):
    spec(project, "bad.yaml", BAD_SPEC)
    if command[0] == "plan":
        (project / "specs" / "bad.yaml").write_text(GOOD_SPEC)

    coloured = run_on_terminal(project, *command)
    flag = run_on_terminal(project, "--no-color", *command)
    env = run_on_terminal(project, *command, environ={"NO_COLOR": "1"})

    assert ANSI.search(coloured), coloured  # the control: a terminal gets colour
    assert not ANSI.search(flag)
    assert not ANSI.search(env)
    assert flag == env
    assert ANSI.sub("", flag) == flag


def test_no_colour_when_not_a_terminal(project):
    spec(project, "bad.yaml", BAD_SPEC)
    write_state(project, {"connection.old": resource("id-old", "Old")})

    for args in (("validate",), ("show",), ("state", "list")):
        result = invoke(*args, cwd=project)
        assert result.output and not ANSI.search(result.output), args
    (project / "specs" / "bad.yaml").write_text(GOOD_SPEC)
    piped = run_cli("plan", "--no-refresh", cwd=project)  # a real pipe, not a StringIO
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in piped.stdout
    assert not ANSI.search(piped.output)


def _on_a_pty(args, cwd: Path, environ: dict[str, str]) -> str:
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "polyctl", *args], cwd=cwd,
                                env=base_env(environ), stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=60)
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(master)


def test_real_terminal_gets_colour_unless_no_color(project):
    spec(project, "bad.yaml", BAD_SPEC)

    coloured = _on_a_pty(["validate"], project, {"TERM": "xterm-256color"})
    plain = _on_a_pty(["validate"], project, {"TERM": "xterm-256color", "NO_COLOR": "1"})

    assert "Unsupported attribute" in coloured and ANSI.search(coloured)
    assert "Unsupported attribute" in plain and not ANSI.search(plain)


# -- validate --json ---------------------------------------------------------------------

def test_validate_json_when_valid(project):
    spec(project, "a.yaml", GOOD_SPEC)
    spec(project, "b.yaml", "connections:\n  d: {name: D, configuration: {url: https://d.io}}\n")

    result = invoke("validate", "--json", cwd=project)

    assert result.code == 0
    assert json.loads(result.stdout) == {"valid": True, "error_count": 0,
                                         "connection_count": 2, "diagnostics": []}


def test_validate_json_when_invalid(project):
    spec(project, "a.yaml", BAD_SPEC)

    result = invoke("validate", "--json", cwd=project)

    assert result.code == 1
    data = json.loads(result.stdout)
    assert (data["valid"], data["error_count"]) == (False, 2)
    assert data["diagnostics"][1] == {
        "severity": "error", "summary": "Unsupported attribute",
        "detail": 'An attribute named "urll" is not expected in configuration. Did you mean '
                  '"url"? Expected one of: auth, body, headers, healthcheck, parameters, url.',
        "range": {"filename": "specs/a.yaml", "start": {"line": 2, "column": 32}},
        "attribute": "connection.c.configuration.urll"}
    assert result.stderr == ""


def test_validate_text_success(project):
    spec(project, "a.yaml", GOOD_SPEC)

    result = invoke("validate", cwd=project)

    assert (result.code, result.stdout) == (
        0, "Success! 1 connection in specs/ (1 file) are valid.\n")


# -- settings: flag > environment > polyctl.yaml > default ----------------------------------

@pytest.fixture
def four_states(project):
    for name, where in (("default", "polyctl.state.json"), ("file", "from-file.json"),
                        ("env", "from-env.json"), ("flag", "from-flag.json")):
        write_state(project, {f"connection.{name}": resource(f"id-{name}", name)}, name=where)
    return project


def test_state_setting_precedence(four_states):
    p = four_states

    def listed(*args, env=None):
        return invoke("state", "list", *args, cwd=p, env=env).stdout.strip()

    assert listed() == "connection.default"
    (p / "polyctl.yaml").write_text("state: from-file.json\n")
    assert listed() == "connection.file"
    assert listed(env={"POLYCTL_STATE": "from-env.json"}) == "connection.env"
    assert listed("--state", "from-flag.json", env={"POLYCTL_STATE": "from-env.json"}) == \
        "connection.flag"


def test_specs_setting_precedence(project):
    spec(project, "a.yaml", GOOD_SPEC)
    write_state(project, {}, name="polyctl.state.json")
    other = project / "conf" / "specs"
    other.mkdir(parents=True)
    (other / "x.yaml").write_text(GOOD_SPEC + "  d: {name: D, configuration: {url: https://d.io}}\n")
    flag = project / "flagged"
    flag.mkdir()

    assert "1 connection in specs/" in invoke("validate", cwd=project).stdout
    (project / "polyctl.yaml").write_text("specs: conf/specs\n")
    assert "2 connections in conf/specs/" in invoke("validate", cwd=project).stdout
    assert "0 connections in flagged/" in invoke("validate", "--specs", "flagged",
                                                 cwd=project).stdout


@pytest.mark.parametrize("text, where, summary, detail", [
    ("specs: specs\nstat: other.json\n", "polyctl.yaml:2:1", "Unsupported setting",
     '"stat" is not a polyctl.yaml setting. Did you mean "state"? Expected one of: specs, '
     "state, workspace, parallelism, lock_timeout, sandbox_db."),
    ("parallelism: 0\n", "polyctl.yaml:1:14", "Invalid setting",
     "parallelism: expected a whole number ≥ 1."),
    ("lock_timeout: soon\n", "polyctl.yaml:1:15", "Invalid setting",
     'lock_timeout: "soon" is not a duration (expected e.g. 30s, 5m, 1h30m).'),
    ("state: [a]\n", "polyctl.yaml:1:8", "Invalid setting", "state: expected a string."),
    ("specs: [\n", "polyctl.yaml:2:1", "Invalid YAML", None),
    ("- specs\n", "polyctl.yaml:1:1", "Invalid project file",
     "polyctl.yaml must be a mapping of settings."),
])
def test_bad_project_file_is_a_located_error(project, text, where, summary, detail):
    spec(project, "a.yaml", GOOD_SPEC)
    (project / "polyctl.yaml").write_text(text)

    for args in (("validate",), ("plan", "--no-refresh"), ("state", "list")):
        result = invoke(*args, cwd=project)
        assert result.code == 1, args
        assert result.stderr.startswith(f"Error: {summary}\n\n  on {where}\n"), result.stderr
        if detail:
            assert f"\n{detail}\n" in result.stderr
        assert_clean(result)


def test_validate_json_reports_a_bad_project_file_too(project):
    (project / "polyctl.yaml").write_text("stat: x\n")

    data = errors(project)

    assert data == [{"summary": "Unsupported setting", "where": "polyctl.yaml:1:1",
                     "attribute": None,
                     "detail": '"stat" is not a polyctl.yaml setting. Did you mean "state"? '
                               "Expected one of: specs, state, workspace, parallelism, "
                               "lock_timeout, sandbox_db."}]


# -- the repository's own example specs ----------------------------------------------------

def test_example_specs_validate_and_plan_from_a_fresh_checkout(project):
    from tests.conftest import REPO

    shutil.rmtree(project / "specs")
    shutil.copytree(REPO / "specs", project / "specs")

    validated = run_cli("validate", cwd=project)
    planned = invoke("plan", "--no-refresh", "--json", cwd=project)

    assert validated.code == 0, validated.output
    assert validated.stdout.startswith("Success! ")
    assert planned.code == 0, planned.output
    plan = json.loads(planned.stdout)
    assert "connection.example" in {rc["address"] for rc in plan["resource_changes"]}
    assert {rc["action"] for rc in plan["resource_changes"]} == {"create"}
