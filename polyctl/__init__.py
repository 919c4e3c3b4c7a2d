"""polyctl: a declarative reconciler for Polytomic connections.

Kept import-free on purpose: `polyctl --version` must not pay for typer, rich or httpx.
"""

__version__ = "0.1.0"
