"""What the reliability suites share: projects wired to a sandbox organization, a view
of that organization from outside polyctl, kill triggers, the convergence check, and
the secret scan.

- `SECRETS`: every secret the suites put in specs (a literal, one read from the
  environment, one read from a file); `Project` registers them, and the API key it
  uses, and `Project.leaks()` searches every output, every file polyctl left, every
  journal captured while it existed and every emergency copy for them.
- `Project`: a project folder, the environment pointing polyctl at one organization,
  `run` (the real CLI in-process), `process`/`popen` (a real `python -m polyctl`),
  `popen_killing(point)` (a real process that SIGKILLs itself at an exact moment, see
  `kill_at.py`), state/journal readers.
- `Org`: one organization seen over plain HTTP; `new_org(sandbox)` mints a fresh one
  on the same sandbox, so a suite can start over without a new server.
- `assert_converged`: the live organization equals the specs exactly (names, types,
  configurations; secrets masked), no duplicates, nothing outside the state, the
  journal gone, and a new plan says "No changes."
- `kill_run(project, point, *args)`: a real `polyctl ARGS` SIGKILLed at a point (by time,
  by journal length watched from outside, or an exact `kill_at.py` point).
- `JournalTap`: a thread that copies the journal whenever it changes (for the secret
  scan and for kill triggers counting its entries).
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable

import httpx
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CONNECTION_TYPES = REPO.parent / "shared" / "contract" / "connection-types"

_ROOT_CONFTEST = REPO / "tests" / "conftest.py"
_spec = importlib.util.spec_from_file_location("_polyctl_root_conftest", _ROOT_CONFTEST)
assert _spec is not None and _spec.loader is not None
if _spec.name in sys.modules:
    root = sys.modules[_spec.name]
else:
    root = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = root
    _spec.loader.exec_module(root)

Result = root.Result
invoke, run_cli, base_env, write = root.invoke, root.run_cli, root.base_env, root.write

# -- the secrets every suite uses ----------------------------------------------------------

TOKEN = "rel-env-token-9f3b27c1d6"          # ${env:REL_TOKEN}
FILE_SECRET = "rel-file-secret-51d0e8aa3e"  # ${file:secrets/password.txt}
LITERAL = "rel-literal-secret-c47e1b0942"   # written as is, at a sensitive attribute
SECRETS = (TOKEN, FILE_SECRET, LITERAL)
MASK = "********"


def api_config(url: str, flavour: int = 0) -> dict[str, Any]:
    """A type `api` configuration carrying one of the three kinds of secret."""
    kind = flavour % 3
    if kind == 0:
        auth = {"header": {"name": "Authorization", "value": "${env:REL_TOKEN}"}}
    elif kind == 1:
        auth = {"basic": {"username": "svc", "password": "${file:secrets/password.txt}"}}
    else:
        auth = {"oauth": {"client_id": "cid", "client_secret": LITERAL,
                          "token_endpoint": "https://auth.example.com/token"}}
    return {"url": url, "auth": auth,
            "headers": [{"name": "X-Env", "value": "${env:REL_TOKEN}"},
                        {"name": "X-Plain", "value": f"plain-{flavour}"}]}


def webhook_config(url: str) -> dict[str, Any]:
    """A `webhook` configuration (its schema marks no header as sensitive: the secret
    is interpolated, which makes it one)."""
    return {"url": url, "auth_method": "header",
            "header": {"name": "X-Hook", "value": "${file:secrets/password.txt}"}}


# -- an organization seen from outside polyctl ---------------------------------------------

class Org:
    def __init__(self, url: str, api_key: str) -> None:
        self.url, self.api_key = url, api_key

    def connections(self) -> list[dict[str, Any]]:
        for _ in range(5):  # the admin-free API path; faults may be on
            try:
                r = httpx.get(f"{self.url}/api/connections", timeout=60,
                              headers={"Authorization": f"Bearer {self.api_key}"})
            except httpx.TransportError:
                continue
            if r.status_code == 200:
                return r.json()["data"]
            time.sleep(0.05)
        raise AssertionError(f"cannot list connections: {r.status_code} {r.text[:200]}")


def new_org(sandbox) -> Org:
    """A fresh, empty organization on `sandbox` (admin API), and its key."""
    r = httpx.post(f"{sandbox.url}/_sandbox/api-keys", json={}, timeout=30,
                   headers={"Authorization": f"Bearer {sandbox.api_key}"})
    assert r.status_code == 200, r.text
    return Org(sandbox.url, r.json()["data"]["api_key"])


def start_rel_sandbox(db_path: Path, **faults):
    from polyctl.sandbox import SandboxConfig, start_sandbox

    return start_sandbox(SandboxConfig(port=0, db_path=db_path, seed=faults.pop("seed", 1),
                                       connection_types_dir=CONNECTION_TYPES, **faults))


# -- a project -----------------------------------------------------------------------------


ALL_PROJECTS: list["Project"] = []  # of the current test: the leak scan reads them all


class Project:
    def __init__(self, root_dir: Path, org: Org, *, emergency_dir: Path | None = None) -> None:
        self.root = root_dir
        (self.root / "specs" / "secrets").mkdir(parents=True, exist_ok=True)
        (self.root / "specs" / "secrets" / "password.txt").write_text(FILE_SECRET + "\n")
        self.org = org
        self.env = {"POLYTOMIC_DEPLOYMENT_URL": org.url, "POLYTOMIC_API_KEY": org.api_key,
                    "REL_TOKEN": TOKEN}
        if emergency_dir is not None:
            self.env["TMPDIR"] = str(emergency_dir)
        self.emergency_dir = emergency_dir
        self.secrets: set[str] = set(SECRETS) | {org.api_key}
        self.outputs: list[tuple[str, str]] = []
        self.captured: list[tuple[str, str]] = []  # journals and files read while they existed
        ALL_PROJECTS.append(self)

    def use_org(self, org: Org) -> None:
        self.org = org
        self.env.update(POLYTOMIC_API_KEY=org.api_key)
        self.secrets.add(org.api_key)

    # specs
    def specs(self, connections: dict[str, Any], file: str = "main.yaml") -> dict[str, Any]:
        path = self.root / "specs" / file
        path.write_text(yaml.safe_dump({"connections": connections}, sort_keys=False),
                        encoding="utf-8")
        return connections

    # running polyctl
    def run(self, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> Result:
        result = invoke(*args, cwd=self.root, env={**self.env, **(env or {})}, stdin=stdin)
        self.outputs.append((f"polyctl {' '.join(args)}", result.stdout + result.stderr))
        return result

    def apply(self, *args: str, env: dict[str, str] | None = None) -> Result:
        result = self.run("apply", "--auto-approve", *args, env=env)
        assert result.code == 0, f"apply {' '.join(args)} → {result.code}\n{result.output}"
        return result

    def process(self, *args: str, env: dict[str, str] | None = None,
                timeout: float = 300) -> Result:
        result = run_cli(*args, cwd=self.root, env={**self.env, **(env or {})},
                         timeout=timeout)
        self.outputs.append((f"process polyctl {' '.join(args)}", result.stdout + result.stderr))
        return result

    def popen(self, *args: str, env: dict[str, str] | None = None,
              kill_point: str | None = None) -> "Running":
        """A real polyctl process; with `kill_point` it SIGKILLs itself there (kill_at.py).
        Its output goes to files: a pipe nobody reads would stall a long plan."""
        prefix = [str(HERE / "kill_at.py"), kill_point, "--"] if kill_point else ["-m", "polyctl"]
        self._runs = getattr(self, "_runs", 0) + 1
        logs = self.root.parent / f"{self.root.name}-run{self._runs}"
        out, err = open(f"{logs}.out", "w+"), open(f"{logs}.err", "w+")
        proc = subprocess.Popen([sys.executable, *prefix, *args], cwd=self.root,
                                env=base_env({**self.env, **(env or {})}),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err, text=True)
        return Running(proc, self, " ".join(args), out, err)

    # files
    @property
    def state_path(self) -> Path:
        return self.root / "polyctl.state.json"

    @property
    def journal_path(self) -> Path:
        return self.root / "polyctl.state.json.journal"

    def state(self) -> dict[str, Any] | None:
        """The state document, or None; it must always parse (polyctl's reader too)."""
        if not self.state_path.exists():
            return None
        raw = self.state_path.read_bytes()
        from polyctl.state import loads

        loads(raw, source=str(self.state_path))
        return json.loads(raw)

    def serial(self) -> int:
        state = self.state()
        return state["serial"] if state else 0

    def resources(self) -> dict[str, dict[str, Any]]:
        state = self.state()
        return state["resources"] if state else {}

    def journal_entries(self) -> list[dict[str, Any]]:
        try:
            raw = self.journal_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        self.captured.append(("journal", raw))
        return [json.loads(line) for line in raw.split("\n")[:-1] if line.strip()]

    def capture(self, where: str, path: Path) -> None:
        try:
            self.captured.append((where, path.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            pass

    # the secret scan
    def texts(self) -> list[tuple[str, str]]:
        texts = list(self.outputs) + list(self.captured)
        user_specs = self.root / "specs"  # the user's own files hold the secrets
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and (user_specs not in path.parents
                                   or path.name.startswith("imported")):
                texts.append((str(path.relative_to(self.root)),
                              path.read_text(encoding="utf-8", errors="replace")))
        if self.emergency_dir is not None and self.emergency_dir.exists():
            for path in sorted(self.emergency_dir.rglob("*")):
                if path.is_file():
                    texts.append((str(path), path.read_text(encoding="utf-8", errors="replace")))
        return texts

    def leaks(self) -> list[str]:
        return [f"{where}: {secret[:6]}…" for where, text in self.texts()
                for secret in self.secrets if secret in text]


class Running:
    def __init__(self, proc: subprocess.Popen, project: Project, what: str, out, err) -> None:
        self.proc, self.project, self.what, self._out, self._err = proc, project, what, out, err

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def stderr_so_far(self) -> str:
        with open(self._err.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait(self, timeout: float = 300) -> Result:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        texts = []
        for f in (self._out, self._err):
            f.seek(0)
            texts.append(f.read())
            f.close()
        self.project.outputs.append((f"process polyctl {self.what}", texts[0] + texts[1]))
        return Result(self.proc.returncode, texts[0], texts[1])


def wait_until(predicate: Callable[[], bool], timeout: float = 120,
               interval: float = 0.002) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def journal_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_run(project: "Project", point: str, *args: str):
    """Start `polyctl ARGS`, SIGKILL it at `point`; return its `Result`. Points:
    `after:S` (S seconds after start), `entries:K` (once the journal holds K lines,
    watched from outside), or any exact point of `kill_at.py`."""
    kind, _, value = point.partition(":")
    if kind in ("after", "entries"):
        running = project.popen(*args)
        if kind == "after":
            time.sleep(float(value))
        else:
            assert wait_until(lambda: journal_lines(project.journal_path) >= int(value)
                              or not running.alive())
        running.kill()
    else:
        running = project.popen(*args, kill_point=point)
    return running.wait()


class _Repeating:
    """A daemon thread calling `tick()` every `interval` seconds inside a `with` block;
    `stopped()` runs once the thread has ended."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.stopped()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def tick(self) -> None:
        raise NotImplementedError

    def stopped(self) -> None:
        pass


class JournalTap(_Repeating):
    """Copies the journal each time it changes while a run is going, so the secret scan
    sees every version of it (the run deletes it when it ends)."""

    def __init__(self, project: Project, interval: float = 0.01) -> None:
        super().__init__(interval)
        self.project = project
        self.versions = 0
        self._last: bytes | None = None

    def tick(self) -> None:
        try:
            raw = self.project.journal_path.read_bytes()
        except OSError:
            raw = None
        if raw and raw != self._last:
            self.project.captured.append(("journal (live)", raw.decode("utf-8", "replace")))
            self.versions += 1
            self._last = raw


class HeldCreates:
    """Creates reach the sandbox and wait there (as on a slow server) until `release()`:
    the client that sent them can die meanwhile, and they still land afterwards."""

    def __init__(self, sandbox) -> None:
        self.arrived = 0
        self.limit: int | None = None  # hold only the first `limit` creates
        self._gate = threading.Event()
        self._lock = threading.Lock()
        app = sandbox._app
        original = app.execute

        def execute(route, req):
            if req.method == "POST" and req.path.rstrip("/") == "/api/connections":
                with self._lock:
                    self.arrived += 1
                    hold = self.limit is None or self.arrived <= self.limit
                if hold:
                    self._gate.wait(timeout=120)
            return original(route, req)

        app.execute = execute

    def hold_only_first(self, n: int) -> None:
        self.limit = n

    def release(self) -> None:
        self._gate.set()


class LatencyJitter(_Repeating):
    """Seeded random latency: the sandbox's `latency_ms` redrawn every few milliseconds."""

    def __init__(self, sandbox, seed: int, low: float, high: float, every: float = 0.01) -> None:
        super().__init__(every)
        self.sandbox, self.rng = sandbox, random.Random(seed)
        self.low, self.high = low, high

    def tick(self) -> None:
        self.sandbox.set_faults(latency_ms=self.rng.uniform(self.low, self.high))

    def stopped(self) -> None:
        self.sandbox.set_faults(latency_ms=0)


class DiskFailure:
    """From the `after`-th journal append on, every write to the state directory fails
    with `error` (ENOSPC: full; EROFS: read-only, so no file can be removed either) —
    the journal, the state, the lock's removal — until `fix()`."""

    def __init__(self, monkeypatch, state_dir: Path, error: int, after: int,
                 state_writes_fail: bool = True) -> None:
        from polyctl.state import files, journal

        self.state_dir, self.error, self.after = state_dir, error, after
        self.appends, self.broken = 0, False
        original_append, original_temp, original_unlink = \
            journal.Journal._append, files.write_temp, os.unlink
        failure = self

        def _append(self, data):
            failure.appends += 1
            if failure.appends >= failure.after:
                failure.broken = True
            failure.check(self.path)
            return original_append(self, data)

        def write_temp(target, data):
            if state_writes_fail:
                failure.check(target)
            return original_temp(target, data)

        def unlink(path, *args, **kwargs):  # a read-only directory removes nothing
            if failure.error == errno.EROFS:
                failure.check(path)
            return original_unlink(path, *args, **kwargs)

        monkeypatch.setattr(journal.Journal, "_append", _append)
        monkeypatch.setattr(files, "write_temp", write_temp)
        monkeypatch.setattr(os, "unlink", unlink)

    def check(self, path) -> None:
        if self.broken and Path(path).parent == self.state_dir:
            raise OSError(self.error, os.strerror(self.error), str(path))

    def fix(self) -> None:
        self.broken, self.after = False, 10**9


# -- convergence -----------------------------------------------------------------------------

def _resolved(value: Any) -> Any:
    """A spec value as polyctl sends it: interpolations replaced by the secrets."""
    if isinstance(value, dict):
        return {k: _resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v) for v in value]
    if isinstance(value, str):
        return value.replace("${env:REL_TOKEN}", TOKEN).replace(
            "${file:secrets/password.txt}", FILE_SECRET)
    return value


def _same_leaf(live: Any, want: Any) -> bool:
    # The API masks sensitive attributes and echoes the others; either way it holds it.
    return live == want or (live == MASK and want in SECRETS)


def _contains(live: Any, want: Any, path: str = "configuration") -> list[str]:
    """Differences where `live` does not hold `want` (server-filled extras are fine;
    lists are sets, compared without order)."""
    if isinstance(want, dict):
        if not isinstance(live, dict):
            return [f"{path}: not a mapping"]
        out = []
        for k, v in want.items():
            out += _contains(live.get(k), v, f"{path}.{k}")
        return out
    if isinstance(want, list):
        if not isinstance(live, list) or len(live) != len(want):
            return [f"{path}: {len(live) if isinstance(live, list) else live!r} items, "
                    f"expected {len(want)}"]
        unmatched = list(live)
        for item in want:
            match = next((x for x in unmatched if not _contains(x, item, path)), None)
            if match is None:
                return [f"{path}: no element matches {_shown(item)}"]
            unmatched.remove(match)
        return []
    return [] if _same_leaf(live, want) else [f"{path}: {_shown(live)} != {_shown(want)}"]


def _shown(value: Any) -> str:
    text = repr(value)
    for secret in SECRETS:
        text = text.replace(secret, "(secret)")  # never print a secret in a failure
    return text


def live_differences(org: Org, specs: dict[str, Any]) -> list[str]:
    live = org.connections()
    problems = []
    names = Counter(c["name"] for c in live)
    problems += [f"duplicate connection {n!r} ×{k}" for n, k in names.items() if k > 1]
    wanted = {block["name"]: block for block in specs.values()}
    problems += [f"orphan connection {n!r}" for n in names if n not in wanted]
    problems += [f"missing connection {n!r}" for n in wanted if n not in names]
    by_name = {c["name"]: c for c in live}
    for name, block in wanted.items():
        conn = by_name.get(name)
        if conn is None:
            continue
        if conn["type"]["id"] != block.get("type", "api"):
            problems.append(f"{name}: type {conn['type']['id']} != {block.get('type', 'api')}")
        problems += [f"{name}: {d}" for d in
                     _contains(conn["configuration"], _resolved(block["configuration"]))]
    return problems


def assert_converged(project: Project, specs: dict[str, Any], *, label: str = "") -> None:
    problems = live_differences(project.org, specs)
    assert not problems, f"{label}: live ≠ specs:\n" + "\n".join(problems[:20])
    resources = project.resources()
    assert sorted(resources) == sorted(f"connection.{a}" for a in specs), \
        f"{label}: state addresses {sorted(resources)[:5]}… ≠ specs"
    live_ids = sorted(c["id"] for c in project.org.connections())
    assert sorted(r["id"] for r in resources.values()) == live_ids, \
        f"{label}: state ids ≠ live ids (orphan or forgotten connection)"
    assert not project.journal_path.exists(), f"{label}: a journal was left behind"
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 0 and "No changes." in plan.stdout, f"{label}:\n{plan.output}"


def assert_monotonic(serials: Iterable[int], label: str = "") -> None:
    serials = list(serials)
    assert serials == sorted(serials), f"{label}: state serial went back: {serials}"


def write_counts(stats: dict[str, Any]) -> int:
    return sum(n for route, outcomes in stats["by_route"].items()
               if route.split(" ")[0] in ("POST", "PUT", "DELETE")
               for n in outcomes.values())


def report(line: str) -> None:
    """Counts for the issue note: printed (see them with -rP) and kept in a file."""
    print(f"RELIABILITY {line}")
    target = os.environ.get("POLYCTL_RELIABILITY_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(line + "\n")
