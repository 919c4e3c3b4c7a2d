"""The apply journal beside a local state: `<state>.journal`, JSON Lines.

During apply the engine appends an entry before each request (pending, with its
Idempotency-Key) and after each result; an append returns only once its lines are on
disk (one fsync per call), so a run killed at any instant leaves a journal the next run
can finish or adopt. Entries are opaque to this module except that `Digest` leaves are
encoded as `{"$sensitive": …}` and decoded back, and a `Secret` is refused.

Every line is written with its newline in the same write, so a crash in the middle of
an append leaves at worst a torn last line without a newline. That append never
returned: readers ignore the fragment, and the next append cuts it off first so the new
entry does not merge with it. A malformed line that does end in a newline was written
whole and damaged later: it is reported as `CorruptStateError`, never skipped.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from polyctl.state.backend import StateWriteError, decode_entry, encode_entry
from polyctl.state.files import FILE_MODE, fsync_dir, write_all
from polyctl.state.model import CorruptStateError

_TAIL_CHUNK = 1 << 16


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        # The engine applies in parallel threads; appends must not interleave.
        self._mutex = threading.Lock()

    def append(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        # encode everything before touching the file
        data = b"".join(encode_entry(e).encode() + b"\n" for e in entries)
        with self._mutex:
            try:
                self._append(data)
            except OSError as exc:
                raise StateWriteError(
                    f"cannot append to the journal {self.path}: {exc.strerror or exc}",
                    path=str(self.path)) from exc

    def _append(self, data: bytes) -> None:
        created = not os.path.exists(self.path)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            if created:
                os.fchmod(fd, FILE_MODE)
            self._cut_torn_tail(fd)
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)  # the new name must survive too

    @staticmethod
    def _cut_torn_tail(fd: int) -> None:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        end = size
        while end > 0:  # find the last newline, reading backwards in chunks
            start = max(0, end - _TAIL_CHUNK)
            cut = os.pread(fd, end - start, start).rfind(b"\n")
            if cut >= 0:
                os.ftruncate(fd, start + cut + 1)
                return
            end = start
        os.ftruncate(fd, 0)

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CorruptStateError(f"cannot read the journal {self.path}: {exc}",
                                    path=str(self.path)) from exc
        lines = raw.split(b"\n")
        # Without a final newline the last line is torn; with one, the last item is b"".
        complete = lines[:-1]
        entries = []
        for number, line in enumerate(complete, start=1):
            try:
                entries.append(decode_entry(line))
            except ValueError as exc:  # UnicodeDecodeError included
                raise CorruptStateError(
                    f"{self.path}, line {number}: journal entry is not a JSON object ({exc})",
                    path=str(self.path)) from exc
        return entries

    def clear(self) -> None:
        with self._mutex:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                return
            except OSError as exc:
                raise StateWriteError(f"cannot remove the journal {self.path}: {exc}",
                                      path=str(self.path)) from exc
            fsync_dir(self.path.parent)

