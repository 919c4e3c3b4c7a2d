"""A project run: settings, the specs it declares, the state backend it uses.

Commands in `polyctl.commands` ask a `Project` for validated specs and its state backend;
the project raises `DiagnosticsError` when specs have errors and hands back warnings
to show. It owns no output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from polyctl.diagnostics import Diagnostics, DiagnosticsError
from polyctl.schema import SchemaSource, TypeSchema
from polyctl.settings import Settings
from polyctl.spec.ahead import ParseAhead
from polyctl.spec.loader import load_specs, parse_ahead
from polyctl.spec.model import SpecSet
from polyctl.state.backend import StateBackend


@dataclass
class Project:
    settings: Settings
    env: Mapping[str, str]
    schema_source: SchemaSource | None = None  # the API's type schemas (SchemaRegistry)
    warnings: Diagnostics = field(default_factory=Diagnostics)
    _backend: StateBackend | None = None
    _specs: SpecSet | None = None
    _ahead: ParseAhead | None = None

    @property
    def schemas(self) -> dict[str, TypeSchema] | None:
        """Schemas resolved so far (for planning and refresh), by type id."""
        return getattr(self.schema_source, "resolved", None)

    def schema(self, type_id: str) -> TypeSchema:
        """The best schema known for a type (an open one when none can be had)."""
        from polyctl.schema import UnknownTypeError, schema_for

        if self.schema_source is not None:
            try:
                found = self.schema_source.lookup(type_id)
            except UnknownTypeError:
                found = None
            if found is not None:
                return found
        return schema_for(type_id)

    def load_specs(self) -> SpecSet:
        """The validated specs, loaded on the first call (their warnings kept in
        `warnings`); a command that asks again — recovery, then planning — gets the
        same set, not a second read of every file."""
        if self._specs is None:
            ahead, self._ahead = self._ahead, None
            specs, diags = load_specs(self.settings.specs_dir, env=self.env,
                                      display_root=self.settings.root,
                                      schemas=self.schema_source, ahead=ahead)
            for type_id, why in sorted(getattr(self.schema_source, "unchecked", {}).items()):
                diags.warning(f'Connection type "{type_id}" not checked',
                              f"Its configuration was not validated: {why}.")
            if diags.has_errors:
                raise DiagnosticsError(diags.sorted())
            self.warnings.extend(diags.warnings)
            self._specs = specs
        return self._specs

    def parse_specs_ahead(self) -> bool:
        """Start parsing large spec sets in a child process while the caller does other
        work (reading state, refreshing); `load_specs` collects it. False when the
        specs are already loaded or will be read in place."""
        if self._specs is None and self._ahead is None:
            self._ahead = parse_ahead(self.settings.specs_dir, self.settings.root)
        return self._ahead is not None

    def cancel_parse_ahead(self) -> None:
        if self._ahead is not None:
            ahead, self._ahead = self._ahead, None
            ahead.cancel()

    @property
    def backend(self) -> StateBackend:
        if self._backend is None:
            from polyctl.state import open_backend

            self._backend = open_backend(self.settings.state_location,
                                         workspace=self.settings.workspace)
        return self._backend
