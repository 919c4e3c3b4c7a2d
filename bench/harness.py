"""What the benchmark scripts share: a sandbox process, generated specs, timed polyctl runs.

- `Sandbox` starts `python -m polyctl.sandbox` as its own process on a free loopback port
  (so its CPU is not polyctl's), with injected latency or a rate limit, and steers it
  through the admin API (`/_sandbox/faults`, `/_sandbox/stats`), which is never delayed,
  limited or counted.
- `write_specs` writes N generated `api` connections (the same generator as
  `validate_bench.py`: every seed field used somewhere) into a project directory.
- `run` runs polyctl (or anything) as a real process and returns wall time, the child's
  CPU time and peak RSS, read from `wait4`'s rusage of that one child.
- `machine` says where and when the figures were taken.
- polyctl runs with its bytecode compiled, as an installed copy does (`compile_bytecode`).

Nothing here asserts a time: scripts print figures.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parents[1]
from validate_bench import connection  # noqa: E402  (the one spec generator)

PYTHON = sys.executable  # the interpreter itself, never a pyenv shim
BIN = Path(PYTHON).parent
POLYCTL = [PYTHON, "-m", "polyctl"]
API_KEY = "bench-key"
SECRET = "bench-secret"


def console_script() -> list[str]:
    """The installed `polyctl` script beside the interpreter, else `python -m polyctl`."""
    script = BIN / "polyctl"
    return [str(script)] if script.exists() else POLYCTL


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
            f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} · load {load}")


def load1() -> float:
    return os.getloadavg()[0]


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


# -- processes -------------------------------------------------------------------------


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child (and its children)
    maxrss_mb: float  # peak resident set of the child, MB
    code: int
    stdout: str
    stderr: str

    def check(self, what: str) -> Run:
        if self.code != 0:
            tail = (self.stdout[-2000:] + "\n" + self.stderr[-2000:]).strip()
            raise RuntimeError(f"{what} exited {self.code}:\n{tail}")
        return self


def run(args: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
        input: str | None = None) -> Run:
    """Run one process to the end; its own rusage comes from `os.wait4`."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(args), cwd=cwd, env=env, text=True,
                            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # communicate() reaps the child; wait4 must reap it ourselves to get its rusage, so
    # read the pipes in communicate's way but without its wait.
    out, err = _drain(proc, input)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0,
               proc.returncode, out, err)


def _drain(proc: subprocess.Popen, input: str | None) -> tuple[str, str]:
    import threading

    chunks: dict[str, list[str]] = {"out": [], "err": []}

    def read(stream, key):
        chunks[key].append(stream.read())

    threads = [threading.Thread(target=read, args=(proc.stdout, "out")),
               threading.Thread(target=read, args=(proc.stderr, "err"))]
    for t in threads:
        t.start()
    if input is not None:
        assert proc.stdin is not None
        proc.stdin.write(input)
        proc.stdin.close()
    for t in threads:
        t.join()
    return "".join(chunks["out"]), "".join(chunks["err"])


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POLYTOMIC_", "POLYCTL_", "TF_"))}
    # polyctl as installed: with its modules' bytecode cached (see `compile_bytecode`).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(BENCH_SECRET=SECRET, NO_COLOR="1", PYTHONUNBUFFERED="1")
    # the polyctl of this tree, whatever checkout the interpreter has installed
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(extra)
    return env


def compile_bytecode() -> None:
    """Compile this tree's modules to bytecode once, before anything is timed.

    An installed polyctl has its bytecode (pip compiles a wheel's modules as it installs
    them; an editable install writes it on first import). A machine that sets
    PYTHONDONTWRITEBYTECODE=1, as the project's VM does, would instead recompile every
    module polyctl imports in every process it starts — ~50 ms of each command that no
    user pays — so `base_env` lets the children use and write bytecode, and this writes
    it beforehand (into `__pycache__`, which git ignores)."""
    import compileall

    compileall.compile_dir(str(REPO / "polyctl"), quiet=1)


compile_bytecode()  # every benchmark script imports this module before timing anything


# -- specs -----------------------------------------------------------------------------


def write_specs(root: Path, n: int, per_file: int = 100) -> Path:
    """N generated api connections under root/specs, `per_file` to a file."""
    specs = root / "specs"
    if specs.exists():
        shutil.rmtree(specs)
    specs.mkdir(parents=True)
    for f, start in enumerate(range(0, n, per_file)):
        text = "connections:\n" + "".join(connection(i) for i in range(start, min(n, start + per_file)))
        (specs / f"team{f:03d}.yaml").write_text(text, encoding="utf-8")
    return specs


# -- the sandbox -----------------------------------------------------------------------


class Sandbox:
    """`python -m polyctl.sandbox` in its own process; stop() (or `with`) ends it."""

    def __init__(self, workdir: Path, *, latency_ms: float = 0, max_rps: float | None = None,
                 retry_after: float | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        args = [PYTHON, "-m", "polyctl.sandbox", "--port", "0", "--db", str(workdir / "sandbox.db"),
                "--api-key", API_KEY, "--latency-ms", str(latency_ms)]
        if max_rps is not None:
            args += ["--max-rps", str(max_rps)]
        if retry_after is not None:
            args += ["--retry-after", str(retry_after)]
        self.proc = subprocess.Popen(args, cwd=workdir, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=dict(base_env(), PYTHONUNBUFFERED="1"))
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first.startswith("Sandbox listening on "):
            self.stop()
            raise RuntimeError(f"the sandbox did not start: {first}{self.proc.stderr.read()}")
        self.url = first.split()[-1]

    def env(self, **extra: str) -> dict[str, str]:
        """An environment for polyctl pointed at this sandbox."""
        return base_env(POLYTOMIC_DEPLOYMENT_URL=self.url, POLYTOMIC_API_KEY=API_KEY, **extra)

    def _admin(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())["data"]

    def set_faults(self, **knobs) -> dict:
        return self._admin("POST", "/_sandbox/faults", knobs)

    def stats(self) -> dict:
        return self._admin("GET", "/_sandbox/stats")

    def reset_stats(self) -> None:
        self._admin("POST", "/_sandbox/reset-stats", {})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def apply_all(project: Path, sandbox: Sandbox, parallelism: int = 10) -> Run:
    """`polyctl apply --auto-approve` of the project's specs (to seed a sandbox and state)."""
    return run(POLYCTL + ["apply", "--auto-approve", "--parallelism", str(parallelism)],
               cwd=project, env=sandbox.env()).check("polyctl apply")


# -- figures ---------------------------------------------------------------------------


@dataclass
class Figure:
    """One line of the summary table."""

    scenario: str  # e.g. "1 start-up"
    what: str  # the command or quantity measured
    value: str  # the figure, with its unit
    beside: str = ""  # what it is compared with
    target: str = ""  # the target, if any
    met: bool | None = None  # None: no target
    load: float = 0.0  # 1-minute load average when it was taken

    def print(self) -> None:
        verdict = "" if self.met is None else ("  [met]" if self.met else "  [MISSED]")
        beside = f"  | {self.beside}" if self.beside else ""
        target = f"  | target {self.target}" if self.target else ""
        print(f"  {self.what}: {self.value}{beside}{target}{verdict}  (load {self.load:.2f})",
              flush=True)


def seconds(x: float) -> str:
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def print_table(figures: list[Figure]) -> None:
    """A plain-text table of every figure, with the machine line above it."""
    head = ("#", "measurement", "figure", "beside it", "target", "met", "load")
    rows = [(f.scenario, f.what, f.value, f.beside, f.target,
             "" if f.met is None else ("yes" if f.met else "NO"), f"{f.load:.2f}")
            for f in figures]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths)))
    for r in rows:
        print(line.format(*r))
