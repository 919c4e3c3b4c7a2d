"""Scenario 2 — `polyctl validate` of 1,000 and 10,000 generated api connections.

    python bench/validate_scenario.py                 # 1,000 and 10,000, 3 runs each
    python bench/validate_scenario.py --n 10000 --runs 5

The specs come from `validate_bench.py`'s generator (every seed field used somewhere,
100 connections to a file). Prints the median wall and CPU time of `polyctl validate`
run as a process; `validate_bench.py` is the same measurement for one size with more
detail.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import harness as h

TARGET_10K = 2.0


def measure(sizes=(1000, 10000), runs: int = 3) -> list[h.Figure]:
    figures = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="polyctl-bench-") as tmp:
            root = Path(tmp)
            h.write_specs(root, n)
            env = h.base_env()
            command = h.POLYCTL + ["validate"]
            h.run(command, cwd=root, env=env).check("polyctl validate")  # warm caches
            results = [h.run(command, cwd=root, env=env).check("polyctl validate")
                       for _ in range(runs)]
        wall = h.median([r.wall for r in results])
        cpu = h.median([r.cpu for r in results])
        target = TARGET_10K if n == 10000 else None
        figures.append(h.Figure(
            "2 validate", f"polyctl validate, {n:,} connections (median of {runs})",
            h.seconds(wall), beside=f"CPU {h.seconds(cpu)}",
            target=f"≤ {target:.0f} s" if target else "",
            met=(wall <= target) if target else None, load=h.load1()))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="connections (repeatable)")
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    print(f"Scenario 2: validate — {h.machine()}", flush=True)
    for figure in measure(tuple(opts.n or (1000, 10000)), opts.runs):
        figure.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
