"""Parsing large spec sets ahead, in a forked child, while the parent does other work.

A plan of 10,000 connections spends about a second in libyaml's event stream, and
about as long reading state and refreshing from the API — work that does not need the
specs. When the spec files are large (`MIN_BYTES`), the platform can fork, and the
process runs no other thread, `ParseAhead.start` forks a child that reads every file
with the fast reader and sends the plain data back through a pipe. `marshal` carries
it: only str, int, float, bool, None, lists, dicts and tuples can cross, and nothing
secret does — the child sees spec text, and interpolation happens later, in the
parent.

The parent `take`s what arrived when it needs the specs. A file the child could not
read the fast way (unusual YAML, a syntax error, bad bytes) comes back as None and the
parent reads it as before, reporting its problems itself; if the child failed
altogether, the parent reads everything. The specs and every diagnostic are the same
either way.
"""

from __future__ import annotations

import marshal
import os
import signal
import threading
from pathlib import Path
from typing import Sequence

from polyctl.diagnostics import Location
from polyctl.spec.yamlfast import fast_load
from polyctl.spec.yamlsource import SourceDoc

MIN_BYTES = 1 << 20  # below this (about 2,000 connections) parsing in place is as fast


class ParseAhead:
    """A forked child parsing spec files; `take()` once for the results, or `cancel()`."""

    def __init__(self, pid: int, fd: int, files: Sequence[tuple[Path, str]]) -> None:
        self._pid, self._fd, self._files = pid, fd, list(files)

    @classmethod
    def start(cls, files: Sequence[tuple[Path, str]]) -> ParseAhead | None:
        """Fork a child parsing `files` ((path, display name) pairs), or None when
        parsing ahead is not worth it or not safe here."""
        if not hasattr(os, "fork") or threading.active_count() > 1:
            return None  # forking beside other threads can inherit their locks held
        try:
            size = sum(path.stat().st_size for path, _ in files)
        except OSError:
            return None
        if size < MIN_BYTES:
            return None
        parent = os.getpid()
        r, w = os.pipe()
        try:
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(r)
                _child(files, w)
        except OSError:
            os.close(r)
            os.close(w)
            return None
        finally:
            # A signal landing in the child before `_child` takes over (Ctrl-C reaches
            # the whole process group) must end it here, not unwind through the
            # caller's code — its `finally`s would release the parent's state lock.
            if os.getpid() != parent:
                os._exit(1)
        os.close(w)
        return cls(pid, r, files)

    def take(self) -> dict[Path, SourceDoc | None]:
        """path → its parsed document (None: the parent must read it itself); an empty
        mapping if the child failed. Waits for the child."""
        chunks = []
        try:
            while chunk := os.read(self._fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(self._fd)
            _, status = os.waitpid(self._pid, 0)
        if status != 0:
            return {}
        try:
            parsed = marshal.loads(b"".join(chunks))
        except (EOFError, ValueError, TypeError):
            return {}
        if not isinstance(parsed, list) or len(parsed) != len(self._files):
            return {}
        out: dict[Path, SourceDoc | None] = {}
        for (path, display), item in zip(self._files, parsed):
            if item is None:
                out[path] = None
                continue
            data, keys, text = item
            out[path] = SourceDoc(display, data, text=text, keys={
                k: Location(display, line, column) for k, line, column in keys})
        return out

    def cancel(self) -> None:
        """Stop the child (the specs were not needed after all) and reap it."""
        try:
            os.kill(self._pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(self._fd)
        os.waitpid(self._pid, 0)


def _child(files: Sequence[tuple[Path, str]], w: int) -> None:
    """Parse, send, and leave with os._exit: no atexit handler, no flush of the
    parent's buffered output, no cleanup of the parent's lock or temp files."""
    status = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends the child quietly
        out: list = []
        for path, display in files:
            try:
                text = path.read_text(encoding="utf-8")
                data, keys = fast_load(text, display)
                out.append((data, [(k, loc.line, loc.column) for k, loc in keys.items()],
                            text))
            except Exception:  # the parent reads this file again and says what is wrong
                out.append(None)
        payload = marshal.dumps(out)
        view = memoryview(payload)
        while view:
            view = view[os.write(w, view):]
        status = 0
    except BaseException:  # noqa: BLE001 - whatever it was, the parent reads everything
        status = 1
    finally:
        os._exit(status)
