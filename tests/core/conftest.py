"""Fixtures for the core tests (specs → validation → plan → state, through the CLI).

Helpers live in `core_helpers.py` (this folder is put on sys.path so the tests can
`import core_helpers`); the CLI runners come from the shared `tests/conftest.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `import core_helpers`
