"""The run's environment: streams, TTY, colour, environment variables, project root.

Like httpie's `Environment`, one object holds everything a command may print to or
read from, so tests run the real `main()` with fake streams and a fake environment.
Colour only on a TTY, never with `--no-color` or `NO_COLOR`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterable, Mapping

if TYPE_CHECKING:  # rich is imported when output is first built: --help stays fast
    from rich.console import Console
    from rich.text import Text


@dataclass
class Environment:
    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = field(default_factory=Path.cwd)

    def is_tty(self, stream: IO[str]) -> bool:
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False


class Output:
    """Printing for commands: text lines to stdout/stderr, colour decided once."""

    def __init__(self, env: Environment, *, no_color: bool = False) -> None:
        color = not no_color and "NO_COLOR" not in env.environ
        self.color_out = color and env.is_tty(env.stdout)
        self.color_err = color and env.is_tty(env.stderr)
        self.env = env
        self._out: "Console | None" = None
        self._err: "Console | None" = None

    @property
    def out(self) -> "Console":
        if self._out is None:
            self._out = self._console(self.env.stdout, self.color_out)
        return self._out

    @property
    def err(self) -> "Console":
        if self._err is None:
            self._err = self._console(self.env.stderr, self.color_err)
        return self._err

    @staticmethod
    def _console(stream: IO[str], color: bool) -> "Console":
        from rich.console import Console

        return Console(file=stream, no_color=not color, color_system="auto" if color else None,
                       force_terminal=color, highlight=False, emoji=False, markup=False,
                       soft_wrap=True, width=10_000 if not color else None)

    def print(self, *lines: "Text | str", err: bool = False) -> None:
        if not (self.color_err if err else self.color_out):
            # plain output (pipes, CI logs, NO_COLOR): no styling to render, write it as is —
            # rich's per-line rendering would dominate a 10,000-connection plan
            stream = self.env.stderr if err else self.env.stdout
            stream.write("".join(f"{getattr(line, 'plain', line)}\n" for line in lines))
            stream.flush()
            return
        console = self.err if err else self.out
        for line in lines:
            to_text = getattr(line, "to_text", None)
            console.print(to_text() if to_text else line, soft_wrap=True)

    def lines(self, lines: "Iterable[Text | str]", *, err: bool = False) -> None:
        self.print(*lines, err=err)

    def raw(self, text: str, *, err: bool = False) -> None:
        """Write text exactly (JSON output): no styling, no wrapping."""
        stream = self.env.stderr if err else self.env.stdout
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()

    def ask(self, prompt: "Text | str") -> str:
        self.print(prompt)
        line = self.env.stdin.readline()
        if not line:
            return ""
        return line.strip()

