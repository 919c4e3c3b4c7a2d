"""Styled lines without rich: what every renderer produces, what `Output` prints.

A `Line` is a list of (text, style) segments. Printing it plainly (pipes, CI logs,
`NO_COLOR`) is a string join; only a colour terminal turns it into a `rich.text.Text`.
This keeps a 10,000-resource plan from paying rich's per-segment rendering, and keeps
rich out of the import path of commands that never colour anything.
"""

from __future__ import annotations

from typing import Any


class Line:
    __slots__ = ("segments",)

    def __init__(self, text: str = "", style: str = "") -> None:
        self.segments: list[tuple[str, str]] = [(text, style)] if text else []

    @classmethod
    def of(cls, segments: list[tuple[str, str]]) -> "Line":
        """A line made of these segments, taken as they are."""
        line = cls.__new__(cls)
        line.segments = segments
        return line

    @classmethod
    def assemble(cls, *parts: "tuple[str, str] | str") -> "Line":
        line = cls()
        for part in parts:
            if isinstance(part, tuple):
                line.append(*part)
            else:
                line.append(part)
        return line

    def append(self, text: str, style: str = "") -> "Line":
        if text:
            self.segments.append((text, style))
        return self

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.segments)

    def to_text(self) -> Any:
        from rich.text import Text

        return Text.assemble(*((t, s) if s else t for t, s in self.segments))

    def __str__(self) -> str:
        return self.plain

    def __repr__(self) -> str:
        return f"Line({self.plain!r})"
