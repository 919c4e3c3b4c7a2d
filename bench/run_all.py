"""Run every benchmark scenario and print one table of figures.

    python3 bench/run_all.py            # 3 runs of everything (20 of start-up): ~10 min
    python3 bench/run_all.py --quick    # 1 run of everything (10 of start-up)
    python3 bench/run_all.py --only 1 --only 3

Scenarios (see bench/README.md): 1 start-up, 2 validate, 3 no-op plan beside a
per-resource refresh, 4 apply of all creates (time and state bytes), 5 apply under a
rate limit, 6 beside Terraform, 7 peak memory (taken during scenario 3's runs at
10,000). Each figure is printed as soon as it is taken, then all of them again as a
table with the machine's name, CPU count, the date and the load average at each
figure: wall times on a shared machine rise with its load, so compare figures taken
in the same run, and mind the load column.
"""

from __future__ import annotations

import argparse
import sys
import time

import harness as h


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of each (10 of start-up)")
    parser.add_argument("--only", type=int, action="append", choices=range(1, 8),
                        metavar="N", help="run scenario N only (repeatable; 7 runs with 3)")
    opts = parser.parse_args()
    runs = 1 if opts.quick else 3
    chosen = set(opts.only or range(1, 8))
    print(f"polyctl benchmarks — {h.machine()}", flush=True)
    started = time.perf_counter()
    figures: list[h.Figure] = []

    def scenario(title: str, measure) -> None:
        print(f"\n{title}", flush=True)
        taken = measure()
        for figure in taken:
            figure.print()
        figures.extend(taken)

    if 1 in chosen:
        import startup_bench

        scenario("1. start-up", lambda: startup_bench.measure(10 if opts.quick else 20))
    if 2 in chosen:
        import validate_scenario

        scenario("2. validate", lambda: validate_scenario.measure(runs=runs))
    if chosen & {3, 7}:
        import plan_bench

        sizes = (1000, 10000) if 3 in chosen else (10000,)
        scenario("3. no-op plan (and 7. peak memory)",
                 lambda: plan_bench.measure(sizes, runs, memory=7 in chosen))
    if chosen & {4, 5}:
        import apply_bench

        if 4 in chosen:
            scenario("4. apply, all creates", lambda: apply_bench.scenario_4(runs))
        if 5 in chosen:
            scenario("5. apply under a rate limit", lambda: apply_bench.scenario_5(runs))
    if 6 in chosen:
        import terraform_bench

        scenario("6. beside Terraform", lambda: terraform_bench.measure(1000, runs))

    print(f"\nSummary — {h.machine()} — took {time.perf_counter() - started:.0f} s\n")
    h.print_table(sorted(figures, key=lambda f: f.scenario))
    missed = [f for f in figures if f.met is False]
    print(f"\n{sum(f.met is True for f in figures)} targets met, {len(missed)} missed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
