"""Fault injection and request statistics, shared by every handler thread.

One `FaultInjector` decides, per API request, whether it is rate limited (a real token
bucket for `max_rps`), throttled (429), failed (500/502/503) or dropped (the TCP
connection closed without a response, before the work or after it was committed), and
how long to sleep first (`latency_ms`). Each request draws exactly two numbers from one
seeded RNG whenever a rate is non-zero, so a sequential test with a seed sees the same
faults on every run. `/_sandbox/` admin requests never reach this module.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

FAULT_FIELDS = ("latency_ms", "error_rate", "throttle_rate", "drop_rate", "max_rps", "retry_after", "seed")
_RATES = ("error_rate", "throttle_rate", "drop_rate")
ERROR_STATUSES = (500, 502, 503)


@dataclass(frozen=True)
class Fault:
    """What to do instead of (or after) serving a request."""

    kind: str  # "rate_limited" | "throttled" | "error" | "drop_before" | "drop_after"
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def drops(self) -> bool:
        return self.kind.startswith("drop")


def _header_seconds(seconds: float) -> str:
    """`Retry-After` value: integer seconds when whole, else the fraction as given."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _coerce(name: str, value: Any) -> Any:
    """Knobs arrive from flags, Python and JSON alike: normalise their types once."""
    if name == "seed":
        return value if value is None else int(value)
    if name in ("max_rps", "retry_after"):
        return value if value is None else float(value)
    return float(value or 0)


class FaultInjector:
    def __init__(self, **settings: Any) -> None:
        self._lock = threading.Lock()
        self._settings: dict[str, Any] = {
            "latency_ms": 0.0, "error_rate": 0.0, "throttle_rate": 0.0, "drop_rate": 0.0,
            "max_rps": None, "retry_after": None, "seed": None,
        }
        self._rng = random.Random()
        self._tokens = 0.0
        self._refilled = time.monotonic()
        self.update(**settings)

    def update(self, **changes: Any) -> dict[str, Any]:
        """Change some knobs live (unknown names or out-of-range values: ValueError)."""
        unknown = set(changes) - set(FAULT_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        changes = {name: _coerce(name, value) for name, value in changes.items()}
        for name in _RATES:
            if name in changes and not 0.0 <= float(changes[name]) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("latency_ms", "max_rps", "retry_after"):
            value = changes.get(name)
            if value is not None and float(value) < 0:
                raise ValueError(f"{name} must not be negative")
        if changes.get("max_rps") == 0:
            changes["max_rps"] = None  # 0 reads naturally as "no limit"
        with self._lock:
            self._settings.update(changes)
            if "seed" in changes:
                self._rng = random.Random(changes["seed"])
            if "max_rps" in changes and changes["max_rps"] is not None:
                self._tokens = self._burst()
                self._refilled = time.monotonic()
            return dict(self._settings)

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._settings)

    @property
    def latency_seconds(self) -> float:
        return float(self._settings["latency_ms"] or 0) / 1000.0

    def _burst(self) -> float:
        # One second's worth of requests may arrive at once; at least one always can.
        return max(1.0, float(self._settings["max_rps"]))

    def decide(self) -> Fault | None:
        """The fault for the request arriving now, or None to serve it normally."""
        with self._lock:
            s = self._settings
            if s["max_rps"] is not None:
                limited = self._take_token(float(s["max_rps"]))
                if limited is not None:
                    return limited
            if not any(s[name] for name in _RATES):
                return None
            roll, second = self._rng.random(), self._rng.random()
            if roll < s["throttle_rate"]:
                retry = s["retry_after"] if s["retry_after"] is not None else 1
                return Fault("throttled", 429, {"Retry-After": _header_seconds(retry)})
            roll -= s["throttle_rate"]
            if roll < s["error_rate"]:
                return Fault("error", ERROR_STATUSES[int(second * len(ERROR_STATUSES))])
            roll -= s["error_rate"]
            if roll < s["drop_rate"]:
                return Fault("drop_before" if second < 0.5 else "drop_after")
            return None

    def _take_token(self, rate: float) -> Fault | None:
        now = time.monotonic()
        self._tokens = min(self._burst(), self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        wait = (1.0 - self._tokens) / rate
        retry = self._settings["retry_after"]
        headers = {
            "Retry-After": _header_seconds(retry) if retry is not None else str(max(1, math.ceil(wait))),
            "X-RateLimit-Limit": _header_seconds(rate),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(math.ceil(time.time() + wait)),
        }
        return Fault("rate_limited", 429, headers)


class RequestStats:
    """Counts of API requests by `METHOD /path/{template}` and status (or `dropped`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._faults: Counter[str] = Counter()
        self._connections = 0  # TCP connections accepted: shows whether clients keep alive

    def connection_opened(self) -> None:
        with self._lock:
            self._connections += 1

    def record(self, route: str, outcome: str, fault: str | None = None) -> None:
        with self._lock:
            self._counts[(route, outcome)] += 1
            if fault:
                self._faults[fault] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            by_route: dict[str, dict[str, int]] = {}
            for (route, outcome), n in sorted(self._counts.items()):
                by_route.setdefault(route, {})[outcome] = n
            return {
                "total_requests": sum(self._counts.values()),
                "by_route": by_route,
                "faults": dict(self._faults),
                "connections_opened": self._connections,
            }

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._faults.clear()
            self._connections = 0
