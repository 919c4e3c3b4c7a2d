"""Which Authorization header a request carries, exactly as the official tools choose it.

Contract §2: an API key is sent as ``Bearer <key>`` and wins over everything else. A
partner key (which wins over a deployment key) acts on one organization through
``Basic base64("<org-id>:<key>")``; without an organization it is only good for
partner-level calls, sent as ``Bearer <key>``. An API key with an explicit organization
must be checked against ``GET /api/me`` before use (done by `OrgClient`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from ._errors import ConfigurationError, NoCredentialsError
from ._settings import ENV_API_KEY, ENV_DEPLOYMENT_KEY, ENV_PARTNER_KEY, ApiSettings

__all__ = ["Credential", "resolve_credential", "require_credentials", "basic_auth"]

@dataclass(frozen=True)
class Credential:
    """The credential one OrgClient uses. ``repr`` hides the header value."""

    authorization: str
    source: str  # the environment variable it came from, for error hints
    check_organization: bool  # API key + explicit org: GET /api/me must agree first
    org_scoped: bool  # False: a partner/deployment key without org, partner calls only

    def __repr__(self) -> str:
        return (
            f"Credential(source={self.source!r}, check_organization={self.check_organization}, "
            f"org_scoped={self.org_scoped})"
        )

    def require_org_scope(self, operation: str) -> None:
        if not self.org_scoped:
            raise ConfigurationError(
                f"{operation} needs an organization: {self.source} acts on one organization "
                "at a time, so give the connection an `organization:` (its UUID), "
                f"or use {ENV_API_KEY} instead"
            )


def basic_auth(organization_id: str, key: str) -> str:
    """``Basic base64("<org-id>:<key>")`` with both parts trimmed, as the provider does."""
    token = f"{organization_id.strip()}:{key.strip()}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")


def require_credentials(settings: ApiSettings) -> None:
    if not settings.has_credentials:
        raise NoCredentialsError()


def resolve_credential(settings: ApiSettings, organization_id: str | None) -> Credential:
    require_credentials(settings)
    org = (organization_id or "").strip() or None
    if settings.api_key:
        return Credential(
            authorization=f"Bearer {settings.api_key}",
            source=ENV_API_KEY,
            check_organization=org is not None,
            org_scoped=True,
        )
    if settings.partner_key:
        key, source = settings.partner_key, ENV_PARTNER_KEY
    else:
        key, source = settings.deployment_key or "", ENV_DEPLOYMENT_KEY
    if org is None:
        return Credential(
            authorization=f"Bearer {key}", source=source, check_organization=False, org_scoped=False
        )
    return Credential(
        authorization=basic_auth(org, key), source=source, check_organization=False, org_scoped=True
    )
