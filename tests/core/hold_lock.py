"""Run by the lock tests as another process: take the state lock and hold it.

    python hold_lock.py STATE_PATH OPERATION

Prints the LockInfo as one JSON line once the lock is held, then waits for a line on
stdin: "release" unlocks and prints "released"; end of input exits *without*
unlocking (like a crashed run).
"""

from __future__ import annotations

import json
import sys

from polyctl.state import LocalStateBackend


def main(path: str, operation: str) -> None:
    backend = LocalStateBackend(path)
    info = backend.lock(operation)
    print(json.dumps(info.to_json()), flush=True)
    if sys.stdin.readline().strip() == "release":
        backend.unlock(info)
        print("released", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
