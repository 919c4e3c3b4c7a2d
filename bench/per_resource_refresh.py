"""Refresh the way the Terraform provider does — one GET per resource, 10 at a time —
beside polyctl's own refresh (one list call), on the same state, in one process.

    python bench/per_resource_refresh.py --state polyctl.state.json --runs 3
        (POLYTOMIC_DEPLOYMENT_URL and POLYTOMIC_API_KEY point at the API or a sandbox)

Both variants use polyctl's own client (`PolytomicClient`, max_concurrency 10, one
pooled client per refresh, as `polyctl plan` makes one):

- `list`: `polyctl.engine.refresh.refresh_state` — what `polyctl plan` runs;
- `per-resource`: `OrgClient.get_connection(id)` for every id in the state under an
  `asyncio.Semaphore(10)`, each answer folded with `reconcile_live` exactly as
  `refresh_state` folds the listed ones.

They run alternately, `--runs` times each, after one untimed list refresh (which pays
the lazy imports, e.g. httpcore's, that neither should be charged with); prints one JSON object with the wall times
(seconds) of every run and the medians. Start-up, spec loading and planning are not
included in either: this compares the refresh strategies only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from polyctl.api import ApiSettings, PolytomicClient
from polyctl.engine.live import reconcile_live
from polyctl.engine.refresh import refresh_state
from polyctl.schema import schema_for
from polyctl.state.model import loads

PARALLELISM = 10


async def by_list(state, settings: ApiSettings) -> int:
    async with PolytomicClient(settings, max_concurrency=PARALLELISM) as client:
        orgs = {}

        def org(organization):
            return orgs.setdefault(organization, client.for_organization(organization))

        refreshed = await refresh_state(state, org)
    return sum(1 for r in refreshed.values() if r is not None)


async def per_resource(state, settings: ApiSettings) -> int:
    gate = asyncio.Semaphore(PARALLELISM)
    async with PolytomicClient(settings, max_concurrency=PARALLELISM) as client:
        org = client.for_organization(None)

        async def one(prior):
            async with gate:
                live = await org.get_connection(prior.id)
            return reconcile_live(live, prior, state.digest_salt, schema_for(prior.type))

        refreshed = await asyncio.gather(*(one(r) for r in state.resources.values()))
    return len(refreshed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=Path("polyctl.state.json"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("list", "per_resource"), help="run one variant")
    opts = parser.parse_args()
    state = loads(opts.state.read_bytes(), source=str(opts.state))
    settings = ApiSettings.from_env()
    variants = [(n, v) for n, v in (("list", by_list), ("per_resource", per_resource))
                if opts.only in (None, n)]
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    asyncio.run(by_list(state, settings))  # untimed: lazy imports (httpcore) load here
    for _ in range(opts.runs):
        for name, variant in variants:
            start = time.perf_counter()
            found = asyncio.run(variant(state, settings))
            times[name].append(time.perf_counter() - start)
            if found != len(state.resources):
                print(f"{name}: found {found} of {len(state.resources)}", file=sys.stderr)
                return 1
    print(json.dumps({"resources": len(state.resources), "runs": times,
                      "median": {k: statistics.median(v) for k, v in times.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
