"""Large spec sets parsed ahead in a forked child (`polyctl.spec.ahead`): the same specs
and the same diagnostics as reading in place, whatever the child could or could not
do; and, through the CLI, problems in the specs still reported first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from core_helpers import run_cli, write

from polyctl.spec import ahead as ahead_mod
from polyctl.spec.ahead import ParseAhead
from polyctl.spec.loader import find_spec_files, load_specs, parse_ahead

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def connection(i: int) -> str:
    return f"""\
  conn_{i:05d}:
    name: Connection {i}
    configuration:
      url: https://api{i}.example.com/v1
      auth:
        basic: {{username: user{i}, password: "${{env:SECRET}}"}}
      headers:
        - {{name: Accept, value: application/json}}
        - {{name: X-Client, value: client-{i}}}
      body: '{{"id": {i}}}'
"""


def many(root: Path, n: int, per_file: int = 50) -> Path:
    specs = root / "specs"
    for f, start in enumerate(range(0, n, per_file)):
        write(specs / f"team{f:03d}.yaml", "connections:\n" + "".join(
            connection(i) for i in range(start, min(n, start + per_file))))
    return specs


@pytest.fixture
def forking(monkeypatch):
    """Parse ahead at any size, inside pytest's worker (which runs helper threads: the
    child only parses and leaves, so forking beside them is safe here)."""
    monkeypatch.setattr(ahead_mod, "MIN_BYTES", 0)
    monkeypatch.setattr(ahead_mod.threading, "active_count", lambda: 1)


def loaded(specs: Path, ahead=None):
    spec_set, diags = load_specs(specs, env={"SECRET": "hunter2"}, display_root=specs.parent,
                                 ahead=ahead)
    return spec_set, [(d.summary, d.detail, str(d.location), d.address, d.path)
                      for d in diags.sorted()]


def test_parsed_ahead_gives_the_same_specs_and_problems(tmp_path, forking):
    specs = many(tmp_path, 300)
    # the unusual and the broken, beside the ordinary: each reported as in place
    write(specs / "anchors.yaml", """
        x-common: &auth {basic: {username: u, password: p}}
        connections:
          anchored: {name: A, configuration: {url: "https://a.io", auth: *auth}}
          anchored: {name: B, configuration: {url: "https://b.io"}}
    """)
    write(specs / "broken.yaml", "connections:\n  bad: {name: [unclosed\n")
    write(specs / "wrong.yaml", """
        connections:
          wrong:
            name: W
            configuration: {url: ftp://nope, auth: {basic: {username: u}}}
    """)
    (specs / "latin1.yaml").write_bytes(b"connections:\n  caf\xe9: {}\n")
    in_place = loaded(specs)
    ahead = parse_ahead(specs, specs.parent)
    assert ahead is not None
    assert loaded(specs, ahead) == in_place
    assert len(in_place[0].connections) >= 300 and len(in_place[1]) >= 4


def test_locations_of_problems_found_after_parsing_ahead(tmp_path, forking):
    specs = many(tmp_path, 120)
    text = (specs / "team001.yaml").read_text()
    (specs / "team001.yaml").write_text(text.replace("url: https://api60.example.com/v1",
                                                     "url: not-a-url"))
    spec_set, problems = loaded(specs, parse_ahead(specs, specs.parent))
    line = text.splitlines().index("      url: https://api60.example.com/v1") + 1
    assert [p[2:4] for p in problems] == [(f"specs/team001.yaml:{line}:12",
                                           "connection.conn_00060")], problems


def test_a_failed_child_leaves_the_parent_to_read_everything(tmp_path, forking, monkeypatch):
    specs = many(tmp_path, 100)
    in_place = loaded(specs)
    monkeypatch.setattr(ahead_mod.marshal, "dumps", lambda obj: 1 / 0)  # in the child
    ahead = parse_ahead(specs, specs.parent)
    assert ahead is not None
    files = find_spec_files(specs)
    assert ahead.take() == {}
    assert len(files) == 2
    assert loaded(specs, parse_ahead(specs, specs.parent)) == in_place


def test_a_child_killed_midway_is_read_again(tmp_path, forking):
    specs = many(tmp_path, 100)
    in_place = loaded(specs)
    ahead = parse_ahead(specs, specs.parent)
    os.kill(ahead._pid, 9)
    assert loaded(specs, ahead) == in_place


def test_cancel_ends_and_reaps_the_child(tmp_path, forking):
    ahead = parse_ahead(many(tmp_path, 100), tmp_path)
    pid = ahead._pid
    ahead.cancel()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_not_parsed_ahead_when_small_or_beside_threads(tmp_path, monkeypatch):
    specs = many(tmp_path, 20)
    files = [(p, p.name) for p in find_spec_files(specs)]
    assert ParseAhead.start(files) is None  # far below MIN_BYTES
    monkeypatch.setattr(ahead_mod, "MIN_BYTES", 0)
    monkeypatch.setattr(ahead_mod.threading, "active_count", lambda: 2)
    assert ParseAhead.start(files) is None


# -- through the CLI: a real process, large enough to parse ahead ----------------------


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("large")
    specs = many(root, 4000, per_file=250)
    assert sum(p.stat().st_size for p in specs.iterdir()) > ahead_mod.MIN_BYTES
    return root


def test_problems_in_large_specs_come_before_missing_credentials(large, tmp_path):
    root = tmp_path / "p"
    (root / "specs").mkdir(parents=True)
    for path in (large / "specs").iterdir():
        (root / "specs" / path.name).write_bytes(path.read_bytes())
    text = (root / "specs" / "team005.yaml").read_text()
    (root / "specs" / "team005.yaml").write_text(text.replace("name: Connection 1260",
                                                              "nmae: Connection 1010"))
    # a state with one resource, so that plan wants the API
    state = root / "polyctl.state.json"
    state.write_text('{"format_version": 1, "lineage": "l", "serial": 1, '
                     '"digest_salt": "s", "resources": {"connection.conn_00000": {"id": "x", '
                     '"type": "api", "name": "n", "configuration": {"url": "https://a.io"}}}}')
    result = run_cli("plan", cwd=root, env={"SECRET": "hunter2"})
    assert result.code == 1, result.output
    assert 'did you mean "name"' in result.output.lower() or "nmae" in result.output
    assert "team005.yaml:" in result.output
    assert "credentials" not in result.output.lower() and "API key" not in result.output
    assert "hunter2" not in result.output


def test_an_exception_in_the_child_never_returns_into_the_caller(tmp_path, forking,
                                                                  monkeypatch):
    """A Ctrl-C can land in the child after the fork and before it has set its own
    handler; it must end the child there, not unwind through the parent's code (which
    would release the parent's state lock and print in its name)."""
    files = [(p, p.name) for p in find_spec_files(many(tmp_path, 20))]
    parent = os.getpid()

    def interrupted(files, w):
        raise KeyboardInterrupt

    monkeypatch.setattr(ahead_mod, "_child", interrupted)
    try:
        ahead = ParseAhead.start(files)
    except KeyboardInterrupt:
        if os.getpid() != parent:
            os._exit(7)  # the child came back into the caller's code
        raise
    assert ahead is not None
    os.close(ahead._fd)
    _, status = os.waitpid(ahead._pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1


def test_a_spec_error_found_before_refreshing_is_not_read_twice(tmp_path, forking,
                                                               monkeypatch):
    """With a type other than `api` in state the specs are loaded before the refresh
    (for its schema); when that load reports problems, they are what the run reports,
    without parsing every file a second time in place."""
    from core_helpers import resource, write_state

    from polyctl.commands.planning import PlanRequest, make_plan
    from polyctl.diagnostics import DiagnosticsError
    from polyctl.engine import project as project_mod
    from polyctl.settings import ProjectFile, resolve_settings

    specs = many(tmp_path, 100)
    text = (specs / "team000.yaml").read_text()
    (specs / "team000.yaml").write_text(text.replace("name: Connection 3\n",
                                                     "nmae: Connection 3\n"))
    write_state(tmp_path, {"connection.conn_00000": resource("c1", "n", type="db")})
    env = {"SECRET": "hunter2"}
    project = project_mod.Project(
        settings=resolve_settings(tmp_path, env=env, project=ProjectFile()), env=env)
    reads = []
    real = project_mod.load_specs
    monkeypatch.setattr(project_mod, "load_specs",
                        lambda *a, **k: reads.append(k["ahead"]) or real(*a, **k))
    with pytest.raises(DiagnosticsError) as caught:
        make_plan(None, project, PlanRequest())
    assert "nmae" in str([d.summary + d.detail for d in caught.value.diagnostics])
    assert len(reads) == 1 and reads[0] is not None
