"""Keeping Python's cyclic garbage collector off the large data a command builds.

Loading 10,000 specs, reading a 10,000-resource state, folding a listing of 10,000
connections and planning them allocate millions of small objects that stay alive and
hold no reference cycles. Every few hundred allocations set off the collector, and its
older generations walk everything allocated so far again: on a 10,000-connection plan
that was 40% of the CPU time, with nothing to collect.

Commands build their data inside `collector_paused()`. On the way out, what was built
is frozen (`gc.freeze`): reference counting still frees it as usual, but the collector
no longer walks it — not when it is switched back on, not during an apply's concurrent
operations (whose short-lived asyncio and httpx cycles it keeps reclaiming, so it is on
there). `release_frozen()`, called when the command ends, hands everything back to the
collector, so an in-process caller (tests) never accumulates frozen objects.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the body with the cyclic collector off, then freeze what it built; nested uses
    leave both to the outermost."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def release_frozen() -> None:
    """Give back to the collector what `collector_paused` froze (at the end of a command)."""
    gc.unfreeze()
