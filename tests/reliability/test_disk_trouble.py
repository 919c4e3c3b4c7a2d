"""Disk trouble: the state directory fills up or turns read-only while an apply runs.

The run stops cleanly (exit 1, no traceback): operations not yet started are not
started, the stored state is left whole, and what the API did is not forgotten — the
state with every change the API confirmed is written elsewhere (an emergency copy in
the temp directory, Terraform's `errored.tfstate`) and its path printed.

What a careful user then does, and both must converge with no duplicate:
- follow the message: `polyctl state push <copy>`, then apply again;
- or just apply again once the disk is fixed: the journal written before the disk
  failed is finished, and creates it saw in flight are adopted.

First with a patched writer (in-process, exact failure points), then on a real tmpfs
that really fills up, and really turns read-only, in a private mount namespace.
"""

from __future__ import annotations

import errno
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rel_helpers import DiskFailure, Project, api_config, assert_converged, base_env, report

CREATES = 24
COPY = re.compile(r"What the API did is saved in (\S+?\.state\.json)\.")


def specs(n: int = CREATES, version: str = "") -> dict:
    return {f"d{i:02d}": {"name": f"Disk {i:02d}{version}", "configuration": api_config(
        f"https://d{i}.example.com{version}", i)} for i in range(n)}


def _emergency_copy(project: Project, result) -> Path:
    found = COPY.search(result.stderr.replace("\n", " "))
    assert found, f"no emergency copy named:\n{result.output}"
    copy = Path(found[1])
    assert copy.parent == project.emergency_dir and copy.exists()
    assert f"polyctl state push {copy}" in result.stderr.replace("\n", " ")
    return copy


def _assert_nothing_forgotten(project: Project, copy: Path) -> dict:
    from polyctl.state import loads

    raw = copy.read_bytes()
    project.capture("emergency copy", copy)
    loads(raw, source=str(copy))  # a state polyctl can read back
    saved = json.loads(raw)["resources"]
    live = {c["id"]: c["name"] for c in project.org.connections()}
    saved_ids = {r["id"] for r in saved.values()}
    journal = [e for e in project.journal_entries() if e["type"] == "pending"]
    in_flight = {e["name"] for e in journal}
    unknown = {i: n for i, n in live.items() if i not in saved_ids and n not in in_flight}
    assert not unknown, f"connections the API made that nothing remembers: {unknown}"
    return saved


@pytest.mark.parametrize("recovery", ["state push", "apply again"])
@pytest.mark.parametrize("error, after", [
    (errno.ENOSPC, 1), (errno.ENOSPC, 2), (errno.ENOSPC, 4), (errno.ENOSPC, 7),
    (errno.EROFS, 3), (errno.EROFS, 6),
], ids=lambda v: errno.errorcode[v] if v in (errno.ENOSPC, errno.EROFS) else f"append{v}")
def test_disk_fails_during_apply(make_project, sandbox, monkeypatch, error, after, recovery):
    project = make_project()
    project.specs(specs(4))
    project.apply()  # a state to keep whole
    stored = project.state_path.read_bytes()
    target = project.specs(specs())
    sandbox.set_faults(latency_ms=20)
    disk = DiskFailure(monkeypatch, project.root, error, after)

    result = project.run("apply", "--auto-approve", "--parallelism", "4")
    assert result.code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert project.state_path.read_bytes() == stored, "the stored state was not left whole"
    made = len(project.org.connections()) - 4
    assert made < CREATES, "the run went on after the disk failed"
    copy = None
    if made:  # the API did something: it must be saved somewhere
        copy = _emergency_copy(project, result)
        saved = _assert_nothing_forgotten(project, copy)
    else:  # nothing was sent: the run says why it stopped, and there is nothing to save
        assert "No space left on device" in result.stderr or \
            "Read-only file system" in result.stderr, result.output

    disk.fix()
    sandbox.set_faults(latency_ms=0)
    lock = project.root / "polyctl.state.json.lock"
    stale = lock.exists()
    if stale:  # a read-only directory kept the lock; the run said so, and then it ended
        assert error == errno.EROFS and "cannot remove the lock file" in result.stderr
        held = json.loads(lock.read_text())
        lock.write_text(json.dumps({**held, "pid": 2**22 + 4321}))  # its process is gone
    if recovery == "state push" and copy is not None:
        pushed = project.run("state", "push", str(copy))
        assert pushed.code == 0, pushed.output
        assert {r["id"] for r in project.resources().values()} >= \
            {r["id"] for r in saved.values()}
    final = project.run("apply", "--auto-approve")
    assert final.code == 0, final.output
    if stale and recovery != "state push":
        assert "cleared a stale state lock" in final.stderr, final.stderr
    assert_converged(project, target, label=f"{errno.errorcode[error]} at {after}, {recovery}")
    report(f"disk: {errno.errorcode[error]} from journal append {after}: {made} created "
           f"before the stop; recovered by {recovery}")


def test_state_write_fails_at_the_end(make_project, sandbox, monkeypatch) -> None:
    """Every operation recorded in the journal, then the state cannot be written: the
    journal stays, and the next run finishes from it even without the copy."""
    project = make_project()
    target = project.specs(specs())
    project.apply("--target", "connection.d00")
    stored = project.state_path.read_bytes()
    disk = DiskFailure(monkeypatch, project.root, errno.ENOSPC, after=10**9)
    from polyctl.state import local

    original = local.LocalStateBackend.write

    def write(self, state, **kw):
        disk.broken = True  # the disk fills up just as the state is written
        return original(self, state, **kw)

    monkeypatch.setattr(local.LocalStateBackend, "write", write)
    result = project.run("apply", "--auto-approve")
    assert result.code == 1, result.output
    assert project.state_path.read_bytes() == stored
    copy = _emergency_copy(project, result)
    saved = _assert_nothing_forgotten(project, copy)
    assert len(saved) == CREATES
    assert project.journal_path.exists(), "the journal was cleared although the state failed"
    monkeypatch.setattr(local.LocalStateBackend, "write", original)
    disk.fix()
    final = project.run("apply", "--auto-approve")
    assert final.code == 0, final.output
    assert "Recovered an interrupted run" in final.stderr
    assert_converged(project, target, label="state write failed")


# -- a real filesystem -------------------------------------------------------------------

_SCRIPT = textwrap.dedent("""
    set -u
    fs="$1"; project="$2"; mode="$3"; out="$4"
    mkdir "$out/orig" && cp -p "$fs"/polyctl.state.json* "$out/orig/"  # hidden by the mount
    mount -t tmpfs -o size=1m tmpfs "$fs" || exit 90
    cp -p "$out/orig"/* "$fs"/
    run() { "$PYTHON" -m polyctl "$@"; }
    cd "$project"
    run apply --auto-approve --parallelism 2 >"$out/first.out" 2>"$out/first.err" &
    pid=$!
    journal="$fs/polyctl.state.json.journal"
    lines() { [ -f "$journal" ] && wc -l < "$journal" || echo 0; }
    while [ "$(lines)" -lt 8 ] && kill -0 $pid 2>/dev/null; do sleep 0.005; done
    if [ "$mode" = full ]; then
        dd if=/dev/zero of="$fs/filler" bs=4096 2>/dev/null
    else
        until mount -o remount,ro "$fs" 2>/dev/null; do sleep 0.001; done
    fi
    wait $pid; echo $? > "$out/first.code"
    cp "$fs/polyctl.state.json" "$out/state.after-first"
    cp "$fs"/polyctl.state.json.journal "$out/journal.after-first" 2>/dev/null
    # the disk is fixed
    if [ "$mode" = full ]; then rm -f "$fs/filler"; else mount -o remount,rw "$fs"; fi
    run apply --auto-approve >"$out/second.out" 2>"$out/second.err"; echo $? > "$out/second.code"
    run plan --detailed-exitcode >"$out/plan.out" 2>&1; echo $? > "$out/plan.code"
    cp "$fs"/polyctl.state.json* "$out"/ 2>/dev/null
    ls -a "$fs" > "$out/ls"
    exit 0
""")


def _namespaces_work() -> bool:
    return bool(shutil.which("unshare")) and subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True).returncode == 0


@pytest.mark.parametrize("mode", ["full", "read-only"])
def test_real_tmpfs_fills_up_or_turns_read_only(make_project, sandbox, tmp_path, mode):
    if not _namespaces_work():
        pytest.skip("no user+mount namespaces here; the patched tests above cover this")
    project = make_project()
    fs = tmp_path / "statefs"
    fs.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    state = fs / "polyctl.state.json"
    project.env["POLYCTL_STATE"] = str(state)
    project.specs(specs(3))
    project.apply()  # written to the plain directory; copied onto the tmpfs by the script
    stored = state.read_bytes()
    target = project.specs(specs())
    sandbox.set_faults(latency_ms=40)
    script = tmp_path / "disk.sh"
    script.write_text(_SCRIPT)
    env = base_env({**project.env, "PYTHON": sys.executable})
    proc = subprocess.run(["unshare", "-rm", "sh", str(script), str(fs), str(project.root),
                           mode, str(out)], env=env, capture_output=True, text=True,
                          timeout=300)
    sandbox.set_faults(latency_ms=0)
    assert proc.returncode == 0, proc.stderr
    first_out, first_err = (out / "first.out").read_text(), (out / "first.err").read_text()
    project.outputs.append(("first apply on the tmpfs", first_out + first_err))
    second = (out / "second.out").read_text() + (out / "second.err").read_text()
    project.outputs.append(("second apply on the tmpfs", second))
    for name in ("journal.after-first", "polyctl.state.json", "polyctl.state.json.backup"):
        project.capture(name, out / name)

    assert (out / "first.code").read_text().strip() == "1", first_out + first_err
    assert "Traceback" not in first_err and "internal error" not in first_err, first_err
    reason = "No space left on device" if mode == "full" else "Read-only file system"
    assert reason in first_err, first_err
    copy = _emergency_copy(project, type("R", (), {"stderr": first_err, "output": first_err}))
    assert (out / "state.after-first").read_bytes() == stored, "the stored state changed"
    assert (out / "second.code").read_text().strip() == "0", second
    assert (out / "plan.code").read_text().strip() == "0", (out / "plan.out").read_text()
    state_after = json.loads((out / "polyctl.state.json").read_text())
    live = project.org.connections()
    names = sorted(c["name"] for c in live)
    assert names == sorted(b["name"] for b in target.values()), "lost or doubled"
    assert {r["id"] for r in state_after["resources"].values()} == {c["id"] for c in live}
    assert "polyctl.state.json.journal" not in (out / "ls").read_text().split()
    project.capture("emergency copy", copy)
    report(f"disk: real tmpfs {mode} during apply: stopped with an emergency copy, next run "
           "converged")
