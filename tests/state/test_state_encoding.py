"""The state's stored form: orjson's fast path writes json's indented layout, json writes
what orjson refuses, a secret never reaches a file, and NaN is refused on the way in."""

from __future__ import annotations

import json

import pytest

from polyctl.state import CorruptStateError, ResourceState, State, dumps, loads
from polyctl.state import model
from polyctl.values import Digest, Secret

SALT = "5a17" * 8


def _state(configuration: dict) -> State:
    resources = {
        "connection.b": ResourceState(id="id-b", type="api", name="Zürich → Ōsaka ✓",
                                      configuration=configuration, organization_id="org-1",
                                      force_destroy=False),
        "connection.a": ResourceState(id="id-a", type="postgresql", name="A",
                                      configuration={}, organization="org-2"),
    }
    return State(lineage="lin-1", serial=3, digest_salt=SALT).with_resources(resources)


CONFIGURATION = {
    "url": "https://example.com/ä",
    "auth": {"basic": {"username": "u", "password": Digest("sha256:" + "ab" * 32)}},
    "headers": [{"name": "X-A", "value": Digest("sha256:" + "cd" * 32)},
                {"name": "X-B", "value": "plain"}],
    "port": 5432, "ratio": 0.25, "big": -(2 ** 63), "tls": True, "none": None,
    "empty_list": [], "empty_object": {},
}


def test_the_fast_path_writes_json_s_indented_layout(monkeypatch):
    def not_this_way(data):
        raise AssertionError("plain JSON data must not need the json fallback")

    monkeypatch.setattr(model, "_dumps_chunked", not_this_way)
    state = _state(CONFIGURATION)
    written = dumps(state)

    assert written == (json.dumps(state.to_json(), indent=2, ensure_ascii=False)
                       + "\n").encode()
    assert loads(written) == state
    assert b'"password": {\n              "$sensitive": "sha256:abab' in written
    assert "Zürich → Ōsaka ✓".encode() in written  # UTF-8 as is


def test_a_float_may_be_spelled_differently_but_reads_back_the_same():
    state = _state(dict(CONFIGURATION, small=1e-05, tiny=1e-07, big=1e16, negative_zero=-0.0))
    assert loads(dumps(state)) == state


@pytest.mark.parametrize("odd", [{"huge": 2 ** 70}, {"name": "bad \ud800 surrogate"}],
                         ids=["integer beyond 64 bits", "lone surrogate"])
def test_what_orjson_refuses_is_written_by_json(odd):
    state = _state(dict(CONFIGURATION, **odd))
    written = dumps(state)

    assert written == (json.dumps(state.to_json(), indent=2) + "\n").encode()
    assert loads(written) == state


@pytest.mark.parametrize("where", ["leaf", "list", "nested"])
def test_a_secret_is_never_written(where):
    secret = Secret("hunter2-never-on-disk")
    configuration = {"leaf": {"password": secret}, "list": {"values": ["a", secret]},
                     "nested": {"a": {"b": [{"c": secret}]}}}[where]

    with pytest.raises(TypeError) as caught:
        dumps(_state(configuration))
    assert "hunter2" not in str(caught.value)


def test_only_a_digest_is_encoded_from_the_held_configuration():
    # a dataclass orjson would encode field by field must not pass for plain data
    with pytest.raises(TypeError):
        model._digest_only(Secret("x"))
    assert model._digest_only(Digest("sha256:00")) == {"$sensitive": "sha256:00"}
    with pytest.raises(TypeError):
        dumps(_state({"when": ResourceState(id="x", type="api", name="n",
                                            configuration={})}))


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_or_infinity_in_a_state_file_is_refused(constant):
    raw = dumps(_state({"timeout": 1.5})).replace(b'"timeout": 1.5', b'"timeout": ' + constant)
    with pytest.raises(CorruptStateError, match="is not valid JSON"):
        loads(raw, source="polyctl.state.json")
