"""Scenarios 4 and 5 — an apply of all creates, with latency and under a rate limit.

    python bench/apply_bench.py                       # both scenarios, 3 runs each
    python bench/apply_bench.py --scenario 4 --runs 1

4. 1,000 creates, sandbox latency 50 ms, `--parallelism 10`: wall time beside the ideal
   `N × latency / parallelism` (every request in flight all the time, nothing else
   costing anything); and the bytes written to the state backend's files (state, journal,
   backup, lock — counted by `count_state_writes.py` as they pass through the backend's
   one write function) beside the size of the final state file. In the same run,
   `create_floor.py` sends the same N request bodies with polyctl's HTTP client alone
   (no plan, journal, state or start-up) to a fresh sandbox: the part of the time that
   is the server's and HTTP's, not polyctl's engine's.
5. 500 creates, sandbox `--max-rps 50` (a token bucket holding one second's worth; an
   excess request gets 429 with `Retry-After`), no latency: wall time beside `N / rate`,
   the operations that failed (must be none) and the 429s the sandbox answered.

Each run is a fresh sandbox process and an empty project (so every run creates all N).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import harness as h

COUNTER = str(Path(__file__).with_name("count_state_writes.py"))
FLOOR = str(Path(__file__).with_name("create_floor.py"))


def _floor_once(n: int, *, latency_ms: float, parallelism: int) -> float:
    """Seconds for polyctl's HTTP client alone to send the same N creates (no engine)."""
    with tempfile.TemporaryDirectory(prefix="polyctl-bench-") as tmp:
        root = Path(tmp)
        h.write_specs(root / "project", n)
        with h.Sandbox(root / "sandbox", latency_ms=latency_ms) as sandbox:
            r = h.run([h.PYTHON, FLOOR, "--specs", str(root / "project" / "specs"),
                       "--parallelism", str(parallelism)],
                      cwd=root, env=sandbox.env()).check("create_floor.py")
        return json.loads(r.stdout)["median"]


def _apply_once(n: int, *, latency_ms: float = 0, max_rps: float | None = None,
                parallelism: int = 10, count_bytes: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="polyctl-bench-") as tmp:
        root = Path(tmp)
        project = root / "project"
        h.write_specs(project, n)
        with h.Sandbox(root / "sandbox", latency_ms=latency_ms, max_rps=max_rps) as sandbox:
            report = root / "writes.json"
            launcher = [h.PYTHON, COUNTER] if count_bytes else h.POLYCTL
            r = h.run(launcher + ["apply", "--auto-approve", "--parallelism", str(parallelism)],
                      cwd=project, env=sandbox.env(BENCH_STATE_WRITES=str(report)))
            stats = sandbox.stats()
        summary = re.search(r"Apply (complete|incomplete)!? Resources: (\d+) added.*", r.stdout)
        result = {
            "run": r, "added": int(summary.group(2)) if summary else 0,
            "failed": len(re.findall(r"^Error: ", r.stderr, re.M)),
            "throttled": sum(route.get("429", 0) for route in stats["by_route"].values()),
            "requests": stats["total_requests"],
            "state_size": (project / "polyctl.state.json").stat().st_size,
        }
        if count_bytes:
            result["writes"] = json.loads(report.read_text())
        return result


def scenario_4(runs: int = 3, n: int = 1000, latency_ms: float = 50,
               parallelism: int = 10) -> list[h.Figure]:
    results, floors = [], []
    for _ in range(runs):  # alternate, so that load from elsewhere falls on both
        results.append(_apply_once(n, latency_ms=latency_ms, parallelism=parallelism,
                                   count_bytes=True))
        floors.append(_floor_once(n, latency_ms=latency_ms, parallelism=parallelism))
    for res in results:
        if res["run"].code != 0 or res["added"] != n:
            raise RuntimeError(f"apply did not create all {n}: {res['run'].stderr[-2000:]}")
    load = h.load1()
    ideal = n * latency_ms / 1000 / parallelism
    wall = h.median([r["run"].wall for r in results])
    cpu = h.median([r["run"].cpu for r in results])
    floor = h.median(floors)
    last = results[-1]
    written = last["writes"]["bytes"]
    total = sum(written.values())
    size = last["state_size"]
    parts = ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sorted(written.items()))
    return [
        h.Figure("4 apply", f"polyctl apply, {n:,} creates, {latency_ms:.0f} ms latency, "
                 f"parallelism {parallelism} (median of {runs})", h.seconds(wall),
                 beside=f"ideal {h.seconds(ideal)} → {wall / ideal:.2f}×; CPU {h.seconds(cpu)}",
                 target="≤ 1.25× ideal", met=wall <= 1.25 * ideal, load=load),
        h.Figure("4 apply", f"the same {n:,} creates sent by polyctl's HTTP client alone "
                 "(no engine, journal, state or start-up)", h.seconds(floor),
                 beside=f"{floor / ideal:.2f}× ideal: the sandbox's and HTTP's own share; "
                 f"polyctl apply adds {h.seconds(wall - floor)}", load=load),
        h.Figure("4 apply", "bytes written to the state backend",
                 f"{total / 1e6:.2f} MB ({parts})",
                 beside=f"final state {size / 1e6:.2f} MB → {total / size:.2f}×; "
                 f"{last['writes']['fsyncs']} fsyncs, "
                 f"{last['writes']['write_bytes'] / 1e6:.1f} MB reached the disk",
                 target="≤ 3× final state", met=total <= 3 * size, load=load),
    ]


def scenario_5(runs: int = 3, n: int = 500, rate: float = 50) -> list[h.Figure]:
    results = [_apply_once(n, max_rps=rate) for _ in range(runs)]
    load = h.load1()
    ideal = n / rate
    wall = h.median([r["run"].wall for r in results])
    failed = sum(r["failed"] + (r["run"].code != 0) for r in results)
    added = min(r["added"] for r in results)
    throttled = h.median([r["throttled"] for r in results])
    return [h.Figure(
        "5 rate limit", f"polyctl apply, {n} creates, sandbox --max-rps {rate:.0f} "
        f"(median of {runs})", h.seconds(wall),
        beside=f"N/rate {h.seconds(ideal)} → {wall / ideal:.2f}×; {failed} failed runs or "
        f"operations, fewest created {added}; {throttled:.0f} answered 429",
        target="≤ 1.2× N/rate, 0 failed",
        met=wall <= 1.2 * ideal and failed == 0 and added == n, load=load)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=int, choices=(4, 5), action="append")
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    chosen = opts.scenario or [4, 5]
    print(f"Scenarios {' and '.join(map(str, chosen))}: apply — {h.machine()}", flush=True)
    figures = []
    if 4 in chosen:
        figures += scenario_4(opts.runs)
    if 5 in chosen:
        figures += scenario_5(opts.runs)
    for figure in figures:
        figure.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
