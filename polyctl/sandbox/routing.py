"""Requests, replies and the route table, independent of the HTTP server underneath.

A handler is a plain function `(app, request, db) -> Reply`. Its `Route` says whether
it writes (then it runs inside one SQLite transaction, with Idempotency-Key handling)
and who may call it (`ORG`: an organization's credential; `PARTNER`: a partner key;
`ANY`: any valid credential). Paths match with or without a trailing slash.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from .auth import Principal
from .errors import ApiError, bad_request

ORG, PARTNER, ANY = "org", "partner", "any"
JSON_SEPARATORS = (",", ":")
DELETED = b'""'  # what the official mocks answer to a successful DELETE


@dataclass
class Request:
    method: str
    path: str
    raw_query: str
    headers: Any  # email.message.Message from http.server: case-insensitive .get()
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    principal: Principal | None = None
    _json: Any = None

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.raw_query, keep_blank_values=True)

    def query_one(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or a 400 that says what is wrong with it."""
        if self._json is None:
            if not self.body.strip():
                raise bad_request("request body must be a JSON object")
            try:
                self._json = json.loads(self.body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise bad_request(f"invalid JSON body: {exc}") from exc
        if not isinstance(self._json, dict):
            raise bad_request("request body must be a JSON object")
        return self._json

    @property
    def org_id(self) -> str:
        assert self.principal is not None and self.principal.organization_id is not None
        return self.principal.organization_id


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def envelope(data: Any, status: int = 200, **siblings: Any) -> Reply:
    """`{"data": …}` plus siblings such as `pagination`, encoded once."""
    return Reply(status, json.dumps({"data": data, **siblings}, separators=JSON_SEPARATORS).encode())


def error_reply(err: ApiError) -> Reply:
    return Reply(err.status, err.body(), dict(err.headers))


Handler = Callable[[Any, Request, Any], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    write: bool
    scope: str
    pattern: re.Pattern[str]

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, *, write: bool = False, scope: str = ORG) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self._routes.append(Route(method, template, handler, write, scope, re.compile(f"^{regex}$")))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """`(route, path params, allowed methods)`; route None: 404 if no methods allowed, else 405.

        Literal segments win over `{params}` because literal routes are added first.
        """
        path = path.rstrip("/") or "/"
        allowed: list[str] = []
        matched_template: str | None = None
        for route in self._routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            if matched_template is not None and route.template != matched_template:
                continue  # a more specific template already claimed this path
            matched_template = route.template
            if route.method == method:
                return route, {k: unquote(v) for k, v in m.groupdict().items()}, []
            allowed.append(route.method)
        return None, {}, allowed
