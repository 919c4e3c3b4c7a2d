"""`polyctl sandbox`: run the local Polytomic-compatible API server in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def sandbox(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0 = any free port).")] = 8787,
    db: Annotated[Optional[Path], typer.Option(
        "--db", metavar="PATH", help="SQLite file (default .polyctl/sandbox.db).")] = None,
    api_key: Annotated[Optional[list[str]], typer.Option(
        "--api-key", metavar="KEY", help="Accept this API key (repeatable).")] = None,
    partner_key: Annotated[Optional[list[str]], typer.Option(
        "--partner-key", metavar="KEY", help="Accept this partner key (repeatable).")] = None,
    connection_types: Annotated[Optional[Path], typer.Option(
        "--connection-types", metavar="DIR", help="Folder of connection-type JSON Schemas.")] = None,
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="Added to every request.")] = 0,
    error_rate: Annotated[float, typer.Option("--error-rate", help="Share answered 5xx.")] = 0,
    throttle_rate: Annotated[float, typer.Option("--throttle-rate", help="Share answered 429.")] = 0,
    drop_rate: Annotated[float, typer.Option("--drop-rate", help="Share of dropped connections.")] = 0,
    max_rps: Annotated[Optional[float], typer.Option("--max-rps", help="Rate limit (429 above).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed for fault injection.")] = None,
) -> int:
    """Run a local Polytomic-compatible API (SQLite-backed) for tests and demos."""
    from polyctl.sandbox import SandboxConfig, serve_forever

    rt = ctx.obj
    config = SandboxConfig(
        host=host, port=port, db_path=rt.root / (db or Path(".polyctl/sandbox.db")),
        api_keys=list(api_key or []), partner_keys=list(partner_key or []),
        connection_types_dir=(rt.root / connection_types) if connection_types else None,
        latency_ms=latency_ms, error_rate=error_rate, throttle_rate=throttle_rate,
        drop_rate=drop_rate, max_rps=max_rps, seed=seed, quiet=True)

    def ready(sb) -> None:
        rt.out.print(f"Polytomic sandbox listening on {sb.url}")
        rt.out.print(f"  export POLYTOMIC_DEPLOYMENT_URL={sb.url}")
        rt.out.print(f"  export POLYTOMIC_API_KEY={sb.api_key}")
        rt.out.print(f"  organization: {sb.organization_id}")
        rt.out.print("Press Ctrl-C to stop.")

    serve_forever(config, on_ready=ready)
    return 0
