"""A PostgreSQL server for the tests: CI's, or a throwaway one started here.

`resolve()` returns `(url, reason)`, once per process:

1. `POLYCTL_TEST_PG_URL` when set (`.ci/run` starts a server and exports it);
2. in CI (`CI` set, or `POLYCTL_REQUIRE_PG=1`) nothing else: the URL must be there,
   and the tests that need it fail (`required()`), never skip;
3. elsewhere, a throwaway server: `initdb` into a temporary directory and `pg_ctl
   start` on a free loopback port (programs from PATH or /usr/lib/postgresql/*/bin;
   as root they run as the `postgres` user, or `nobody`), stopped when the process
   exits;
4. otherwise `(None, why)`: the tests skip with that reason.

The server runs with `fsync=off`: the tests exercise polyctl's transactions and
sessions, not the server's own crash safety, and every commit is faster.

Run as a script it starts a throwaway server, prints its URL and waits for Ctrl-C:

    python tests/state/pg_server.py
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

DATABASE = "polyctl_test"
_resolved: tuple[str | None, str] | None = None


def required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("POLYCTL_REQUIRE_PG") == "1"


def find_program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda p: [int(x) for x in Path(p).parts[-3].split(".") if x.isdigit()])
    return versions[-1] if versions else None


def resolve() -> tuple[str | None, str]:
    global _resolved
    if _resolved is None:
        url = os.environ.get("POLYCTL_TEST_PG_URL")
        if url:
            _resolved = (url, "POLYCTL_TEST_PG_URL")
        elif required():
            _resolved = (None, "POLYCTL_TEST_PG_URL is not set, but CI (or POLYCTL_REQUIRE_PG=1) "
                               "requires the PostgreSQL tests: .ci/run starts a server and "
                               "exports its URL")
        else:
            try:
                server = ThrowawayServer()
                _resolved = (server.start(), "throwaway server")
                atexit.register(server.stop)
            except ServerUnavailable as exc:
                _resolved = (None, f"no PostgreSQL for the tests: {exc} (set "
                                   "POLYCTL_TEST_PG_URL, or install initdb/pg_ctl)")
    return _resolved


def url_for_tests() -> str:
    """The URL, or fail (in CI) / skip (elsewhere) the calling test, saying why."""
    import pytest

    url, reason = resolve()
    if url is None:
        if required():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return url


class ServerUnavailable(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayServer:
    """initdb + pg_ctl in a temporary directory; `stop()` removes everything."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = find_program("initdb"), find_program("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            raise ServerUnavailable("initdb/pg_ctl not found")
        self.user = None
        if os.geteuid() == 0:  # initdb refuses root
            for name in ("postgres", "nobody"):
                try:
                    self.user = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
            else:
                raise ServerUnavailable("running as root and no unprivileged user to run it")
        self.root: Path | None = None

    def _run(self, *args: str) -> None:
        kwargs = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        result = subprocess.run(args, cwd=self.root, capture_output=True, text=True,
                                timeout=120, **kwargs)
        if result.returncode != 0:
            raise ServerUnavailable(f"{Path(args[0]).name} failed: "
                                    f"{(result.stderr or result.stdout).strip()[-500:]}")

    def start(self) -> str:
        _sweep_orphans(self)
        # /tmp, not tempfile.gettempdir(): tests redirect that, and socket paths are short.
        self.root = Path(tempfile.mkdtemp(prefix="polyctl-pg-", dir="/tmp"))
        (self.root / "owner").write_text(str(os.getpid()))
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        data = self.root / "data"
        self._run(self.initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        for _ in range(3):  # a free port may be taken before the server binds it
            port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -c port={port} "
                       f"-c unix_socket_directories={self.root} -c fsync=off "
                       "-c full_page_writes=off -c max_connections=300")
            try:
                self._run(self.pg_ctl, "-D", str(data), "-l", str(self.root / "log"), "-w",
                          "-t", "60", "-o", options, "start")
                break
            except ServerUnavailable:
                continue
        else:
            log = (self.root / "log").read_text(errors="replace")[-500:]
            self.stop()
            raise ServerUnavailable(f"pg_ctl start failed: {log}")
        self.url = f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"
        _create_database(f"postgresql://postgres@127.0.0.1:{port}/postgres", DATABASE)
        return self.url

    def stop(self) -> None:
        if self.root is None:
            return
        if (self.root / "data" / "postmaster.pid").exists():
            try:
                self._run(self.pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "stop")
            except ServerUnavailable:
                pass
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


def _sweep_orphans(server: ThrowawayServer) -> None:
    """Stop and remove servers whose test process died without stopping them (killed)."""
    for owner in glob.glob("/tmp/polyctl-pg-*/owner"):
        try:
            pid = int(Path(owner).read_text())
            os.kill(pid, 0)
            continue  # its owner is alive
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue
        orphan = ThrowawayServer.__new__(ThrowawayServer)
        orphan.__dict__.update(server.__dict__, root=Path(owner).parent)
        orphan.stop()


def _create_database(admin_url: str, name: str) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def unique_workspace(prefix: str = "t") -> str:
    """A workspace name no other test uses (tests share one database, also under xdist)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def with_params(url: str, **params: str) -> str:
    """`url` with query parameters added (e.g. `schema=`)."""
    extra = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{url}{'&' if '?' in url else '?'}{extra}"


if __name__ == "__main__":
    server = ThrowawayServer()
    print(server.start(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        sys.exit(0)
