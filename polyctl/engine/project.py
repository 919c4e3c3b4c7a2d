"""A project run: settings, the specs it declares, the state backend it uses.

Commands in `polyctl.commands` ask a `Project` for validated specs and for the state;
the project raises `DiagnosticsError` when specs have errors and hands back warnings
to show. It owns no output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from polyctl.diagnostics import Diagnostics, DiagnosticsError
from polyctl.schema import TypeSchema
from polyctl.settings import Settings
from polyctl.spec.loader import load_specs
from polyctl.spec.model import SpecSet
from polyctl.state.backend import StateBackend
from polyctl.state.model import State


@dataclass
class Project:
    settings: Settings
    env: Mapping[str, str]
    schemas: dict[str, TypeSchema] | None = None
    warnings: Diagnostics = field(default_factory=Diagnostics)
    _backend: StateBackend | None = None

    def load_specs(self) -> SpecSet:
        specs, diags = load_specs(self.settings.specs_dir, env=self.env,
                                  display_root=self.settings.root, schemas=self.schemas)
        if diags.has_errors:
            raise DiagnosticsError(diags.sorted())
        self.warnings.extend(diags.warnings)
        return specs

    @property
    def backend(self) -> StateBackend:
        if self._backend is None:
            from polyctl.state import open_backend

            self._backend = open_backend(self.settings.state_location,
                                         workspace=self.settings.workspace)
        return self._backend

    def read_state(self) -> State:
        """The stored state, or a new empty one (not yet written) when there is none."""
        return self.backend.read() or State.new()
