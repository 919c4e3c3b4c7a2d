"""What the connection-type tests share: the contract's 226 schemas read independently of
polyctl, scaffold expectations, secret values, a YAML writer that knows where it put
each value, the broken spec set, and a parser for polyctl's printed diagnostics.

The schema reading here follows the contract (../shared/contract/polytomic-api.md §6),
not polyctl's code: a field is server-owned when `readOnly`/`readonly`, or `hidden`
without `api_field`; sensitive when `sensitive` or `password`.
"""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import sys
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

_ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
root = sys.modules.get("_polyctl_root_conftest")
if root is None:
    _spec = importlib.util.spec_from_file_location("_polyctl_root_conftest", _ROOT_CONFTEST)
    assert _spec is not None and _spec.loader is not None
    root = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = root
    _spec.loader.exec_module(root)

Result = root.Result
invoke, write, base_env = root.invoke, root.write, root.base_env
CONNECTION_TYPES: Path = root.CONNECTION_TYPES

INDEX: list[dict[str, Any]] = json.loads((CONNECTION_TYPES / "_index.json").read_text())
TYPE_IDS: list[str] = [e["id"] for e in INDEX]
NAMES: dict[str, str] = {e["id"]: e["name"] for e in INDEX}
PLAN_FILE = "every-type.plan"
ENV_REF = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")


# -- the contract's schemas -------------------------------------------------------------


@lru_cache(maxsize=None)
def _schema_text(type_id: str) -> str:
    return (CONNECTION_TYPES / f"{type_id}.json").read_text(encoding="utf-8")


def schema(type_id: str) -> dict[str, Any]:
    return json.loads(_schema_text(type_id))


def server_owned(node: dict[str, Any]) -> bool:
    return bool(node.get("readOnly") or node.get("readonly")
                or (node.get("hidden") and not node.get("api_field")))


def sensitive(node: dict[str, Any]) -> bool:
    return bool(node.get("sensitive") or node.get("password"))


def settable(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in (node.get("properties") or {}).items()
            if isinstance(v, dict) and not server_owned(v)}


def required_settable(node: dict[str, Any]) -> list[str]:
    props = settable(node)
    return [k for k in node.get("required") or () if k in props]


def json_type(node: dict[str, Any]) -> str | None:
    t = node.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    return t


def enum_values(node: dict[str, Any]) -> list[Any]:
    return [e["value"] if isinstance(e, dict) and "value" in e else e for e in node["enum"]]


def local_name(type_id: str) -> str:
    """The local name `types scaffold ID` uses by default."""
    return re.sub(r"[^a-z0-9_]", "_", f"my_{type_id}".lower())


def display_name(type_id: str) -> str:
    return f"My {type_id}"


# -- scaffolds --------------------------------------------------------------------------


def scaffold_block(text: str, type_id: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert list(data) == ["connections"], text
    assert list(data["connections"]) == [local_name(type_id)], text
    return data["connections"][local_name(type_id)]


def expected_keys(node: dict[str, Any], *, top: bool) -> set[str]:
    """The keys a scaffold writes uncommented in an object: its required settable ones;
    a required nested object that requires nothing gets all its fields."""
    required = set(required_settable(node))
    if required or top:
        return required
    return set(settable(node))


def env_refs(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path, variable) of every `${env:VAR}` string in a configuration."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from env_refs(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from env_refs(v, path + (i,))
    elif isinstance(value, str):
        m = ENV_REF.match(value)
        if m:
            yield path, m.group(1)


def node_at(node: dict[str, Any], path: tuple) -> dict[str, Any]:
    for part in path:
        node = node["items"] if isinstance(part, int) else node["properties"][part]
    return node


def secret_value(type_id: str, var: str, kind: str | None) -> str:
    """A value nothing else prints: unique per variable; digits for number-typed secrets."""
    digest = hashlib.sha256(f"{type_id}/{var}".encode()).hexdigest()
    if kind in ("integer", "number"):
        return str(10**11 + int(digest[:12], 16) % 9 * 10**10 + int(digest[12:20], 16) % 10**10)
    return f"sv-{digest[:16]}-{type_id[:8]}"


def secrets_for(type_id: str, configuration: dict[str, Any]) -> dict[str, str]:
    """Environment values for every placeholder of a configuration, typed by the schema."""
    raw = schema(type_id)
    return {var: secret_value(type_id, var, json_type(node_at(raw, path)))
            for path, var in env_refs(configuration)}


# -- writing YAML whose positions are known ---------------------------------------------


class SpecWriter:
    """Writes connections in block YAML, one key per line (lists in flow style),
    remembering the 1-based (line, column) of every key and value it writes."""

    def __init__(self) -> None:
        self.lines = ["connections:"]
        self.values: dict[tuple, tuple[int, int]] = {}
        self.keys: dict[tuple, tuple[int, int]] = {}

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def connection(self, local: str, type_id: str, name: str, configuration: Any) -> None:
        self.lines += [f"  {local}:", f"    name: {json.dumps(name)}", f"    type: {type_id}"]
        base = (local, "configuration")
        if isinstance(configuration, dict) and configuration:
            self.lines.append("    configuration:")
            self._mapping(configuration, 6, base)
        else:
            self.lines.append(f"    configuration: {json.dumps(configuration)}")
            self.values[base] = (len(self.lines), len("    configuration: ") + 1)

    def _mapping(self, mapping: dict[str, Any], indent: int, path: tuple) -> None:
        pad = " " * indent
        for key, value in mapping.items():
            here = path + (key,)
            self.keys[here] = (len(self.lines) + 1, indent + 1)
            if isinstance(value, dict) and value:
                self.lines.append(f"{pad}{key}:")
                self._mapping(value, indent + 2, here)
            else:  # a list in flow style: `key: ["a", "b"]`, its first item just after "["
                self.lines.append(f"{pad}{key}: {json.dumps(value)}")
                self.values[here] = (len(self.lines), indent + len(key) + 3)
                if isinstance(value, list) and value:
                    self.values[here + (0,)] = (len(self.lines), indent + len(key) + 4)


# -- the broken spec set ----------------------------------------------------------------

BAD_ENUM = "not-a-listed-choice"
BAD_NUMBER = "not-a-number"


@dataclass(frozen=True)
class Case:
    """One deliberately wrong connection and what polyctl must say about it."""

    type_id: str
    kind: str  # enum | type | key | readonly | secret_type
    local: str
    path: tuple  # inside configuration; the offending key or value
    at_key: bool
    summary: str
    fragments: tuple[str, ...]  # must all appear in the message's detail
    absent: tuple[str, ...] = ()  # must not appear anywhere in the output
    line: int = 0
    column: int = 0

    @property
    def address(self) -> str:
        return f"connection.{self.local}"

    @property
    def attribute(self) -> str:
        parts = "configuration"
        for p in self.path:
            parts += f"[{p}]" if isinstance(p, int) else f".{p}"
        return f"{self.address}.{parts}"


def _near_miss(key: str, candidates: set[str], taken: set[str]) -> str | None:
    """A typo of `key` whose closest candidate is `key` itself."""
    tries = []
    if len(key) >= 4:
        mid = len(key) // 2
        tries.append(key[:mid] + key[mid + 1] + key[mid] + key[mid + 2:])  # swapped letters
        tries.append(key[:mid] + key[mid + 1:])  # a letter dropped
    tries.append(key + "s" if not key.endswith("s") else key[:-1])
    for typo in tries:
        if typo != key and typo not in taken and \
                difflib.get_close_matches(typo, sorted(candidates), n=1, cutoff=0.6) == [key]:
            return typo
    return None


def _wrong_type_for(node: dict[str, Any]) -> tuple[Any, str] | None:
    kind = json_type(node)
    return {"integer": (BAD_NUMBER, "a whole number"), "number": (BAD_NUMBER, "a number"),
            "string": ([1, 2], "a string"), "boolean": ("yes please", "true or false"),
            "array": ("a-single-string", "a list"), "object": ("a-single-string", "a mapping"),
            }.get(kind or "")


def _plain_value(node: dict[str, Any]) -> Any:
    kind = json_type(node)
    return {"integer": 7, "number": 7, "boolean": True, "array": [], "object": {}}.get(kind, "x")


def broken_cases(type_id: str, base: dict[str, Any]) -> list[tuple[Case, dict[str, Any]]]:
    """Each wrong configuration derived from a valid one (`base`), and its expectation."""
    raw = schema(type_id)
    props = settable(raw)
    every = set(raw.get("properties") or {})
    out: list[tuple[Case, dict[str, Any]]] = []
    short = re.sub(r"[^a-z0-9_]", "_", type_id.lower())

    def with_(path: tuple, value: Any) -> dict[str, Any]:
        config = json.loads(json.dumps(base))
        config[path[0]] = value
        return config

    enums = [(k, v) for k, v in props.items() if "enum" in v]
    enums += [(k, v["items"]) for k, v in props.items()
              if json_type(v) == "array" and isinstance(v.get("items"), dict) and "enum" in v["items"]]
    if enums:
        key, node = enums[0]
        in_list = node is not props[key]
        allowed = tuple(json.dumps(v) for v in enum_values(node))
        out.append((Case(type_id, "enum", f"bad_enum_{short}", (key, 0) if in_list else (key,),
                         False, "Invalid value",
                         ("expected one of " + ", ".join(allowed), f'got string "{BAD_ENUM}"')),
                    with_((key,), [BAD_ENUM] if in_list else BAD_ENUM)))

    typed = [(k, v) for k, v in props.items() if not sensitive(v) and "enum" not in v
             and _wrong_type_for(v)]
    typed.sort(key=lambda kv: json_type(kv[1]) not in ("integer", "number"))
    if typed:
        key, node = typed[0]
        wrong, words = _wrong_type_for(node)
        got = f"string {json.dumps(wrong)}" if isinstance(wrong, str) else "a list"
        out.append((Case(type_id, "type", f"bad_type_{short}", (key,), False,
                         "Incorrect attribute value type", (f"expected {words}, got {got}",)),
                    with_((key,), wrong)))
    else:  # nothing settable: the configuration itself has the wrong type
        out.append((Case(type_id, "type", f"bad_type_{short}", (), False,
                         "Incorrect attribute value type",
                         ("configuration: expected a mapping, got a list",)),
                    [1, 2]))  # type: ignore[arg-type]

    key_case = None
    for key in sorted(props, key=lambda k: (-len(k), k)):
        typo = _near_miss(key, set(props), every)
        if typo:
            key_case = (Case(type_id, "key", f"bad_key_{short}", (typo,), True,
                             "Unsupported attribute",
                             (f'An attribute named "{typo}"', f'Did you mean "{key}"?')
                             # api is built in (the seed's schema), the others the API's
                             + (() if type_id == "api" else (f'connection type "{type_id}"',))),
                        {**base, typo: _plain_value(props[key])})
            break
    if key_case is None:  # nothing settable to be near: still rejected, without a guess
        typo = "no_such_setting"
        key_case = (Case(type_id, "key", f"bad_key_{short}", (typo,), True,
                         "Unsupported attribute", (f'An attribute named "{typo}"',)),
                    {**base, typo: "x"})
    out.append(key_case)

    owned = [(k, v) for k, v in (raw.get("properties") or {}).items()
             if isinstance(v, dict) and server_owned(v)]
    if owned:
        key, node = owned[0]
        out.append((Case(type_id, "readonly", f"bad_readonly_{short}", (key,), True,
                         "Read-only attribute", (f'"{key}" is set by Polytomic',)),
                    {**base, key: _plain_value(node)}))

    secrets = [(k, v) for k, v in props.items() if sensitive(v) and json_type(v) == "string"]
    if secrets:
        key, _ = secrets[0]
        leak = f"leak-{hashlib.sha256(type_id.encode()).hexdigest()[:12]}"
        out.append((Case(type_id, "secret_type", f"bad_secret_{short}", (key,), False,
                         "Incorrect attribute value type",
                         ("expected a string, got a sensitive value",), absent=(leak,)),
                    with_((key,), [leak])))
    return out


def write_broken(path: Path, bases: dict[str, dict[str, Any]]) -> list[Case]:
    """One spec file of every broken case of every type; the cases with their positions."""
    writer = SpecWriter()
    cases: list[Case] = []
    for type_id, base in bases.items():
        for case, config in broken_cases(type_id, base):
            writer.connection(case.local, type_id, f"Broken {type_id} {case.kind}", config)
            where = (case.local, "configuration") + case.path
            line, column = (writer.keys if case.at_key else writer.values)[where]
            cases.append(Case(**{**asdict(case), "line": line, "column": column}))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(writer.text, encoding="utf-8")
    return cases


# -- reading polyctl's diagnostics -----------------------------------------------------

_DIAGNOSTIC = re.compile(
    r"^(?P<severity>Error|Warning): (?P<summary>[^\n]+)\n\n"
    r"  on (?P<file>[^\n:]+):(?P<line>\d+):(?P<column>\d+)(?:, in (?P<attribute>[^\n]+))?\n\n"
    r"(?P<detail>[^\n]*(?:\n[^\n]+)*)", re.M)


def diagnostics(text: str) -> list[dict[str, Any]]:
    """Every located diagnostic in polyctl's text output."""
    out = []
    for m in _DIAGNOSTIC.finditer(text):
        d = m.groupdict()
        d["line"], d["column"] = int(d["line"]), int(d["column"])
        out.append(d)
    return out


# -- computing once per test session, shared by the xdist workers ------------------------


def shared_result(tmp_path_factory, name: str, compute: Callable[[Path], Any]) -> Any:
    """`compute(folder)` run once for all workers; its JSON result read by the others."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return json.loads(json.dumps(compute(tmp_path_factory.mktemp(name))))
    base = tmp_path_factory.getbasetemp().parent
    result = base / f"{name}.json"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result.exists():
            return json.loads(result.read_text(encoding="utf-8"))
        folder = base / name
        folder.mkdir(exist_ok=True)
        data = compute(folder)
        result.write_text(json.dumps(data), encoding="utf-8")
        return json.loads(json.dumps(data))
