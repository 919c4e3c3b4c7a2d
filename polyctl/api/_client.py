"""`PolytomicClient`: the one place an httpx client is built, and the request loop.

One instance per run. It owns the connection pool, the semaphore that bounds requests in
flight, the back-off gate shared after a 429, and the per-organization identity checks.
Organization-scoped operations live on `OrgClient` (``_org.py``), which borrows all of
these through `for_organization` so every organization shares one pool and one limit.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

import polyctl
from polyctl.values import loads_json

from ._auth import Credential, require_credentials
from ._errors import (
    OrganizationMismatchError,
    PolytomicError,
    error_from_response,
    network_error,
    safe_url,
    secrets_in,
)
from ._retry import (
    BackoffGate,
    backoff_delay,
    response_delay,
    should_retry_exception,
    should_retry_status,
)
from ._settings import ApiSettings, RetryPolicy

if TYPE_CHECKING:
    from ._org import OrgClient

__all__ = ["PolytomicClient", "API_VERSION", "OnRetry"]

API_VERSION = "2025-09-18"  # pinned; the version the current SDK and TF provider v3 send

OnRetry = Callable[[int, str, float], object]
"""``on_retry(attempt, reason, delay)``: attempt is the 1-based number that just failed."""

_REPEAT_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class PolytomicClient:
    """Async client for the Polytomic API; use ``async with`` or call `aclose`."""

    def __init__(
        self,
        settings: ApiSettings,
        *,
        max_concurrency: int = 10,
        retry: RetryPolicy = RetryPolicy(),
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        on_retry: OnRetry | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rand: Callable[[float, float], float] = random.uniform,
    ) -> None:
        require_credentials(settings)  # fail before anything is built
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.settings = settings
        self.retry = retry
        self.max_concurrency = max_concurrency
        self._sleep = sleep
        self._on_retry = on_retry
        self._clock = clock
        self._wall_clock = wall_clock
        self._rand = rand
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._gate = BackoffGate(clock, sleep)
        self._org_lock = asyncio.Lock()
        self._org_checked: dict[str, str | None] = {}  # org -> actual org of the key
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            headers={
                "X-Polytomic-Version": API_VERSION,
                "User-Agent": f"polyctl/{polyctl.__version__}",
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
            # The pool is at least as large as the semaphore so that a request that got a
            # slot never waits for a connection; idle keep-alives are reused by the next.
            limits=httpx.Limits(
                max_connections=max_concurrency,
                max_keepalive_connections=max_concurrency,
                keepalive_expiry=30.0,
            ),
            verify=True,
            follow_redirects=True,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"PolytomicClient({self.settings!r}, max_concurrency={self.max_concurrency})"

    def for_organization(self, organization_id: str | None) -> OrgClient:
        """Operations for one organization (or none), sharing this client's pool and limit."""
        from ._org import OrgClient

        return OrgClient(self, organization_id)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> PolytomicClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the request loop -------------------------------------------------------------

    async def send(
        self,
        method: str,
        path: str,
        *,
        credential: Credential,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Send one logical request, retrying transient failures; return the 2xx response.

        The same headers (and so the same Idempotency-Key) go out on every attempt.
        """
        headers = {"Authorization": credential.authorization}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        repeat_safe = method.upper() in _REPEAT_SAFE_METHODS or idempotency_key is not None
        secrets = secrets_in(json) if json is not None else []
        policy = self.retry
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            failure: httpx.HTTPError | None = None
            async with self._semaphore:
                await self._gate.wait()
                try:
                    response = await self._http.request(
                        method, path, params=params, json=json, headers=headers
                    )
                except httpx.HTTPError as exc:
                    failure = exc

            if response is not None:
                if response.is_success:
                    return response
                status = response.status_code
                retryable = should_retry_status(status, repeat_safe=repeat_safe)
                delay = 0.0
                if retryable:
                    delay = response_delay(
                        policy, attempt - 1, response.headers, self._wall_clock(), self._rand
                    )
                    if status == 429:
                        self._gate.hold(delay)
                if not retryable or not self._may_retry(attempt, started, delay):
                    raise error_from_response(
                        response,
                        credential_source=credential.source,
                        secrets=secrets,
                        # "gave up after N" only when this answer is what N tries led to
                        attempts=attempt if retryable else 1,
                    )
                reason = f"{method} {path}: HTTP {status} {response.reason_phrase}".rstrip()
            else:
                assert failure is not None
                request = _request_of(failure, self._http, method, path)
                retryable = isinstance(failure, httpx.TransportError) and should_retry_exception(
                    failure, repeat_safe=repeat_safe
                )
                delay = backoff_delay(policy, attempt - 1, self._rand) if retryable else 0.0
                if not retryable or not self._may_retry(attempt, started, delay):
                    tries = attempt if retryable else 1
                    raise network_error(failure, request, attempts=tries) from failure
                reason = f"{method} {path}: {type(failure).__name__}"

            if self._on_retry is not None:
                self._on_retry(attempt, reason, delay)
            await self._sleep(delay)

    def _may_retry(self, attempt: int, started: float, delay: float) -> bool:
        if attempt >= self.retry.max_attempts:
            return False
        return (self._clock() - started) + delay <= self.retry.max_total

    # -- organization identity check ----------------------------------------------------

    async def check_organization(self, organization_id: str, credential: Credential) -> None:
        """Refuse an API key that belongs to another organization; one GET per org per run."""
        async with self._org_lock:
            if organization_id not in self._org_checked:
                response = await self.send("GET", "/api/me", credential=credential)
                me = decode_data(response)
                actual = me.get("organization_id") if isinstance(me, Mapping) else None
                self._org_checked[organization_id] = str(actual) if actual else None
        actual = self._org_checked[organization_id]
        if actual is None or actual.strip().lower() != organization_id.strip().lower():
            raise OrganizationMismatchError(
                f"{credential.source} belongs to organization {actual or '(unknown)'}, "
                f"not {organization_id}; use a key of that organization, or a partner key"
            )


def _request_of(exc: httpx.HTTPError, http: httpx.AsyncClient, method: str, path: str) -> httpx.Request:
    try:
        return exc.request
    except RuntimeError:  # raised before a request object existed
        return http.build_request(method, path)


def decode_json(response: httpx.Response) -> Any:
    """The response body as JSON; empty bodies are None; anything else is an error."""
    if not response.content.strip():
        return None
    try:
        return loads_json(response.content)
    except ValueError as exc:
        raise PolytomicError(
            "the API answered with something that is not JSON",
            status=response.status_code,
            method=response.request.method,
            url=safe_url(response.request),
        ) from exc


def decode_data(response: httpx.Response) -> Any:
    """The ``data`` of the success envelope, tolerating a bare body."""
    body = decode_json(response)
    if isinstance(body, Mapping) and "data" in body:
        return body["data"]
    return body
