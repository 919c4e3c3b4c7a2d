"""Entry point of the `polyctl` console script.

`--version` is answered here, before typer, rich or httpx are imported, so a
version check in CI costs a bare interpreter start-up.
"""

from __future__ import annotations

import sys

# Imports polyctl never uses that its libraries make whenever the package happens to be
# installed: httpcore imports trio (to support trio event loops; polyctl runs on
# asyncio) and httpx imports its own command line (click, rich's console, pygments).
# Together they cost ~0.25 s of every command that talks to the API. A None entry in
# sys.modules is the import system's "not available": both imports are guarded, and fall
# back at once. Only in the polyctl process — `cli.run` called in-process changes nothing.
UNUSED_OPTIONAL_IMPORTS = ("trio", "httpx._main")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"] or args == ["version"]:
        from polyctl import __version__

        sys.stdout.write(f"polyctl v{__version__}\n")
        raise SystemExit(0)
    for name in UNUSED_OPTIONAL_IMPORTS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    from polyctl.cli import run

    raise SystemExit(run(args))


if __name__ == "__main__":
    main()
