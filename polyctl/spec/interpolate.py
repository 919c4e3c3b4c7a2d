"""`${env:NAME}` and `${file:path}` interpolation in spec strings.

`$${` writes a literal `${`. Any string that interpolates at least one value becomes a
`Secret` as a whole (a header "Bearer ${env:TOKEN}" is as secret as the token). Files
are read relative to the spec file that names them, as UTF-8, with one trailing
newline removed (what `echo token > file` adds). An unset variable, an unreadable file
or a malformed `${…}` is a located error — never a literal string sent to Polytomic.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from polyctl.values import Secret

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class InterpolationError(ValueError):
    def __init__(self, summary: str, detail: str) -> None:
        super().__init__(summary)
        self.summary, self.detail = summary, detail


@dataclass
class Interpolator:
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _files: dict[Path, str] = field(default_factory=dict)

    def expand(self, text: str, base_dir: Path) -> str | Secret:
        """Expand `text`; a Secret if anything was interpolated. Raises InterpolationError."""
        if "$" not in text:
            return text
        out: list[str] = []
        secret = False
        pos = 0
        for match in _TOKEN.finditer(text):
            out.append(text[pos:match.start()])
            pos = match.end()
            token = match.group(0)
            if token == "$${":
                out.append("${")
                continue
            if match.group(1) is None:
                raise InterpolationError(
                    "Unterminated interpolation",
                    'A "${" has no closing "}". Write "$${" for a literal "${".',
                )
            out.append(self._resolve(match.group(1).strip(), base_dir))
            secret = True
        out.append(text[pos:])
        value = "".join(out)
        return Secret(value) if secret else value

    def _resolve(self, expr: str, base_dir: Path) -> str:
        kind, sep, arg = expr.partition(":")
        kind = kind.strip()
        arg = arg.strip()
        if kind == "env" and sep:
            if not _ENV_NAME.match(arg):
                raise InterpolationError(
                    "Invalid environment variable name",
                    f'"{arg}" is not a valid variable name (letters, digits and _, '
                    "not starting with a digit).",
                )
            if arg not in self.env:
                raise InterpolationError(
                    "Unset environment variable",
                    f'The environment variable "{arg}" is not set. Set it before running '
                    "polyctl (an empty value counts as set).",
                )
            return self.env[arg]
        if kind == "file" and sep:
            if not arg:
                raise InterpolationError("Missing file path", 'Write "${file:relative/path}".')
            return self._read_file(base_dir / arg, arg)
        raise InterpolationError(
            "Unknown interpolation",
            f'"${{{expr}}}" is not understood. Expected "${{env:NAME}}" or '
            '"${file:relative/path}"; write "$${" for a literal "${".',
        )

    def _read_file(self, path: Path, shown: str) -> str:
        path = path.resolve()
        if path not in self._files:
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise InterpolationError("File not found", f'"{shown}" does not exist '
                                         f"(paths are relative to the spec file).") from None
            except IsADirectoryError:
                raise InterpolationError("Not a file", f'"{shown}" is a directory.') from None
            except UnicodeDecodeError:
                raise InterpolationError("File is not UTF-8 text", f'"{shown}" cannot be '
                                         "read as UTF-8 text.") from None
            except OSError as exc:
                raise InterpolationError("Cannot read file",
                                         f'"{shown}": {exc.strerror or exc}.') from None
            if text.endswith("\r\n"):
                text = text[:-2]
            elif text.endswith("\n"):
                text = text[:-1]
            self._files[path] = text
        return self._files[path]
