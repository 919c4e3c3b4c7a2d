"""Run polyctl, counting every byte it writes to the state backend's files.

    BENCH_STATE_WRITES=out.json python bench/count_state_writes.py apply --auto-approve

Runs `polyctl.__main__.main` in this process after wrapping `write_all`, the one function
through which `LocalStateBackend` writes file contents (the state's temp file, a backup
copied where hard links are impossible, the lock file, the journal). Each write is
attributed to a file by the name its descriptor points at (`/proc/self/fd`), so only
bytes that reach the backend's files are counted — not stdout, not the HTTP traffic.
A backup made by hard-linking the previous state writes no bytes, and counts none.

At exit, writes `{"bytes": {"state": n, "journal": n, "backup": n, "lock": n,
"other": n}, "writes": {...}, "fsyncs": n, "write_bytes": n}` to `$BENCH_STATE_WRITES`;
`write_bytes` is what /proc/self/io says reached the block device from this process
(whole pages: it shows the cost of appending small records with an fsync each).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter

import polyctl.state.files as files
import polyctl.state.journal as journal
import polyctl.state.lockfile as lockfile

counted: Counter[str] = Counter()
writes: Counter[str] = Counter()
fsyncs = 0
_write_all = files.write_all
_fsync = os.fsync


def _kind(fd: int) -> str:
    try:
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return "other"
    for suffix in (".journal", ".backup", ".lock"):
        if suffix + ".tmp-" in name or name.endswith(suffix):
            return suffix[1:]
    return "state" if ".json" in name else "other"


def counting_write_all(fd: int, data: bytes) -> None:
    kind = _kind(fd)
    counted[kind] += len(data)
    writes[kind] += 1
    _write_all(fd, data)


def counting_fsync(fd) -> None:
    global fsyncs
    fsyncs += 1
    _fsync(fd)


def _device_bytes() -> int:
    try:
        with open("/proc/self/io") as f:
            fields = dict(line.split(": ") for line in f.read().splitlines())
        return int(fields["write_bytes"])
    except (OSError, KeyError, ValueError):
        return -1


def main() -> None:
    for module in (files, journal, lockfile):
        module.write_all = counting_write_all
    os.fsync = counting_fsync
    from polyctl.__main__ import main as polyctl_main

    try:
        polyctl_main(sys.argv[1:])
    finally:
        out = os.environ.get("BENCH_STATE_WRITES")
        if out:
            with open(out, "w") as f:
                json.dump({"bytes": dict(counted), "writes": dict(writes), "fsyncs": fsyncs,
                           "write_bytes": _device_bytes()}, f)


if __name__ == "__main__":
    main()
