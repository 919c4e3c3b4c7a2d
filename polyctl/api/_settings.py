"""Settings value objects for the API client: where to connect, with what, how to retry.

`ApiSettings` is what the environment says (base URL and the three credential variables
of the official tools); `RetryPolicy` is how hard to try. Both are frozen so one run
cannot change them half-way, and neither ever prints a key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ApiSettings", "RetryPolicy", "DEFAULT_BASE_URL", "normalize_base_url"]

DEFAULT_BASE_URL = "https://app.polytomic.com"

# Environment variable names are the official Terraform provider's (contract §1–§2).
ENV_DEPLOYMENT_URL = "POLYTOMIC_DEPLOYMENT_URL"
ENV_API_KEY = "POLYTOMIC_API_KEY"
ENV_PARTNER_KEY = "POLYTOMIC_PARTNER_KEY"
ENV_DEPLOYMENT_KEY = "POLYTOMIC_DEPLOYMENT_KEY"


def normalize_base_url(value: str | None) -> str:
    """Apply the provider's deployment-URL rule.

    Empty means the default; a value that does not start with ``http`` (any case) gets
    ``https://``; trailing slashes go, so joining ``/api/...`` never doubles them. A path
    prefix is kept (self-hosted deployments behind a sub-path).
    """
    text = (value or "").strip()
    if not text:
        return DEFAULT_BASE_URL
    if not text.lower().startswith("http"):
        text = "https://" + text
    return text.rstrip("/")


def _clean_secret(value: str | None) -> str | None:
    # A key pasted from a file often ends in a newline; an empty variable means "unset".
    if value is None:
        return None
    value = value.strip()
    return value or None


@dataclass(frozen=True)
class ApiSettings:
    """Connection settings for one run. Build it with `from_env` or directly."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = None
    partner_key: str | None = None
    deployment_key: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        for name in ("api_key", "partner_key", "deployment_key"):
            object.__setattr__(self, name, _clean_secret(getattr(self, name)))
        if not self.timeout > 0:
            raise ValueError(f"timeout must be positive, got {self.timeout!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ApiSettings:
        """Read the official variables; unset or blank ones fall back to the defaults."""
        return cls(
            base_url=normalize_base_url(env.get(ENV_DEPLOYMENT_URL)),
            api_key=env.get(ENV_API_KEY),
            partner_key=env.get(ENV_PARTNER_KEY),
            deployment_key=env.get(ENV_DEPLOYMENT_KEY),
        )

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key or self.partner_key or self.deployment_key)

    def __repr__(self) -> str:
        # Keys are reported as present or absent only: settings end up in logs and
        # tracebacks, and a key there is a leaked key.
        def shown(value: str | None) -> str:
            return "'***'" if value else "None"

        return (
            f"ApiSettings(base_url={self.base_url!r}, api_key={shown(self.api_key)}, "
            f"partner_key={shown(self.partner_key)}, "
            f"deployment_key={shown(self.deployment_key)}, timeout={self.timeout!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to retry a transient failure.

    ``max_attempts`` counts the first try. ``base_delay × 2^n`` (n = retries so far),
    multiplied by a random factor drawn from ``jitter``, is the fallback delay when the
    server gives no hint; every delay is capped at ``max_delay``; a retry whose wait would
    end later than ``max_total`` seconds after the first attempt started is not made.
    The defaults mirror the official Python SDK's delay rules with more attempts.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_total: float = 300.0
    jitter: tuple[float, float] = field(default=(0.9, 1.1))

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total < 0:
            raise ValueError("delays must not be negative")
        low, high = self.jitter
        if not 0 <= low <= high:
            raise ValueError(f"jitter must be (low, high) with 0 <= low <= high, got {self.jitter!r}")
        object.__setattr__(self, "jitter", (float(low), float(high)))

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries (one attempt)."""
        return cls(max_attempts=1)
