"""Diagnostics: problems found in user input, collected and reported together.

A `Diagnostic` is data (severity, summary, detail, where); code that checks input
appends to a `Diagnostics` list instead of raising, so one run reports every problem.
Exceptions stay for I/O failures and bugs. `render/diagnostics.py` prints them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Iterator, Sequence

PathElement = str | int
AttrPath = tuple[PathElement, ...]


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def format_path(path: Iterable[PathElement]) -> str:
    """`("configuration", "headers", 0, "name")` → `configuration.headers[0].name`."""
    out = ""
    for element in path:
        if isinstance(element, int):
            out += f"[{element}]"
        elif out:
            out += f".{element}"
        else:
            out = str(element)
    return out


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    summary: str
    detail: str = ""
    location: Location | None = None
    address: str | None = None  # e.g. connection.example
    path: AttrPath = ()  # attribute path inside the resource

    @property
    def attribute(self) -> str:
        """`connection.example.configuration.url` style, or '' when not about an attribute."""
        parts = [self.address] if self.address else []
        if self.path:
            parts.append(format_path(self.path))
        return ".".join(parts)

    def to_json(self) -> dict:
        out: dict = {"severity": self.severity.value, "summary": self.summary, "detail": self.detail}
        if self.location:
            out["range"] = {
                "filename": self.location.file,
                "start": {"line": self.location.line, "column": self.location.column},
            }
        if self.attribute:
            out["attribute"] = self.attribute
        return out


@dataclass
class Diagnostics(Sequence[Diagnostic]):
    items: list[Diagnostic] = field(default_factory=list)

    def error(self, summary: str, detail: str = "", **where) -> None:
        self.items.append(Diagnostic(Severity.ERROR, summary, detail, **where))

    def warning(self, summary: str, detail: str = "", **where) -> None:
        self.items.append(Diagnostic(Severity.WARNING, summary, detail, **where))

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]

    def sorted(self) -> list[Diagnostic]:
        def key(d: Diagnostic):
            loc = d.location
            return (d.severity is not Severity.ERROR, loc.file if loc else "~",
                    loc.line if loc else 0, loc.column if loc else 0)

        return sorted(self.items, key=key)

    def __getitem__(self, index):  # type: ignore[override]
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' Did you mean "url"?' for a near miss, else ''."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' Did you mean "{matches[0]}"?' if matches else ""


class DiagnosticsError(Exception):
    """Raised at a boundary when collected diagnostics contain errors."""

    def __init__(self, diagnostics: Diagnostics | Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        first = self.diagnostics[0].summary if self.diagnostics else "invalid input"
        super().__init__(first)
