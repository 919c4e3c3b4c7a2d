"""What polyctl remembers, and where: the public face of the state package.

Import from here, not from the submodules:

- the model: `State`, `ResourceState`, `Lifecycle`, `dumps`, `loads`, `FORMAT_VERSION`;
- the `StateBackend` protocol every storage implements, `LockInfo`, and the error tree
  (drawn in `polyctl.state.backend`'s docstring, rooted at `StateError`);
- `LocalStateBackend`, the file backend, and `open_backend(location, workspace=…)`,
  which picks a backend for a path or URL (`--state`, `POLYCTL_STATE`): a
  `postgresql://` URL opens `polyctl.state.postgres.PostgresStateBackend`;
- `write_emergency_copy`, for a state that its backend refused to store.

Importing this package is cheap (standard library only; psycopg is imported by the
PostgreSQL backend on first use) and it never imports render,
cli, engine or api: the arrows point into state, not out of it.
"""

from __future__ import annotations

import re
from pathlib import Path

from polyctl.state.backend import (
    LineageMismatchError,
    LockError,
    LockInfo,
    LockNotFoundError,
    LockWaitHook,
    SerialConflictError,
    StateBackend,
    StateLockedError,
    StateWriteError,
)
from polyctl.state.files import write_emergency_copy
from polyctl.state.local import DEFAULT_STATE_FILE, LocalStateBackend, workspace_state_path
from polyctl.state.model import (
    FORMAT_VERSION,
    CorruptStateError,
    Lifecycle,
    ResourceState,
    State,
    StateError,
    UnsupportedStateVersionError,
    dumps,
    loads,
)

_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")


def open_backend(location: str | Path, *, workspace: str = "default") -> StateBackend:
    """The backend for `location`: a file path, or a `postgresql://` URL.

    A relative path is taken relative to the current directory (the CLI resolves
    `-C` first). Workspaces other than "default" live in `polyctl.state.d/<name>/`.
    A URL opens `PostgresStateBackend` (`?schema=NAME` picks the schema, default
    `polyctl`), where each workspace is a row of the same tables; nothing connects
    until the backend is first used.
    """
    if isinstance(location, str):
        match = _URL.match(location)
        if match:
            scheme = match["scheme"].lower()
            if scheme in ("postgresql", "postgres"):
                # Imported here: the module (and psycopg, on first connection) only when used.
                from polyctl.state.postgres import PostgresStateBackend

                return PostgresStateBackend(location, workspace=workspace)
            raise StateError(f"unsupported state location {scheme}://…: use a file path "
                             "or a postgresql:// URL")
        if not location.strip():
            raise StateError("the state location is empty")
    path = Path(location).expanduser()
    return LocalStateBackend(workspace_state_path(path, workspace))


__all__ = [
    "DEFAULT_STATE_FILE",
    "FORMAT_VERSION",
    "CorruptStateError",
    "Lifecycle",
    "LineageMismatchError",
    "LocalStateBackend",
    "LockError",
    "LockInfo",
    "LockNotFoundError",
    "LockWaitHook",
    "ResourceState",
    "SerialConflictError",
    "State",
    "StateBackend",
    "StateError",
    "StateLockedError",
    "StateWriteError",
    "UnsupportedStateVersionError",
    "dumps",
    "loads",
    "open_backend",
    "workspace_state_path",
    "write_emergency_copy",
]
