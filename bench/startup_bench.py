"""Scenario 1 — start-up: how long `polyctl --version` and `polyctl --help` take.

    python bench/startup_bench.py            # 20 runs of each
    python bench/startup_bench.py --runs 10

Runs the installed console script (the one beside this interpreter, not a pyenv shim),
`python -m polyctl`, and `python -c pass` with the same interpreter, interleaved round by
round in a shuffled order so that a burst of load from elsewhere hits all of them alike,
and prints the median wall time of each. The interpreter start-up alone is what no CLI
can go below.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import harness as h

TARGETS = {"--version": 0.080, "--help": 0.150}


def measure(runs: int = 20) -> list[h.Figure]:
    script = h.console_script()
    commands = {
        "python3 -c pass": [h.PYTHON, "-c", "pass"],
        "polyctl --version": script + ["--version"],
        "polyctl --help": script + ["--help"],
        "python -m polyctl --version": h.POLYCTL + ["--version"],
        "python -m polyctl --help": h.POLYCTL + ["--help"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="polyctl-bench-") as tmp:
        env = h.base_env()
        for args in commands.values():  # warm the OS cache and .pyc files
            h.run(args, cwd=Path(tmp), env=env).check(" ".join(args))
        order = list(commands)
        for _ in range(runs):
            random.shuffle(order)  # whatever runs first in a round is slower: spread it
            for name in order:
                times[name].append(h.run(commands[name], cwd=Path(tmp), env=env).wall)
    load = h.load1()
    base = h.median(times["python3 -c pass"])
    figures = [h.Figure("1 start-up", f"python3 -c pass (median of {runs})", h.seconds(base),
                        load=load)]
    for name in list(commands)[1:]:
        t = h.median(times[name])
        flag = name.split()[-1]
        target = TARGETS[flag] if name.startswith("polyctl") else None
        figures.append(h.Figure(
            "1 start-up", f"{name} (median of {runs})", h.seconds(t),
            beside=f"{t / base:.1f}× python3 -c pass (+{(t - base) * 1000:.0f} ms)",
            target=f"≤ {target * 1000:.0f} ms" if target else "",
            met=(t <= target) if target else None, load=load))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command (≥ 10)")
    opts = parser.parse_args()
    print(f"Scenario 1: start-up — {h.machine()}", flush=True)
    for figure in measure(max(10, opts.runs)):
        figure.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
