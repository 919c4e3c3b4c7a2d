"""Helpers for the API client tests: a scripted fake API on httpx.MockTransport, a fake
clock whose sleep returns at once, and a factory for clients wired to both."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx
import pytest

from polyctl.api import ApiSettings, PolytomicClient, RetryPolicy

BASE_URL = "https://api.test"
API_KEY = "test-api-key"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    """Monotonic and wall time that only move when the client sleeps."""

    def __init__(self, epoch: float = 1_700_000_000.0) -> None:
        self.now = 0.0
        self.epoch = epoch
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.epoch + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


@dataclass
class Reply:
    """One scripted answer: a response, or a transport error to raise."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    error: type[httpx.TransportError] | None = None

    def build(self, request: httpx.Request) -> httpx.Response:
        if self.error is not None:
            raise self.error("scripted failure", request=request)
        if self.text is not None:
            return httpx.Response(self.status, text=self.text, headers=self.headers)
        if self.body is None:
            return httpx.Response(self.status, headers=self.headers)
        return httpx.Response(self.status, json=self.body, headers=self.headers)


def ok(data: Any = None, **extra: Any) -> Reply:
    return Reply(200, {"data": data, **extra})


class Script:
    """Answers requests with the given replies in order (the last one repeats)."""

    def __init__(self, *replies: Reply | Callable[[httpx.Request], Any]) -> None:
        self.replies = list(replies) or [ok({})]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> Any:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return reply(request) if callable(reply) and not isinstance(reply, Reply) else reply.build(request)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


class Router:
    """Answers by (method, path); records every request."""

    def __init__(self, routes: dict[tuple[str, str], Any]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> Any:
        self.requests.append(request)
        target = self.routes.get((request.method, request.url.path))
        if target is None:
            return httpx.Response(404, json={"status": 404, "message": "no route"})
        if callable(target) and not isinstance(target, Reply):
            return target(request)
        return target.build(request)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(clock: FakeClock):
    """``make_client(handler, settings=None, **kwargs)`` → a PolytomicClient on a MockTransport."""

    def make(handler: Callable, *, settings: ApiSettings | None = None, **kwargs: Any) -> PolytomicClient:
        kwargs.setdefault("sleep", clock.sleep)
        kwargs.setdefault("clock", clock.monotonic)
        kwargs.setdefault("wall_clock", clock.time)
        kwargs.setdefault("retry", RetryPolicy())
        return PolytomicClient(
            settings or ApiSettings(base_url=BASE_URL, api_key=API_KEY),
            transport=httpx.MockTransport(handler),
            **kwargs,
        )

    return make
