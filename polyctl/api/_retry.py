"""When to retry, how long to wait, and the back-off shared by all requests of a client.

The delay rules match the official Python SDK (``polytomic/core/http_client.py``):
``Retry-After`` (seconds or an HTTP date) if positive, capped, no jitter; else
``X-RateLimit-Reset`` (a Unix time) capped and stretched by a random 1.0–1.2; else
``base × 2^n`` capped and jittered by the policy's factor. What is retried is narrower
than the SDK's (contract §9): 408, 429, 502, 503, 504 always; 500 only when repeating is
harmless (a GET, or a request with an Idempotency-Key); 409 likewise (what a server
answers while a request with the same Idempotency-Key is still being processed — the
retry then gets the first request's answer); transport failures when the request never
reached the server or repeating it is harmless. Other 4xx never.

A small loop rather than tenacity/stamina: the wait depends on the response's headers,
429s must move a gate shared across concurrent requests, and the total-time bound uses
an injected clock — all three would be callbacks around those libraries' own loops,
and neither is a dependency today.
"""

from __future__ import annotations

import email.utils
import random
import re
from collections.abc import Awaitable, Callable
from datetime import timezone

import httpx

from ._settings import RetryPolicy

__all__ = [
    "ALWAYS_RETRY_STATUSES",
    "should_retry_status",
    "should_retry_exception",
    "retry_after_seconds",
    "ratelimit_reset_seconds",
    "backoff_delay",
    "response_delay",
    "BackoffGate",
]

ALWAYS_RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})

# Failures where the request provably never reached the server: always safe to repeat.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures where the server may have acted: repeat only what is safe to repeat.
_MAYBE_SENT = (
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.ReadTimeout,
    httpx.WriteTimeout,
)

_SECONDS = re.compile(r"^\s*\d+(\.\d+)?\s*$")


def should_retry_status(status: int, *, repeat_safe: bool) -> bool:
    return status in ALWAYS_RETRY_STATUSES or (status in (409, 500) and repeat_safe)


def should_retry_exception(exc: BaseException, *, repeat_safe: bool) -> bool:
    if isinstance(exc, _NOT_SENT):
        return True
    return repeat_safe and isinstance(exc, _MAYBE_SENT)


def retry_after_seconds(headers: httpx.Headers, now: float) -> float | None:
    """Seconds from ``Retry-After`` (integer, fractional or HTTP date); None if absent/bad."""
    value = headers.get("retry-after")
    if value is None:
        return None
    if _SECONDS.match(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def ratelimit_reset_seconds(headers: httpx.Headers, now: float) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (Unix seconds); None if absent, bad or past."""
    value = headers.get("x-ratelimit-reset")
    if value is None:
        return None
    try:
        delay = float(value) - now
    except ValueError:
        return None
    return delay if delay > 0 else None


def backoff_delay(policy: RetryPolicy, retries: int, rand: Callable[[float, float], float]) -> float:
    """Exponential fallback: ``min(base × 2^retries, max_delay)`` × jitter."""
    low, high = policy.jitter
    return min(policy.base_delay * 2.0**retries, policy.max_delay) * rand(low, high)


def response_delay(
    policy: RetryPolicy,
    retries: int,
    headers: httpx.Headers,
    now: float,
    rand: Callable[[float, float], float] = random.uniform,
) -> float:
    """The wait before retrying after a retryable response, per the SDK's three rules."""
    after = retry_after_seconds(headers, now)
    if after is not None and after > 0:
        return min(after, policy.max_delay)
    reset = ratelimit_reset_seconds(headers, now)
    if reset is not None:
        return min(reset, policy.max_delay) * rand(1.0, 1.2)
    return backoff_delay(policy, retries, rand)


class BackoffGate:
    """A "not before" time shared by every request of one client.

    A 429 is about the credential, not the request: when one request is throttled, the
    others would be too. Moving the gate makes every request (new ones and retries)
    wait until the server's window has passed, so a burst settles to the server's rate
    instead of spending its retry budget on more 429s.
    """

    def __init__(self, clock: Callable[[], float], sleep: Callable[[float], Awaitable[object]]):
        self._clock = clock
        self._sleep = sleep
        self.not_before = 0.0

    def hold(self, seconds: float) -> None:
        self.not_before = max(self.not_before, self._clock() + seconds)

    async def wait(self) -> None:
        # Loop: the gate may move again while we sleep.
        while (remaining := self.not_before - self._clock()) > 0:
            await self._sleep(remaining)
