"""Entry point of the `polyctl` console script.

`--version` is answered here, before typer, rich or httpx are imported, so a
version check in CI costs a bare interpreter start-up.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"] or args == ["version"]:
        from polyctl import __version__

        sys.stdout.write(f"polyctl v{__version__}\n")
        raise SystemExit(0)
    from polyctl.cli import run

    raise SystemExit(run(args))


if __name__ == "__main__":
    main()
