"""`python -m polyctl.sandbox`: run the sandbox as its own process (tests, benchmarks).

Same flags as `polyctl sandbox`. Prints one line `Sandbox listening on URL` and the
keys to use, flushed at once so a parent process can read the URL and start talking.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import RunningSandbox, SandboxConfig, serve_forever


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m polyctl.sandbox", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    p.add_argument("--db", type=Path, default=Path(".polyctl/sandbox.db"), help="SQLite file")
    p.add_argument("--api-key", action="append", default=[], help="accepted API key (repeatable)")
    p.add_argument("--partner-key", action="append", default=[], help="accepted partner key (repeatable)")
    p.add_argument("--connection-types", type=Path, default=None, metavar="DIR",
                   help="folder of <type-id>.json JSON Schemas")
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--error-rate", type=float, default=0)
    p.add_argument("--throttle-rate", type=float, default=0)
    p.add_argument("--drop-rate", type=float, default=0)
    p.add_argument("--max-rps", type=float, default=None)
    p.add_argument("--retry-after", type=float, default=None, help="Retry-After seconds on 429s")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        host=args.host,
        port=args.port,
        db_path=args.db,
        api_keys=args.api_key,
        partner_keys=args.partner_key,
        connection_types_dir=args.connection_types,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        throttle_rate=args.throttle_rate,
        drop_rate=args.drop_rate,
        max_rps=args.max_rps,
        retry_after=args.retry_after,
        seed=args.seed,
        quiet=not args.verbose,
    )


def _announce(sandbox: RunningSandbox) -> None:
    print(f"Sandbox listening on {sandbox.url}", flush=True)
    print(f"POLYTOMIC_DEPLOYMENT_URL={sandbox.url}", flush=True)
    print(f"POLYTOMIC_API_KEY={sandbox.api_key}", flush=True)
    print(f"POLYTOMIC_PARTNER_KEY={sandbox.partner_key}", flush=True)
    print(f"Organization: {sandbox.organization_id}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        serve_forever(config_from_args(args), on_ready=_announce)
    except OSError as exc:  # port in use, unwritable database folder, …
        print(f"polyctl sandbox: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
