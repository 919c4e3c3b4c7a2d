"""The errors `polyctl.api` raises, and the translation of HTTP failures into them.

Nothing from httpx escapes this package: a transport failure becomes `NetworkError`
(``raise … from exc`` keeps the cause for ``--debug``), an error response becomes the
class its status says. The tree::

    PolytomicError                 status, message, key, metadata, method, url
    ├── NoCredentialsError         no POLYTOMIC_* credential at all (mentions --sandbox)
    ├── ConfigurationError         settings that cannot work (e.g. partner key, no org)
    ├── OrganizationMismatchError  API key belongs to another organization than asked
    ├── UnauthorizedError          401 — names the variable that supplied the credential
    ├── ForbiddenError             403
    ├── NotFoundError              404
    ├── ValidationError            400, and 422 other than "connection in use"
    │   └── ConnectionInUseError   422 "connection in use"; .used_by: list[Dependent]
    ├── RateLimitedError           429, still after every retry
    ├── ServerError                5xx, still after every retry (or not retryable)
    └── NetworkError               connect/read/protocol failures after every retry

Other statuses (408 after retries, 409, …) are a plain `PolytomicError`.

Messages carry the server's words and the method and path, never a request body or a
key. As a second line of defence, secret-looking values of the request body are
scrubbed from whatever text the server sends back, since a server may echo input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from ._values import Dependent

__all__ = [
    "PolytomicError",
    "NoCredentialsError",
    "ConfigurationError",
    "OrganizationMismatchError",
    "UnauthorizedError",
    "ForbiddenError",
    "NotFoundError",
    "ValidationError",
    "ConnectionInUseError",
    "RateLimitedError",
    "ServerError",
    "NetworkError",
]

_MAX_TEXT = 500


class PolytomicError(Exception):
    """Base of every error raised by `polyctl.api`."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        key: str | None = None,
        metadata: Any = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.key = key
        self.metadata = metadata
        self.method = method
        self.url = url

    def _where(self) -> str:
        parts = []
        if self.method and self.url:
            parts.append(f"{self.method} {httpx.URL(self.url).path}")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        return ": ".join(parts)

    def __str__(self) -> str:
        where = self._where()
        return f"{self.message} ({where})" if where else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
            f"method={self.method!r}, url={self.url!r})"
        )


NO_CREDENTIALS_MESSAGE = (
    "no Polytomic credentials: set POLYTOMIC_API_KEY, or POLYTOMIC_PARTNER_KEY or "
    "POLYTOMIC_DEPLOYMENT_KEY together with an organization; or run with --sandbox to use "
    "a local sandbox that needs no account"
)


class NoCredentialsError(PolytomicError):
    """No API, partner or deployment key was configured (the message says what to set)."""

    def __init__(self, message: str = NO_CREDENTIALS_MESSAGE, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class ConfigurationError(PolytomicError):
    """The settings cannot work as given (for example a partner key without an org)."""


class OrganizationMismatchError(PolytomicError):
    """The API key belongs to a different organization than the one requested."""


class UnauthorizedError(PolytomicError):
    """401: the credential was rejected."""


class ForbiddenError(PolytomicError):
    """403: the credential is valid but may not do this."""


class NotFoundError(PolytomicError):
    """404: no such object (for a delete the caller may read it as "already gone")."""


class ValidationError(PolytomicError):
    """400 or 422: the server refused the request's content; the message says why."""


class ConnectionInUseError(ValidationError):
    """422 "connection in use": other objects depend on the connection."""

    def __init__(self, message: str, *, used_by: list[Dependent] | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.used_by: list[Dependent] = list(used_by or [])


class RateLimitedError(PolytomicError):
    """429 that persisted through every retry."""


class ServerError(PolytomicError):
    """5xx that persisted through every retry (or could not safely be retried)."""


class NetworkError(PolytomicError):
    """The request could not be completed at the transport level."""


# ---------------------------------------------------------------------------------------
# Translation


def secrets_in(body: Any) -> list[str]:
    """String leaves of a request body that look secret, for scrubbing echoed text.

    A leaf counts when its key, or any key above it, names a credential; the API type's
    ``auth.header.value`` is covered by the ``auth`` ancestor. Short values are skipped:
    scrubbing "on" or "1" from a message would only garble it.
    """
    found: list[str] = []

    def walk(node: Any, hot: bool) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                name = str(k).lower()
                if isinstance(v, str):
                    if (hot or _SECRET_KEY.search(name)) and name not in _PLAIN_KEYS and len(v) >= 4:
                        found.append(v)
                else:
                    walk(v, hot or bool(_SECRET_KEY.search(name)))
        elif isinstance(node, list):
            for v in node:
                walk(v, hot)

    walk(body, False)
    return sorted(set(found), key=len, reverse=True)


_SECRET_KEY = re.compile(r"pass|secret|token|key|credential|private|cert|auth")
_PLAIN_KEYS = frozenset({"name", "type"})


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _parse_error_body(response: httpx.Response) -> tuple[str | None, str | None, Any]:
    """(message, key, metadata) from any known error shape, or the raw text."""
    raw = response.content.decode("utf-8", errors="replace")
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        return (_shorten(raw) or None), None, None
    if not isinstance(body, dict):
        return (_shorten(body) if isinstance(body, str) and body else None), None, None
    message = body.get("message")
    legacy = body.get("error")  # {"error": {"message": ...}} from the 2023 API
    if not message and isinstance(legacy, Mapping):
        message = legacy.get("message")
    elif not message and isinstance(legacy, str):
        message = legacy
    key = body.get("key")
    return (
        _shorten(str(message)) if message else None,
        str(key) if key else None,
        body.get("metadata"),
    )


def used_by_from(metadata: Any) -> list[Dependent]:
    """`metadata.used_by` as dependents; metadata may be an object or (legacy) an array."""
    entries: list[Any] = []
    if isinstance(metadata, Mapping):
        entries = metadata.get("used_by") or []
    elif isinstance(metadata, list):
        for item in metadata:
            if isinstance(item, Mapping) and isinstance(item.get("used_by"), list):
                entries.extend(item["used_by"])
    return [Dependent.from_mapping(e) for e in entries if isinstance(e, Mapping)]


def safe_url(request: httpx.Request) -> str:
    # Userinfo in a base URL is a credential; it never goes into an error.
    return str(request.url.copy_with(username=None, password=None))


def error_from_response(
    response: httpx.Response,
    *,
    credential_source: str | None = None,
    secrets: Iterable[str] = (),
    attempts: int = 1,
) -> PolytomicError:
    """The typed error for a non-2xx response (the caller has finished retrying)."""
    status = response.status_code
    message, key, metadata = _parse_error_body(response)
    message = scrub(message or f"HTTP {status} {response.reason_phrase}".strip(), secrets)
    if attempts > 1:
        message = f"{message} (gave up after {attempts} attempts)"
    context = dict(
        status=status,
        key=key,
        metadata=metadata,
        method=response.request.method,
        url=safe_url(response.request),
    )
    if status == 401:
        hint = f"check {credential_source}" if credential_source else "check the credential"
        return UnauthorizedError(f"{message}; the credential was rejected — {hint}", **context)
    if status == 403:
        source = f" from {credential_source}" if credential_source else ""
        return ForbiddenError(f"{message}; the credential{source} may not do this", **context)
    if status == 404:
        return NotFoundError(message, **context)
    if status == 422:
        used_by = used_by_from(metadata)
        if used_by or "connection in use" in message.lower():
            if used_by:
                message = f"{message}: used by " + ", ".join(str(d) for d in used_by)
            return ConnectionInUseError(message, used_by=used_by, **context)
        return ValidationError(message, **context)
    if status == 400:
        return ValidationError(message, **context)
    if status == 429:
        return RateLimitedError(message, **context)
    if status >= 500:
        return ServerError(message, **context)
    return PolytomicError(message, **context)


def network_error(exc: httpx.HTTPError, request: httpx.Request, *, attempts: int = 1) -> NetworkError:
    """Describe a transport failure without leaking the request."""
    kinds = {
        httpx.ConnectTimeout: "timed out connecting",
        httpx.ConnectError: "could not connect",
        httpx.ReadTimeout: "timed out waiting for the response",
        httpx.WriteTimeout: "timed out sending the request",
        httpx.PoolTimeout: "timed out waiting for a free connection",
        httpx.RemoteProtocolError: "the server dropped the connection",
        httpx.ReadError: "the connection failed while reading",
        httpx.WriteError: "the connection failed while sending",
    }
    what = next((text for cls, text in kinds.items() if isinstance(exc, cls)), "network failure")
    detail = str(exc).strip()
    message = f"{what} to {request.url.host}" + (f": {_shorten(detail)}" if detail else "")
    if attempts > 1:
        message = f"{message} (gave up after {attempts} attempts)"
    return NetworkError(message, method=request.method, url=safe_url(request))
