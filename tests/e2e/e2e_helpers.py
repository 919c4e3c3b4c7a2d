"""What the end-to-end tests share: a polyctl project wired to a real sandbox, a view
of the sandbox's real contents (through the official SDK and plain HTTP), request
counters, and a scanner that proves no secret reached any output or file.

- `Polyctl` runs the real CLI in-process (`pc("plan", …)`) or as a real process
  (`pc.process(…)`, `pc.popen(…)`), writes specs (`pc.specs({...})`), reads the state
  and remembers every output it produced for the secret scan;
- `Org` is one sandbox organization seen from outside polyctl: `org.sdk` is the
  official `polytomic` client (for drift), `org.connections()` the live list,
  `org.model/sync/bulk_sync(...)` create real dependents over HTTP;
- `writes(stats)` counts the requests of a stats snapshot that change Polytomic.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import httpx
import polytomic
import yaml

_ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
_spec = importlib.util.spec_from_file_location("_polyctl_root_conftest", _ROOT_CONFTEST)
assert _spec is not None and _spec.loader is not None
root = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = root
_spec.loader.exec_module(root)

Result = root.Result
invoke, run_cli, base_env, write = root.invoke, root.run_cli, root.base_env, root.write

CONNECTION_ROUTES = ("/api/connections", "/api/connections/{id}")
WRITE_METHODS = ("POST", "PUT", "DELETE")


# -- the sandbox seen from outside polyctl -------------------------------------------


class Org:
    """One sandbox organization: official SDK for drift, plain HTTP for dependents."""

    def __init__(self, url: str, api_key: str) -> None:
        self.url, self.api_key = url, api_key
        self.sdk = polytomic.Polytomic(token=api_key, base_url=url, max_retries=0)
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {api_key}"},
                                 timeout=30)

    def close(self) -> None:
        self.http.close()

    def connections(self) -> list[dict[str, Any]]:
        """Every connection, as the SDK lists it (plain dicts)."""
        return [c.model_dump(mode="json") for c in self.sdk.connections.list().data]

    def by_name(self) -> dict[str, dict[str, Any]]:
        """name → connection; fails on a duplicate name (polyctl must never make one)."""
        conns = self.connections()
        names = Counter(c["name"] for c in conns)
        dupes = sorted(n for n, k in names.items() if k > 1)
        assert not dupes, f"duplicate connections in the sandbox: {dupes}"
        return {c["name"]: c for c in conns}

    def names(self) -> list[str]:
        return sorted(c["name"] for c in self.connections())

    def exists(self, kind: str, id: str) -> bool:
        base = {"model": "/api/models", "sync": "/api/syncs", "bulk_sync": "/api/bulk/syncs",
                "connection": "/api/connections"}[kind]
        status = self.http.get(f"{base}/{id}").status_code
        assert status in (200, 404), status
        return status == 200

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(path, json=body)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def create(self, name: str, configuration: dict[str, Any], type: str = "api") -> dict[str, Any]:
        return self._post("/api/connections",
                          {"name": name, "type": type, "configuration": configuration})

    def model(self, name: str, connection_id: str) -> dict[str, Any]:
        return self._post("/api/models", {"name": name, "connection_id": connection_id})

    def sync(self, name: str, target_connection_id: str, model_ids: Iterable[str] = ()) -> dict:
        return self._post("/api/syncs", {"name": name, "model_ids": list(model_ids),
                                         "target": {"connection_id": target_connection_id}})

    def bulk_sync(self, name: str, source_id: str, destination_id: str) -> dict[str, Any]:
        return self._post("/api/bulk/syncs", {"name": name, "source_connection_id": source_id,
                                              "destination_connection_id": destination_id})

    def new_org(self) -> "Org":
        """A fresh, empty organization of the same sandbox (admin API)."""
        response = httpx.post(f"{self.url}/_sandbox/api-keys", json={},
                              headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30)
        assert response.status_code == 200, response.text
        return Org(self.url, response.json()["data"]["api_key"])


def connection_requests(stats: dict[str, Any]) -> Counter:
    """`Counter({"GET /api/connections": n, ...})` over every status, connections only."""
    out: Counter = Counter()
    for route, outcomes in stats["by_route"].items():
        method, _, path = route.partition(" ")
        if path in CONNECTION_ROUTES:
            out[route] += sum(outcomes.values())
    return out


def writes(stats: dict[str, Any]) -> int:
    """How many requests of `stats` could have changed anything in Polytomic."""
    return sum(sum(outcomes.values()) for route, outcomes in stats["by_route"].items()
               if route.partition(" ")[0] in WRITE_METHODS)


def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The stats of what happened between two snapshots (same shape as a snapshot)."""
    by_route: dict[str, dict[str, int]] = {}
    for route, outcomes in after["by_route"].items():
        old = before["by_route"].get(route, {})
        diff = {k: n - old.get(k, 0) for k, n in outcomes.items() if n - old.get(k, 0)}
        if diff:
            by_route[route] = diff
    return {"by_route": by_route,
            "total_requests": after["total_requests"] - before["total_requests"]}


# -- a polyctl project ---------------------------------------------------------------


class Polyctl:
    """A project folder, the environment that points polyctl at a sandbox, and a log
    of every output so the secret scan can read them all."""

    def __init__(self, root_dir: Path, env: dict[str, str]) -> None:
        self.root = root_dir
        self.env = dict(env)
        self.outputs: list[str] = []
        self.secrets: set[str] = set()

    # specs
    def specs(self, connections: dict[str, Any] | str, file: str = "main.yaml") -> Path:
        path = self.root / "specs" / file
        if isinstance(connections, str):
            return write(path, connections)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"connections": connections}, sort_keys=False),
                        encoding="utf-8")
        return path

    def clear_specs(self) -> None:
        for path in (self.root / "specs").glob("*.y*ml"):
            path.unlink()

    # running polyctl
    def __call__(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> Result:
        result = invoke(*args, cwd=self.root, env={**self.env, **(env or {})}, stdin=stdin)
        self.outputs.append(result.stdout + result.stderr)
        return result

    def process(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
                ) -> Result:
        result = run_cli(*args, cwd=self.root, env={**self.env, **(env or {})}, timeout=timeout)
        self.outputs.append(result.stdout + result.stderr)
        return result

    def popen(self, *args: str, env: dict[str, str] | None = None) -> "Running":
        proc = subprocess.Popen(
            [sys.executable, "-m", "polyctl", *args], cwd=self.root,
            env=base_env({**self.env, **(env or {})}), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return Running(proc, self)

    def ok(self, *args: str, **kw: Any) -> Result:
        """Run and insist on exit 0 (2 is fine for plan --detailed-exitcode callers)."""
        result = self(*args, **kw)
        assert result.code == 0, f"polyctl {' '.join(args)} → {result.code}\n{result.output}"
        return result

    def apply(self, *args: str, **kw: Any) -> Result:
        return self.ok("apply", "--auto-approve", *args, **kw)

    def plan_json(self, *args: str, **kw: Any) -> dict[str, Any]:
        result = self("plan", "--json", *args, **kw)
        assert result.code == 0, result.output
        return json.loads(result.stdout)

    def actions(self, *args: str, **kw: Any) -> dict[str, str]:
        """address → planned action (no-ops left out)."""
        return {rc["address"]: rc["action"] for rc in self.plan_json(*args, **kw)["resource_changes"]
                if rc["action"] != "no-op"}

    def assert_no_changes(self) -> None:
        result = self("plan", "--detailed-exitcode")
        assert result.code == 0, f"expected no changes:\n{result.output}"
        assert "No changes." in result.stdout

    # files
    @property
    def state_path(self) -> Path:
        return self.root / "polyctl.state.json"

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def resources(self) -> dict[str, dict[str, Any]]:
        return self.state()["resources"] if self.state_path.exists() else {}

    def ids(self) -> dict[str, str]:
        return {a: r["id"] for a, r in self.resources().items()}

    def journal(self) -> list[dict[str, Any]]:
        path = self.root / "polyctl.state.json.journal"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def written_files(self) -> dict[Path, str]:
        """Every file polyctl may have written (state, backup, journal, plans, locks,
        emergency copies, imported specs): all of the project except the user's own specs."""
        user_specs = set()
        for path in (self.root / "specs").rglob("*"):
            if path.is_file() and not path.name.startswith("imported"):
                user_specs.add(path)
        out = {}
        for path in self.root.rglob("*"):
            if path.is_file() and path not in user_specs and "secrets" not in path.parts:
                out[path] = path.read_text(encoding="utf-8", errors="replace")
        return out

    def leaked_secrets(self) -> list[str]:
        """`where: secret` for every known secret found in an output or written file."""
        found = []
        texts = [(f"output #{i}", t) for i, t in enumerate(self.outputs)]
        texts += [(str(p.relative_to(self.root)), t) for p, t in self.written_files().items()]
        for where, text in texts:
            for secret in self.secrets:
                if secret in text:
                    found.append(f"{where}: {secret!r}")
        return found


class Running:
    """A polyctl process started with `Polyctl.popen`."""

    def __init__(self, proc: subprocess.Popen, pc: Polyctl) -> None:
        self.proc, self.pc = proc, pc

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def wait(self, timeout: float = 60) -> Result:
        stdout, stderr = self.proc.communicate(timeout=timeout)
        self.pc.outputs.append(stdout + stderr)
        return Result(self.proc.returncode, stdout, stderr)


def wait_until(predicate, timeout: float = 30, interval: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def api_connection(url: str, *, secret: str | None = None, headers: dict[str, str] | None = None
                   ) -> dict[str, Any]:
    """A type `api` configuration for specs (header auth when `secret` is given)."""
    config: dict[str, Any] = {"url": url}
    if secret is not None:
        config["auth"] = {"header": {"name": "Authorization", "value": secret}}
    if headers:
        config["headers"] = [{"name": k, "value": v} for k, v in headers.items()]
    return config


__all__ = ["Org", "Polyctl", "Running", "Result", "api_connection", "connection_requests",
           "delta", "writes", "wait_until"]
