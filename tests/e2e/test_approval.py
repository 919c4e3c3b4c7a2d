"""`apply` asks for `yes`; anything else cancels (exit 1, nothing changed)."""

from __future__ import annotations

import pytest

from e2e_helpers import Org, Polyctl, api_connection, delta, writes

PROMPT = "Only 'yes' will be accepted to approve."


@pytest.fixture
def planned(pc: Polyctl) -> Polyctl:
    pc.specs({"a": {"name": "A", "configuration": api_connection("https://a.example.com")}})
    return pc


def test_yes_applies(planned: Polyctl, org: Org) -> None:
    result = planned("apply", stdin="yes\n")
    assert result.code == 0, result.output
    assert PROMPT in result.stdout
    assert "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." in result.stdout
    assert org.names() == ["A"]


@pytest.mark.parametrize("answer", ["no\n", "y\n", "YES\n", "yes please\n", "\n", ""],
                         ids=["no", "y", "YES", "yes-please", "empty", "eof"])
def test_anything_else_cancels(planned: Polyctl, org: Org, sandbox, answer: str) -> None:
    before = sandbox.stats()
    result = planned("apply", stdin=answer)
    assert result.code == 1
    assert PROMPT in result.stdout
    assert "Apply cancelled." in result.output
    assert "Apply complete" not in result.output
    assert writes(delta(before, sandbox.stats())) == 0
    assert org.connections() == []
    assert planned.resources() == {}


def test_cancelled_update_and_destroy_change_nothing(planned: Polyctl, org: Org, sandbox) -> None:
    planned.apply()
    state = planned.state()
    planned.specs({"a": {"name": "A2", "configuration": api_connection("https://a.example.com")}})
    before = sandbox.stats()
    assert planned("apply", stdin="no\n").code == 1
    destroy = planned("destroy", stdin="nope\n")
    assert destroy.code == 1
    assert "Destroy cancelled." in destroy.output
    assert writes(delta(before, sandbox.stats())) == 0
    assert org.names() == ["A"]
    assert planned.state() == state


def test_auto_approve_does_not_ask(planned: Polyctl, org: Org) -> None:
    result = planned("apply", "--auto-approve")
    assert result.code == 0, result.output
    assert PROMPT not in result.output and "Enter a value" not in result.output
    assert org.names() == ["A"]
