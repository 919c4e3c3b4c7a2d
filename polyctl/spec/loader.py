"""Load a specs directory: find files, parse, interpolate, validate, collect problems.

`load_specs` returns the desired connections and every diagnostic found across all
files, so a user sees all problems in one run. Nothing here touches the network,
the state or the terminal.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any, Mapping

from polyctl.diagnostics import AttrPath, Diagnostics, Location, did_you_mean, format_path
from polyctl.resource import Lifecycle
from polyctl.schema import SchemaSource, TypeSchema, UnknownTypeError, builtin, schema_for
from polyctl.schema.attributes import describe
from polyctl.spec.ahead import ParseAhead
from polyctl.spec.interpolate import InterpolationError, Interpolator
from polyctl.spec.model import ConnectionSpec, SpecSet, address_of
from polyctl.spec.yamlsource import SourceDoc, load_yaml

TOP_LEVEL_KEYS = ("connections",)
CONNECTION_KEYS = ("name", "type", "organization", "force_destroy", "lifecycle", "configuration")
LIFECYCLE_KEYS = ("prevent_destroy", "create_before_destroy", "ignore_changes")
IGNORABLE_ROOTS = ("name", "configuration")

_LOCAL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_TYPE_ID = re.compile(r"[A-Za-z0-9_.-]+\Z")


def find_spec_files(spec_dir: Path) -> list[Path]:
    files: list[Path] = []
    for root, dirs, names in os.walk(spec_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(Path(root) / n for n in names
                     if n.endswith((".yaml", ".yml")) and not n.startswith("."))
    return sorted(files, key=lambda p: p.relative_to(spec_dir).as_posix())


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def parse_ahead(spec_dir: Path, display_root: Path | None = None) -> ParseAhead | None:
    """Start parsing `spec_dir`'s files in a child process when they are large (see
    `polyctl.spec.ahead`); hand the result to `load_specs(ahead=…)`."""
    if not spec_dir.is_dir():
        return None
    root = display_root or Path.cwd()
    try:
        files = find_spec_files(spec_dir)
    except OSError:
        return None
    return ParseAhead.start([(path, _display(path, root)) for path in files])


def load_specs(
    spec_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    display_root: Path | None = None,
    schemas: SchemaSource | None = None,
    ahead: ParseAhead | None = None,
) -> tuple[SpecSet, Diagnostics]:
    """Every connection under `spec_dir`, and every problem found.

    `schemas` resolves connection types other than the built-in `api` (from the API's
    JSON Schemas); without it, other types accept any mapping. `ahead` holds files
    already parsed by `parse_ahead` (the rest are read here)."""
    parsed = ahead.take() if ahead is not None else {}
    diags = Diagnostics()
    root = display_root or Path.cwd()
    if not spec_dir.is_dir():
        diags.error("Specs directory not found",
                    f'"{_display(spec_dir, root)}" is not a directory. Create it or pass '
                    "--specs DIR.")
        return SpecSet({}), diags
    interpolator = Interpolator(env=os.environ if env is None else env)
    connections: dict[str, ConnectionSpec] = {}
    declared: dict[str, Location] = {}
    files = find_spec_files(spec_dir)
    docs = [(path, parsed.get(path) or load_yaml(path, _display(path, root), diags))
            for path in files]
    prefetch = getattr(schemas, "prefetch", None)
    if prefetch is not None:
        prefetch({t for _, doc in docs if doc is not None for t in _type_ids(doc)})
    for path, doc in docs:
        if doc is None:
            continue
        reader = _FileReader(doc, path.parent, interpolator, diags, schemas)
        for local_name, location, spec in reader.connections():
            address = address_of(local_name)
            if address in declared:
                diags.error(
                    f'Duplicate connection "{local_name}"',
                    f"{address} is also declared at {declared[address]}. Local names must "
                    "be unique across all spec files.",
                    location=location, address=address)
                continue
            declared[address] = location
            if spec is not None:
                connections[address] = spec
    return SpecSet(connections, tuple(_display(p, root) for p in files)), diags


def _type_ids(doc: SourceDoc) -> set[str]:
    blocks = doc.data.get("connections") if isinstance(doc.data, dict) else None
    if not isinstance(blocks, dict):
        return set()
    return {b["type"] for b in blocks.values() if isinstance(b, dict) and isinstance(b.get("type"), str)}


class _FileReader:
    """Turns one parsed file into ConnectionSpecs, reporting into shared diagnostics."""

    def __init__(self, doc: SourceDoc, base_dir: Path, interpolator: Interpolator,
                 diags: Diagnostics, schemas: SchemaSource | None) -> None:
        self.doc, self.base_dir, self.interpolator = doc, base_dir, interpolator
        self.diags, self.schemas = diags, schemas

    def error(self, path: AttrPath, summary: str, detail: str = "", *, key: bool = False,
              address: str | None = None, attr: AttrPath = ()) -> None:
        self.diags.error(summary, detail, location=self.doc.where(path, key=key),
                         address=address, path=attr)

    def connections(self) -> list[tuple[str, Location, ConnectionSpec | None]]:
        """(local name, where declared, the spec or None when invalid) per block."""
        data = self.doc.data
        if data is None:
            return []
        if not isinstance(data, dict):
            self.error((), "Invalid spec file",
                       f"Expected a mapping with a \"connections\" key, got {describe(data)}.")
            return []
        for key in data:
            if key not in TOP_LEVEL_KEYS and not key.startswith("x-"):
                self.error((key,), "Unsupported top-level key",
                           f'"{key}" is not expected at the top of a spec file.'
                           f"{did_you_mean(key, TOP_LEVEL_KEYS)} Expected \"connections\" "
                           '(keys starting with "x-" are free for YAML anchors).', key=True)
        blocks = data.get("connections")
        if blocks is None:
            return []
        if not isinstance(blocks, dict):
            self.error(("connections",), "Invalid connections block",
                       f"Expected a mapping of local names to connections, got "
                       f"{describe(blocks)}.")
            return []
        return [(local_name, self.doc.where(("connections", local_name), key=True),
                 self._connection(local_name, block))
                for local_name, block in blocks.items()]

    def _connection(self, local_name: str, block: Any) -> ConnectionSpec | None:
        base: AttrPath = ("connections", local_name)
        address = address_of(local_name)
        errors_before = len(self.diags.errors)
        if not _LOCAL_NAME.match(local_name):
            self.error(base, "Invalid local name",
                       f'"{local_name}" must start with a letter or underscore and contain '
                       "only letters, digits, underscores and dashes.", key=True)
        if not isinstance(block, dict):
            self.error(base, "Invalid connection block",
                       f"{address}: expected a mapping of attributes, got {describe(block)}.")
            return None

        def err(rel: AttrPath, summary: str, detail: str, *, key: bool = False) -> None:
            self.error(base + rel, summary, detail, key=key, address=address, attr=rel)

        for key in block:
            if key not in CONNECTION_KEYS:
                err((key,), "Unsupported attribute",
                    f'An attribute named "{key}" is not expected in a connection.'
                    f"{did_you_mean(key, CONNECTION_KEYS)} Expected one of: "
                    f"{', '.join(CONNECTION_KEYS)}.", key=True)
        name = self._string(block, "name", err, required=True)
        type_id = self._string(block, "type", err) or "api"
        if "type" in block and isinstance(block["type"], str) and not _TYPE_ID.match(type_id):
            err(("type",), "Invalid connection type",
                f'"{type_id}" is not a connection type id (such as api or postgresql).')
        organization = self._string(block, "organization", err)
        if organization is not None:
            try:
                uuid.UUID(organization)
            except ValueError:
                err(("organization",), "Invalid organization",
                    f"organization: expected an organization UUID, got {describe(organization)}.")
        force_destroy = self._bool(block, "force_destroy", (), err)
        schema = self._schema(type_id, err)
        if schema is None:
            return None
        lifecycle = self._lifecycle(block.get("lifecycle"), err, schema)
        configuration = self._configuration(block, base, address, schema, err)
        if len(self.diags.errors) > errors_before or name is None or configuration is None:
            return None
        return ConnectionSpec(
            local_name=local_name, name=name, type=type_id, configuration=configuration,
            organization=organization, force_destroy=bool(force_destroy),
            lifecycle=lifecycle, location=self.doc.where(base, key=True))

    def _schema(self, type_id: str, err) -> TypeSchema | None:
        """The type's schema; an open one when it cannot be known now; None if unknown."""
        schema = builtin(type_id)
        if schema is not None or self.schemas is None:
            return schema or schema_for(type_id)
        try:
            return self.schemas.lookup(type_id) or schema_for(type_id)
        except UnknownTypeError as exc:
            err(("type",), "Unknown connection type",
                f'"{type_id}" is not a Polytomic connection type.{exc.suggestion} '
                "Run 'polyctl types list' to see them all.")
            return None

    @staticmethod
    def _string(block: dict, key: str, err, *, required: bool = False) -> str | None:
        value = block.get(key)
        if value is None:
            if required:
                err((), "Missing required attribute",
                    f'A connection must set "{key}" (a string).', key=True)
            return None
        if not isinstance(value, str):
            hint = " Quote the value to make it a string." if isinstance(
                value, (int, float, bool)) else ""
            err((key,), "Incorrect attribute value type",
                f"{key}: expected a string, got {describe(value)}.{hint}")
            return None
        if "${" in value:
            err((key,), "Interpolation not allowed here",
                f"{key}: ${{…}} interpolation is only supported inside configuration.")
            return None
        if required and not value.strip():
            err((key,), "Invalid value", f"{key}: must not be empty.")
            return None
        return value

    @staticmethod
    def _bool(block: dict, key: str, rel: AttrPath, err) -> bool | None:
        value = block.get(key)
        if value is not None and not isinstance(value, bool):
            err(rel + (key,), "Incorrect attribute value type",
                f"{format_path(rel + (key,))}: expected true or false, got {describe(value)}.")
            return None
        return value

    def _lifecycle(self, value: Any, err, schema: TypeSchema) -> Lifecycle:
        if value is None:
            return Lifecycle()
        if not isinstance(value, dict):
            err(("lifecycle",), "Incorrect attribute value type",
                f"lifecycle: expected a mapping, got {describe(value)}.")
            return Lifecycle()
        for key in value:
            if key not in LIFECYCLE_KEYS:
                err(("lifecycle", key), "Unsupported attribute",
                    f'"{key}" is not expected in lifecycle.{did_you_mean(key, LIFECYCLE_KEYS)}'
                    f" Expected one of: {', '.join(LIFECYCLE_KEYS)}.", key=True)
        rel = ("lifecycle",)
        return Lifecycle(
            prevent_destroy=bool(self._bool(value, "prevent_destroy", rel, err)),
            create_before_destroy=bool(self._bool(value, "create_before_destroy", rel, err)),
            ignore_changes=self._ignore_changes(value.get("ignore_changes"), err, schema),
        )

    def _ignore_changes(self, value: Any, err, schema: TypeSchema) -> tuple[str, ...]:
        rel = ("lifecycle", "ignore_changes")
        if value is None:
            return ()
        if value == "all":
            return ("all",)
        if not isinstance(value, list):
            err(rel, "Incorrect attribute value type",
                'lifecycle.ignore_changes: expected a list of attribute paths or "all", got '
                f"{describe(value)}.")
            return ()
        out: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                err(rel + (i,), "Incorrect attribute value type",
                    f"lifecycle.ignore_changes[{i}]: expected an attribute path such as "
                    f"configuration.headers, got {describe(item)}.")
                continue
            parts = tuple(item.split("."))
            if parts[0] not in IGNORABLE_ROOTS or (parts[0] == "name" and len(parts) > 1):
                err(rel + (i,), "Invalid ignore_changes path",
                    f'"{item}" cannot be ignored.{did_you_mean(parts[0], IGNORABLE_ROOTS)} '
                    "Expected name or configuration.<path>.")
                continue
            if parts[0] == "configuration" and len(parts) > 1 and schema.known \
                    and not schema.has_path(parts[1:]):
                err(rel + (i,), "Invalid ignore_changes path",
                    f'"{item}" is not an attribute of connection type "{schema.type_id}".'
                    f"{did_you_mean(item, _all_paths(schema))}")
                continue
            out.append(item)
        return tuple(out)

    def _configuration(self, block: dict, base: AttrPath, address: str,
                       schema: TypeSchema, err) -> dict | None:
        value = block.get("configuration")
        if value is None:
            err((), "Missing required attribute",
                'A connection must set "configuration" (a mapping).', key=True)
            return None
        if not isinstance(value, dict):
            err(("configuration",), "Incorrect attribute value type",
                f"configuration: expected a mapping, got {describe(value)}.")
            return None
        expanded = self._interpolate(value, base + ("configuration",), address)
        reporter = _Reporter(self, base, address)
        return schema.validate(expanded, ("configuration",), reporter)

    def _interpolate(self, value: Any, path: AttrPath, address: str) -> Any:
        if isinstance(value, str):
            try:
                return self.interpolator.expand(value, self.base_dir)
            except InterpolationError as exc:
                self.diags.error(exc.summary, exc.detail, location=self.doc.where(path),
                                 address=address, path=path[2:])
                return value
        if isinstance(value, dict):
            return {k: self._interpolate(v, path + (k,), address) for k, v in value.items()}
        if isinstance(value, list):
            return [self._interpolate(v, path + (i,), address) for i, v in enumerate(value)]
        return value


class _Reporter:
    """Adapts schema validation errors (paths inside a connection) to located diagnostics."""

    def __init__(self, reader: _FileReader, base: AttrPath, address: str) -> None:
        self.reader, self.base, self.address = reader, base, address

    def error(self, path: AttrPath, summary: str, detail: str, *, key: bool = False) -> None:
        self.reader.error(self.base + path, summary, detail, key=key, address=self.address,
                          attr=path)


def _all_paths(schema: TypeSchema) -> list[str]:
    out: list[str] = []

    def walk(attr, prefix: str) -> None:
        for name, sub in attr.fields.items():
            out.append(f"{prefix}.{name}")
            if sub.kind == "object":
                walk(sub, f"{prefix}.{name}")

    walk(schema.configuration, "configuration")
    return out
