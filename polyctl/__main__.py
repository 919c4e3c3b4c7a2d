"""Entry point of the `polyctl` console script.

`--version` is answered here, before typer, rich or httpx are imported, so a
version check in CI costs a bare interpreter start-up.
"""

from __future__ import annotations

import gc
import sys

# Imports polyctl never uses that its libraries make whenever the package happens to be
# installed: httpcore imports trio (to support trio event loops; polyctl runs on
# asyncio) and httpx imports its own command line (click, rich's console, pygments).
# Together they cost ~0.25 s of every command that talks to the API. A None entry in
# sys.modules is the import system's "not available": both imports are guarded, and fall
# back at once. Only in the polyctl process — `cli.run` called in-process changes nothing.
UNUSED_OPTIONAL_IMPORTS = ("trio", "httpx._main")

# A run builds large structures that live until it ends (10,000 specs, their state, the
# live objects, the plan): with the default thresholds (700, 10, 10) the cyclic
# collector walks them again and again — a third of a 10,000-connection plan. Collect
# far less often, as mypy does; cyclic garbage is still collected. Only in the polyctl
# process.
GC_THRESHOLDS = (200_000, 30, 30)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"] or args == ["version"]:
        from polyctl import __version__

        sys.stdout.write(f"polyctl v{__version__}\n")
        raise SystemExit(0)
    for name in UNUSED_OPTIONAL_IMPORTS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    gc.set_threshold(*GC_THRESHOLDS)
    from polyctl.cli import run

    raise SystemExit(run(args))


if __name__ == "__main__":
    main()
