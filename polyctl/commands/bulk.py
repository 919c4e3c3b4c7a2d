"""Pausing Python's cyclic garbage collector while a command builds large data.

Loading 10,000 specs, reading a 10,000-resource state, folding a listing of 10,000
connections and planning them allocate millions of small objects that stay alive and
hold no reference cycles. Every few hundred allocations set off the collector, and its
older generations walk everything allocated so far again: on a 10,000-connection plan
that was 40% of the CPU time, with nothing to collect. Commands build their data inside
`collector_paused()`, and leave it before long concurrent work — an apply's operations
make the short-lived cycles of asyncio and httpx, which the collector must keep
reclaiming, so it runs as usual there.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the body with the cyclic collector off (reference counting still frees
    everything acyclic at once); nested uses leave it to the outermost."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
