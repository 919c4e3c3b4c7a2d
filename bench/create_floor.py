"""The floor under an apply of all creates: the API and polyctl's HTTP client alone.

    python bench/create_floor.py --specs project/specs --runs 1
        (POLYTOMIC_DEPLOYMENT_URL and POLYTOMIC_API_KEY point at a sandbox)

Builds the exact request bodies `polyctl apply` would send for the specs (polyctl's
loader, planner and payload builder, untimed), then times sending them all with
`OrgClient.create_connection` under an `asyncio.Semaphore(--parallelism)` on one
`PolytomicClient` — no plan output, no journal, no state, no start-up. What this takes
beyond `N × latency / parallelism` is the server's own time and the HTTP client's, which
no engine can remove; what `polyctl apply` takes beyond this is polyctl's.

Prints one JSON object: the wall time of each run (seconds) and their median.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

from polyctl.api import ApiSettings, PolytomicClient
from polyctl.engine.payload import SecretSource, request_body
from polyctl.engine.planner import plan_changes
from polyctl.spec.loader import load_specs
from polyctl.state.model import State


def bodies(spec_dir: Path) -> list[dict]:
    specs, diags = load_specs(spec_dir, env=os.environ)
    if diags.has_errors:
        raise SystemExit(f"the specs under {spec_dir} are not valid")
    state = State.new()
    plan, _ = plan_changes(specs, state)
    secrets = SecretSource(specs, state.digest_salt)
    return [request_body(secrets, rc.address, rc.after) for rc in plan.changes]


async def create_all(settings: ApiSettings, payloads: list[dict], parallelism: int) -> float:
    gate = asyncio.Semaphore(parallelism)
    async with PolytomicClient(settings, max_concurrency=parallelism) as client:
        org = client.for_organization(None)

        async def one(body: dict) -> None:
            async with gate:
                await org.create_connection(**body)

        start = time.perf_counter()
        await asyncio.gather(*(one(b) for b in payloads))
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=Path, required=True)
    parser.add_argument("--parallelism", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1)
    opts = parser.parse_args()
    payloads = bodies(opts.specs)
    settings = ApiSettings.from_env()
    times = [asyncio.run(create_all(settings, payloads, opts.parallelism))
             for _ in range(opts.runs)]
    print(json.dumps({"creates": len(payloads), "runs": times,
                      "median": statistics.median(times)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
