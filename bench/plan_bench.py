"""Scenario 3 — a plan with nothing to change, beside a per-resource refresh; and
scenario 7 — peak memory of plan and apply.

    python bench/plan_bench.py                 # 1,000 and 10,000 connections
    python bench/plan_bench.py --n 1000 --runs 5

For each size: a sandbox process with no latency; `polyctl apply --auto-approve` of N
generated connections (this seeds the sandbox and the state, and is the apply whose
peak RSS scenario 7 reports); then the sandbox's latency is set to 50 ms and
`polyctl plan` runs `--runs` times as a process (it must say "No changes"). In the same
run, `per_resource_refresh.py` times polyctl's refresh (one list call) beside a
Terraform-provider-style refresh (one GET per resource, parallelism 10) on the same
state and sandbox. Peak RSS is the child's `ru_maxrss` from `wait4`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import harness as h

LATENCY_MS = 50
TARGET_PLAN_10K = 3.0
TARGET_RATIO = 20.0
TARGET_RSS_MB = 250.0


def measure(sizes=(1000, 10000), runs: int = 3, per_resource_sizes=(1000,),
            memory: bool = True) -> list[h.Figure]:
    figures: list[h.Figure] = []
    memory_figures: list[h.Figure] = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="polyctl-bench-") as tmp:
            root = Path(tmp)
            project = root / "project"
            h.write_specs(project, n)
            with h.Sandbox(root / "sandbox", latency_ms=0) as sandbox:
                seeded = h.apply_all(project, sandbox)
                sandbox.set_faults(latency_ms=LATENCY_MS)
                plan = h.POLYCTL + ["plan"]
                h.run(plan, cwd=project, env=sandbox.env()).check("polyctl plan")  # warm
                sandbox.reset_stats()
                plans = []
                for _ in range(runs):
                    r = h.run(plan, cwd=project, env=sandbox.env()).check("polyctl plan")
                    if "No changes" not in r.stdout:
                        raise RuntimeError(f"the plan is not empty:\n{r.stdout[-2000:]}")
                    plans.append(r)
                requests = sandbox.stats()["total_requests"] / runs
                load = h.load1()
                wall = h.median([r.wall for r in plans])
                cpu = h.median([r.cpu for r in plans])
                target = TARGET_PLAN_10K if n == 10000 else None
                figures.append(h.Figure(
                    "3 no-op plan", f"polyctl plan, {n:,} connections, {LATENCY_MS} ms latency "
                    f"(median of {runs})", h.seconds(wall),
                    beside=f"CPU {h.seconds(cpu)}, {requests:.0f} API requests per plan",
                    target=f"≤ {target:.0f} s" if target else "",
                    met=(wall <= target) if target else None, load=load))
                figures += _refresh_figures(n, project, sandbox, runs,
                                            per_resource=n in per_resource_sizes,
                                            plan_wall=wall)
                if memory:
                    load = h.load1()
                    for what, r in (("plan", max(plans, key=lambda r: r.maxrss_mb)),
                                    ("apply (all creates)", seeded)):
                        memory_figures.append(h.Figure(
                            "7 memory", f"peak RSS of polyctl {what}, {n:,} connections",
                            f"{r.maxrss_mb:.0f} MB",
                            target=f"≤ {TARGET_RSS_MB:.0f} MB" if n == 10000 else "",
                            met=(r.maxrss_mb <= TARGET_RSS_MB) if n == 10000 else None,
                            load=load))
    return figures + memory_figures


def _refresh_figures(n: int, project: Path, sandbox: h.Sandbox, runs: int, *,
                     per_resource: bool, plan_wall: float) -> list[h.Figure]:
    args = [h.PYTHON, str(Path(__file__).with_name("per_resource_refresh.py")),
            "--state", str(project / "polyctl.state.json"), "--runs", str(runs)]
    if not per_resource:
        args += ["--only", "list"]
    r = h.run(args, cwd=project, env=sandbox.env()).check("per_resource_refresh.py")
    medians = json.loads(r.stdout)["median"]
    load = h.load1()
    listed = medians["list"]
    figures = [h.Figure("3 no-op plan", f"refresh only, polyctl's (one list call), {n:,}",
                        h.seconds(listed), load=load)]
    if per_resource:
        each = medians["per_resource"]
        figures.append(h.Figure(
            "3 no-op plan", f"refresh only, one GET per resource at parallelism 10, {n:,}",
            h.seconds(each), beside=f"ideal N×latency/10 = {h.seconds(n * LATENCY_MS / 10000)}",
            load=load))
        figures.append(h.Figure(
            "3 no-op plan", f"speed-up of polyctl's refresh over per-resource, {n:,}",
            f"{each / listed:.0f}×", beside=f"whole polyctl plan process: {each / plan_wall:.1f}× "
            "faster than the per-resource refresh alone",
            target=f"≥ {TARGET_RATIO:.0f}×" if n == 1000 else "",
            met=(each / listed >= TARGET_RATIO) if n == 1000 else None, load=load))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="connections (repeatable)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--per-resource", type=int, action="append",
                        help="sizes at which to time the per-resource refresh (default 1000)")
    opts = parser.parse_args()
    print(f"Scenarios 3 and 7: no-op plan and memory — {h.machine()}", flush=True)
    for figure in measure(tuple(opts.n or (1000, 10000)), opts.runs,
                          tuple(opts.per_resource or (1000,))):
        figure.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
