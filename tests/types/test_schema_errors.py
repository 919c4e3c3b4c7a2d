"""Every type's configuration is checked against its own schema: a wrong enum value, a
wrong JSON type, an unknown key (a near miss of a real one), a read-only field and a
secret of the wrong type are each rejected with a located message — file:line:column
of the offending value (or key), the attribute path, the allowed values, "Did you
mean" — and no secret is quoted. All cases live in one broken spec set, validated once
(see conftest.py); each case is written from a scaffold that validates, so the one
mistake is the only one."""

from __future__ import annotations

import pytest
from types_helpers import TYPE_IDS, Case, broken_cases, diagnostics

# which kinds of mistake each type can have follows from its schema alone
CASES = [(t, case.kind) for t in TYPE_IDS for case, _ in broken_cases(t, {})]


@pytest.fixture(scope="module")
def broken(every_type) -> tuple[dict[tuple[str, str], Case], list[dict], str, int]:
    cases = {(c["type_id"], c["kind"]): Case(**{**c, "path": tuple(c["path"]),
                                                "fragments": tuple(c["fragments"]),
                                                "absent": tuple(c["absent"])})
             for c in every_type["cases"]}
    run = every_type["runs"]["broken"]
    output = run["stdout"] + run["stderr"]
    return cases, diagnostics(output), output, run["code"]


def test_every_kind_of_mistake_is_covered() -> None:
    kinds = {}
    for t, kind in CASES:
        kinds.setdefault(kind, set()).add(t)
    assert kinds["type"] == kinds["key"] == set(TYPE_IDS)
    assert len(kinds["enum"]) == 47  # every type with a settable enum (53 enums in all)
    assert {"s3", "gcs", "azureblob"} <= kinds["enum"]  # enums of list items, too
    assert len(kinds["readonly"]) > 50 and len(kinds["secret_type"]) > 150


def test_the_broken_set_fails_and_reports_every_case(broken) -> None:
    cases, found, _, code = broken
    assert code == 1
    assert len(cases) == len(CASES)
    assert len(found) >= len(cases)


@pytest.mark.parametrize(("type_id", "kind"), CASES, ids=[f"{t}-{k}" for t, k in CASES])
def test_mistake_is_located_and_explained(broken, type_id: str, kind: str) -> None:
    cases, found, output, _ = broken
    case = cases[(type_id, kind)]
    mine = [d for d in found if d["attribute"] == case.attribute
            or (d["attribute"] or "").startswith(case.attribute + ".")]
    assert mine, f"no diagnostic for {case.attribute}"
    [d] = [d for d in mine if d["summary"] == case.summary]
    assert (d["file"], d["line"], d["column"]) == ("broken/broken.yaml", case.line, case.column), d
    for fragment in case.fragments:
        assert fragment in d["detail"], (fragment, d["detail"])
    # the one mistake is the only problem of this connection
    others = [x for x in found if (x["attribute"] or "").startswith(case.address + ".")
              and not (x["attribute"] == case.attribute
                       or x["attribute"].startswith(case.attribute + "[")
                       or x["attribute"].startswith(case.attribute + "."))]
    assert not others, others
    for secret in case.absent:
        assert secret not in output
