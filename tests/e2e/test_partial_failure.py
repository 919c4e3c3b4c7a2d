"""One failed operation never stops the others: every error is listed with the API's
message, the state keeps everything that succeeded, and the exit code is 1."""

from __future__ import annotations

from e2e_helpers import Org, Polyctl, api_connection


def _conn(name: str, url: str) -> dict:
    return {"name": name, "configuration": api_connection(url)}


def test_failures_are_listed_and_the_rest_is_kept(pc: Polyctl, org: Org) -> None:
    pc.specs({"a": _conn("A", "https://a.example.com"), "b": _conn("B", "https://b.example.com"),
              "c": _conn("C", "https://c.example.com")})
    pc.apply()
    ids = pc.ids()
    model = org.model("Uses C", ids["connection.c"])

    pc.specs({"a": _conn("A", "https://a.example.com/v2"), "b": _conn("B", "https://b.example.com/v2"),
              "e": _conn("E", "https://e.example.com"), "f": _conn("F", "https://f.example.com")})
    assert pc("plan", "--out", "p.json").code == 0
    # between plan and apply, B is deleted outside polyctl: its PUT will answer 404
    org.sdk.connections.delete(ids["connection.b"])

    result = pc("apply", "p.json")
    assert result.code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert [e.split(":")[1].strip() for e in errors] == ["connection.b (update)",
                                                         "connection.c (delete)"]
    assert "not found" in errors[0].lower()
    assert f'Connection is used by model "Uses C" ({model["id"]})' in result.stderr
    assert "Apply incomplete. Resources: 2 added, 1 changed, 0 destroyed. 2 operation(s) failed." \
        in result.stdout

    live = org.by_name()
    assert sorted(live) == ["A", "C", "E", "F"]
    assert live["A"]["configuration"]["url"] == "https://a.example.com/v2"
    state = pc.resources()
    assert set(state) == {"connection.a", "connection.b", "connection.c", "connection.e",
                          "connection.f"}
    assert state["connection.a"]["configuration"]["url"] == "https://a.example.com/v2"
    assert state["connection.e"]["id"] == live["E"]["id"]
    assert state["connection.f"]["id"] == live["F"]["id"]
    assert state["connection.b"]["configuration"]["url"] == "https://b.example.com"  # not applied
    assert state["connection.c"]["id"] == ids["connection.c"]
    assert not (pc.root / "polyctl.state.json.journal").exists() or pc.journal() == []

    # the next run re-creates B (deleted outside) and still cannot delete C
    assert pc.actions() == {"connection.b": "create", "connection.c": "delete"}
    again = pc("apply", "--auto-approve")
    assert again.code == 1
    assert sorted(org.names()) == ["A", "B", "C", "E", "F"]
    org.http.delete(f"/api/models/{model['id']}")
    pc.apply()
    assert sorted(org.names()) == ["A", "B", "E", "F"]
    pc.assert_no_changes()


def test_rejected_requests_fail_only_their_operation(pc: Polyctl, org: Org, sandbox) -> None:
    """Every request answers 429 until the retries run out: both creates fail, each is
    listed, and a state-only change in the same run is still recorded."""
    pc.specs({"a": _conn("A", "https://a.example.com")})
    pc.apply()
    pc.specs({"a": {**_conn("A", "https://a.example.com"), "force_destroy": True},
              "n1": _conn("N1", "https://n1.example.com"),
              "n2": _conn("N2", "https://n2.example.com")})
    sandbox.set_faults(throttle_rate=1.0, retry_after=0.01, seed=7)
    result = pc("apply", "--auto-approve", "--no-refresh")
    sandbox.set_faults(throttle_rate=0)
    assert result.code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert [e.split(":")[1].strip() for e in errors] == ["connection.n1 (create)",
                                                         "connection.n2 (create)"]
    assert all("too many requests" in e and "HTTP 429" in e for e in errors), errors
    assert "Resources: 0 added, 1 changed, 0 destroyed. 2 operation(s) failed." in result.stdout
    assert org.names() == ["A"]
    assert set(pc.resources()) == {"connection.a"}
    assert pc.resources()["connection.a"]["force_destroy"] is True
    pc.apply()
    assert sorted(org.names()) == ["A", "N1", "N2"]
    pc.assert_no_changes()
