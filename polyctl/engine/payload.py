"""Building API request bodies from a plan, putting the secrets back.

A plan holds digests, never secrets. To send a configuration, every digest in the
planned `after` is replaced by the secret from the *current* specs that has the same
digest. No match means the secret changed (or its spec went away) since the plan was
made: the plan is stale and nothing is sent. Secrets at `ignore_changes` paths keep
the prior digest in the plan; for those the spec's current secret at the same path is
sent (a full-replacement PUT must carry some value, and the spec's is the only one
polyctl knows).
"""

from __future__ import annotations

from typing import Any, Iterator

from polyctl.diagnostics import format_path
from polyctl.spec.model import SpecSet
from polyctl.values import Digest, Secret, conceal, digest_of, reveal


class StalePlanError(Exception):
    pass


def _pairs(concealed: Any, original: Any) -> Iterator[tuple[Digest, Secret]]:
    if isinstance(original, Secret) and isinstance(concealed, Digest):
        yield concealed, original
    elif isinstance(original, dict) and isinstance(concealed, dict):
        for key, value in original.items():
            yield from _pairs(concealed.get(key), value)
    elif isinstance(original, list) and isinstance(concealed, list):
        for c, o in zip(concealed, original):
            yield from _pairs(c, o)


class SecretSource:
    """Secrets of the current specs, findable by digest (with the state's salt)."""

    def __init__(self, specs: SpecSet, salt: str) -> None:
        self.specs = specs
        self.salt = salt
        self.by_digest: dict[str, Secret] = {}
        for spec in specs.connections.values():
            for digest, secret in _pairs(conceal(spec.configuration, salt), spec.configuration):
                self.by_digest[digest.value] = secret

    def configuration(self, address: str, planned: dict[str, Any],
                      ignored: tuple[str, ...] = ()) -> dict[str, Any]:
        """The planned configuration with real secrets, ready to send."""
        spec = self.specs.connections.get(address)
        fallback = spec.configuration if spec is not None else {}
        return reveal(self._fill(planned, fallback, (), address, ignored))

    def _fill(self, value: Any, fallback: Any, path: tuple, address: str,
              ignored: tuple[str, ...]) -> Any:
        if isinstance(value, Digest):
            secret = self.by_digest.get(value.value)
            if secret is not None:
                return secret
            dotted = "configuration." + format_path(path)
            if isinstance(fallback, Secret) and any(
                    dotted == i or dotted.startswith(i + ".") or i == "all" for i in ignored):
                return fallback
            raise StalePlanError(
                f"the sensitive value at {address}.{dotted} is not the one the plan was made "
                "with (it changed, or its spec or environment variable is gone)")
        if isinstance(value, dict):
            fb = fallback if isinstance(fallback, dict) else {}
            return {k: self._fill(v, fb.get(k), path + (k,), address, ignored)
                    for k, v in value.items()}
        if isinstance(value, list):
            fb = fallback if isinstance(fallback, list) else []
            return [self._fill(v, _same_element(v, fb), path + (i,), address, ignored)
                    for i, v in enumerate(value)]
        return value


def _same_element(planned: Any, candidates: list) -> Any:
    """The spec element a planned set element came from (matched by its `name`)."""
    if isinstance(planned, dict) and "name" in planned:
        for candidate in candidates:
            if isinstance(candidate, dict) and candidate.get("name") == planned["name"]:
                return candidate
    return None


def request_body(secrets: SecretSource, address: str, after: dict[str, Any]) -> dict[str, Any]:
    """The create/update body for a planned `after` record, secrets filled in."""
    ignored = tuple((after.get("lifecycle") or {}).get("ignore_changes") or ())
    return {"name": after["name"], "type": after["type"],
            "configuration": secrets.configuration(address, after["configuration"], ignored),
            "organization_id": after.get("organization")}


def request_digest(payload: dict[str, Any], salt: str) -> str:
    """A secret-safe fingerprint of a request body (to reuse an Idempotency-Key safely)."""
    return digest_of(payload, salt).value
