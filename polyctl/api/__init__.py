"""The Polytomic API client: the only code in polyctl that speaks HTTP to Polytomic.

Typical use (one client per run, one `OrgClient` per organization)::

    settings = ApiSettings.from_env()
    async with PolytomicClient(settings, max_concurrency=10) as client:
        org = client.for_organization(spec_org_or_none)
        await org.verify_organization()
        created = await org.create_connection(name=..., type="api", configuration={...},
                                              idempotency_key=key_recorded_in_state)

Everything else in the package is private; the errors are drawn as a tree in
``polyctl/api/_errors.py``. Importing this package pulls in httpx and nothing heavier.
"""

from ._client import API_VERSION, PolytomicClient
from ._errors import (
    ConfigurationError,
    ConnectionInUseError,
    ForbiddenError,
    NetworkError,
    NoCredentialsError,
    NotFoundError,
    OrganizationMismatchError,
    PolytomicError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    ValidationError,
)
from ._org import OrgClient
from ._settings import DEFAULT_BASE_URL, ApiSettings, RetryPolicy
from ._values import Dependent, generate_idempotency_key, is_masked

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "ApiSettings",
    "RetryPolicy",
    "PolytomicClient",
    "OrgClient",
    "Dependent",
    "generate_idempotency_key",
    "is_masked",
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
