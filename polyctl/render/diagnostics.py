"""Diagnostics and error messages as a user reads them (Terraform's layout).

    Error: Unsupported attribute

      on specs/main.yaml:15:7, in connection.bad.configuration.urll

    An attribute named "urll" is not expected in configuration. Did you mean "url"?

Source lines are deliberately not echoed: a spec line may hold a literal secret and
these messages end up in CI logs.
"""

from __future__ import annotations

from typing import Iterable

from polyctl.render.lines import Line

from polyctl.diagnostics import Diagnostic, Severity


def render_diagnostic(d: Diagnostic) -> list[Line]:
    style = "bold red" if d.severity is Severity.ERROR else "bold yellow"
    label = "Error" if d.severity is Severity.ERROR else "Warning"
    lines = [Line.assemble((f"{label}: ", style), (d.summary, "bold"))]
    where = []
    if d.location:
        where.append(f"on {d.location}")
    if d.attribute:
        where.append(f"in {d.attribute}")
    if where:
        lines.append(Line(""))
        lines.append(Line("  " + ", ".join(where)))
    if d.detail:
        lines.append(Line(""))
        lines.append(Line(d.detail))
    lines.append(Line(""))
    return lines


def render_diagnostics(diags: Iterable[Diagnostic]) -> list[Line]:
    out: list[Line] = []
    for d in diags:
        out.extend(render_diagnostic(d))
    return out


def render_error(summary: str, detail: str = "") -> list[Line]:
    lines = [Line.assemble(("Error: ", "bold red"), (summary, "bold"))]
    if detail:
        lines += [Line(""), Line(detail)]
    lines.append(Line(""))
    return lines
