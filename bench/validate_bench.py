"""How long `polyctl validate` takes on a large spec set — a script that prints figures.

    python bench/validate_bench.py            # 1,000 api connections
    python bench/validate_bench.py --n 10000  # 10,000
    python bench/validate_bench.py --files 1 --runs 5

Generates N `api` connections (every seed field used somewhere: basic/header/oauth
auth, query, headers, parameters, body, healthcheck, an `${env:…}` secret) spread over
spec files in a temporary project, then runs `polyctl validate` as a separate process
`--runs` times and prints the median wall time and CPU time, with the interpreter
start-up alone for comparison, the load average, the machine name and the date. Not a unit test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


def connection(i: int) -> str:
    kind = i % 4
    if kind == 0:
        auth = ("      auth:\n"
                f"        basic: {{username: user{i}, password: \"${{env:BENCH_SECRET}}\"}}\n")
    elif kind == 1:
        auth = ("      auth:\n"
                f"        header: {{name: Authorization, value: \"Bearer token-{i}\"}}\n")
    elif kind == 2:
        auth = ("      auth:\n"
                "        oauth:\n"
                f"          client_id: client-{i}\n"
                "          client_secret: \"${env:BENCH_SECRET}\"\n"
                f"          token_endpoint: https://auth{i}.example.com/token\n"
                "          extra_form_data: [{name: audience, value: api}]\n"
                "          scopes: [read, write]\n"
                "          auth_style: 1\n")
    else:
        auth = ("      auth:\n"
                f"        query: [{{name: api_key, value: key-{i}}}]\n")
    return (
        f"  conn_{i:06d}:\n"
        f"    name: Connection {i}\n"
        "    lifecycle: {ignore_changes: [configuration.healthcheck]}\n"
        "    configuration:\n"
        f"      url: https://api{i}.example.com/v1\n"
        f"{auth}"
        "      headers:\n"
        "        - {name: Accept, value: application/json}\n"
        f"        - {{name: X-Client, value: client-{i}}}\n"
        f"      parameters: [{{name: page_size, value: \"{100 + i % 50}\"}}]\n"
        f"      healthcheck: https://api{i}.example.com/health\n"
        f"      body: '{{\"id\": {i}, \"tags\": [\"a\", \"b\"]}}'\n"
    )


def generate(root: Path, n: int, files: int) -> int:
    specs = root / "specs"
    specs.mkdir(parents=True)
    per_file = -(-n // files)
    written = 0
    for f in range(files):
        chunk = range(f * per_file, min(n, (f + 1) * per_file))
        if not chunk:
            break
        text = "connections:\n" + "".join(connection(i) for i in chunk)
        (specs / f"team{f:03d}.yaml").write_text(text, encoding="utf-8")
        written += 1
    return written


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds of the child, the finished process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="connections (default 1000)")
    parser.add_argument("--files", type=int, default=0,
                        help="spec files to spread them over (default: one per 100)")
    parser.add_argument("--runs", type=int, default=3, help="runs to take the median of")
    opts = parser.parse_args()
    files = opts.files or max(1, opts.n // 100)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYTOMIC_", "POLYCTL_"))}
    env["BENCH_SECRET"] = "bench-secret"
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode cached (harness.py)
    with tempfile.TemporaryDirectory(prefix="polyctl-bench-") as tmp:
        root = Path(tmp)
        written = generate(root, opts.n, files)
        size = sum(p.stat().st_size for p in (root / "specs").iterdir())
        command = [sys.executable, "-m", "polyctl", "validate"]
        timed(command, root, env)  # warm the OS file cache and .pyc files
        times, cpus = [], []
        for _ in range(opts.runs):
            seconds, cpu, proc = timed(command, root, env)
            if proc.returncode != 0:
                print(proc.stdout + proc.stderr, file=sys.stderr)
                print("validate failed: the generated specs should be valid", file=sys.stderr)
                return 1
            times.append(seconds)
            cpus.append(cpu)
        startup = statistics.median(
            timed([sys.executable, "-c", "import polyctl.cli"], root, env)[0]
            for _ in range(opts.runs))
        load = os.getloadavg()[0]

    print(f"polyctl validate: {opts.n:,} api connections in {written} files "
          f"({size / 1e6:.1f} MB of YAML)")
    print(f"  median of {opts.runs}: {statistics.median(times):.3f} s  "
          f"(runs: {', '.join(f'{t:.3f}' for t in times)})")
    print(f"  CPU time (user+sys) median: {statistics.median(cpus):.3f} s  "
          f"(1-minute load average {load:.2f} on {os.cpu_count()} CPUs: wall time rises "
          "when other work shares the machine)")
    print(f"  of which interpreter + imports (python -c 'import polyctl.cli'): {startup:.3f} s")
    print(f"  output: {proc.stdout.strip()}")
    print(f"  machine: {socket.gethostname()} ({platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, {platform.system()} {platform.release()})")
    print(f"  date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
