"""The `api` connection type: the seed's `polytomic_api_connection` schema, exactly.

Source: the official Terraform provider's resource docs (`shared/seed/…`) plus the
fields the current API added (`auth.query`, `auth.oauth.scopes`,
`auth.oauth.auth_style`). `password`, `client_secret` and `auth.header.value` are
sensitive.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from polyctl.schema.attributes import Attribute


def _http_url(value: str) -> str | None:
    try:
        parts = urlsplit(value)
    except ValueError:
        return "an http:// or https:// URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "an http:// or https:// URL, such as https://api.example.com"
    return None


def _json_text(value: str) -> str | None:
    try:
        json.loads(value)
    except ValueError as exc:
        return f"valid JSON text ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    return None


def _name_value() -> Attribute:
    return Attribute("object", fields={
        "name": Attribute("string", required=True),
        "value": Attribute("string", required=True),
    })


def _set_of_name_values(description: str) -> Attribute:
    return Attribute("set", item=_name_value(), description=description)


API_CONFIGURATION = Attribute("object", fields={
    "url": Attribute("string", required=True, check=_http_url, title="Base URL",
                     examples=("https://example.com",)),
    "auth": Attribute("object", description="Authentication method", fields={
        "basic": Attribute("object", description="Basic authentication", fields={
            "username": Attribute("string"),
            "password": Attribute("string", sensitive=True),
        }),
        "header": Attribute("object", description="Header key", fields={
            "name": Attribute("string", required=True),
            "value": Attribute("string", required=True, sensitive=True),
        }),
        "oauth": Attribute("object", description="OAuth client credentials", fields={
            "client_id": Attribute("string"),
            "client_secret": Attribute("string", sensitive=True),
            "token_endpoint": Attribute("string"),
            "extra_form_data": _set_of_name_values("Extra form data"),
            "scopes": Attribute("set", item=Attribute("string"), description="Scopes"),
            "auth_style": Attribute("integer", description="Auth style"),
        }),
        "query": _set_of_name_values("Query string authentication parameters"),
    }),
    "body": Attribute("string", check=_json_text, description="JSON payload"),
    "headers": _set_of_name_values("Headers"),
    "healthcheck": Attribute("string", description="Health check endpoint"),
    "parameters": _set_of_name_values("Query string parameters"),
})
