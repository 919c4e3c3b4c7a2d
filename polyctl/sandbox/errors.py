"""API errors of the sandbox: one exception type that already knows its wire form.

Handlers raise `ApiError` anywhere; the HTTP layer turns it into the contract's error
body `{"status": N, "message": ..., "key"?: ..., "metadata"?: {...}}` (contract §4.2).
Raising inside a write transaction also rolls that transaction back, which is what
keeps a failed request free of side effects (and therefore safe to re-run).
"""

from __future__ import annotations

import json
from typing import Any


class ApiError(Exception):
    """An error answered to the client with `status` and the contract's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        key: str | None = None,
        metadata: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.key = key
        self.metadata = metadata
        self.headers = headers or {}

    def body(self) -> bytes:
        doc: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.key:
            doc["key"] = self.key
        if self.metadata is not None:
            doc["metadata"] = self.metadata
        return json.dumps(doc, separators=(",", ":")).encode()


def bad_request(message: str, **kw: Any) -> ApiError:
    return ApiError(400, message, key=kw.pop("key", "bad_request"), **kw)


def not_found(what: str) -> ApiError:
    # The contract's example 404 body has no `key`; keep it exactly that small.
    return ApiError(404, f"{what} not found")


UNAUTHORIZED_MESSAGE = "invalid or unknown API key"
