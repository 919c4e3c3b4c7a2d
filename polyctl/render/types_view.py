"""Connection types for people: the list, a field table, and a commented spec skeleton."""

from __future__ import annotations

import json
from typing import Any, Iterator

import yaml

from polyctl.diagnostics import format_path
from polyctl.schema import TypeSchema
from polyctl.schema.attributes import Attribute

def fields(attr: Attribute, path: tuple = ()) -> Iterator[tuple[tuple, Attribute]]:
    for name, sub in attr.fields.items():
        if sub.read_only:
            continue
        yield path + (name,), sub
        if sub.kind == "object" and sub.fields:
            yield from fields(sub, path + (name,))
        elif sub.kind in ("list", "set") and sub.item is not None and sub.item.kind == "object":
            yield from fields(sub.item, path + (name, "[]"))


def _kind(attr: Attribute) -> str:
    if attr.kind in ("list", "set") and attr.item is not None:
        return f"{attr.kind} of {attr.item.kind}"
    return attr.kind


def _one_line(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def field_table(schema: TypeSchema) -> list[str]:
    rows = [("FIELD", "TYPE", "REQUIRED", "DEFAULT", "SENSITIVE", "DESCRIPTION")]
    for path, attr in fields(schema.configuration):
        default = "" if attr.default is None else json.dumps(attr.default)
        desc = attr.title or ""
        if attr.description:
            desc = f"{desc}: {attr.description}" if desc else attr.description
        if attr.enum:
            desc += f" (one of: {', '.join(map(str, attr.enum))})"
        rows.append((format_path(path).replace(".[]", "[]"), _kind(attr),
                     "yes" if attr.required else "", default,
                     "yes" if attr.sensitive else "", _one_line(desc)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return ["  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5] for r in rows]


def _example(attr: Attribute) -> Any:
    if attr.examples:
        return attr.examples[0]
    if attr.default is not None:
        return attr.default
    if attr.enum:
        return attr.enum[0]
    return {"string": "CHANGE-ME", "integer": 0, "number": 0, "boolean": False,
            "list": [], "set": []}.get(attr.kind, "CHANGE-ME")


def scaffold(schema: TypeSchema, *, local_name: str, display_name: str) -> str:
    """A YAML spec for one connection of this type: required fields filled with the
    schema's examples, optional ones commented out, secrets as `${env:…}`."""
    var_prefix = f"POLYCTL_{local_name.upper()}"
    lines = [f"# A polyctl spec for a {schema.type_id!r} connection.",
             "# Required fields are filled with the schema's examples; optional ones are",
             "# commented out. Secrets are read from the environment variables named below.",
             "connections:", f"  {local_name}:", f"    name: {json.dumps(display_name)}",
             f"    type: {schema.type_id}", "    configuration:"]
    body = _object_lines(schema.configuration, 6, (), var_prefix, commented=False)
    if all(line.lstrip().startswith("#") for line in body):
        lines[-1] = "    configuration: {}  # nothing is required; optional fields below"
    lines += body
    return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def _object_lines(attr: Attribute, indent: int, path: tuple, prefix: str, *,
                  commented: bool, fill_all: bool = False) -> list[str]:
    out: list[str] = []
    pad = " " * indent
    ordered = sorted(attr.fields.items(), key=lambda kv: (not kv[1].required, kv[0]))
    for name, sub in ordered:
        if sub.read_only:
            continue
        off = commented or not (sub.required or fill_all)
        mark = "# " if off else ""
        notes = [n for n in ("required" if sub.required else "", "sensitive" if sub.sensitive
                             else "", sub.kind if sub.sensitive and sub.kind != "string"
                             else "") if n]
        title = sub.title or name
        about = f"{title}" + (f" ({', '.join(notes)})" if notes else "")
        if sub.enum:
            about += f"; one of: {', '.join(map(str, sub.enum))}"
        if sub.default is not None:
            about += f"; default {json.dumps(sub.default)}"
        out.append(f"{pad}# {_one_line(about, 90)}")
        if sub.kind == "object" and sub.fields:
            out.append(f"{pad}{mark}{name}:")
            # a required block with nothing required inside gets every field filled
            fill_block = not off and not any(f.required for f in sub.fields.values())
            out += _object_lines(sub, indent + 2, path + (name,), prefix, commented=off,
                                 fill_all=fill_block)
            continue
        if sub.sensitive:
            var = "_".join([prefix] + [p.upper() for p in path + (name,)])
            value = "${env:" + var + "}"
            out.append(f"{pad}{mark}{name}: {json.dumps(value)}")
        else:
            out.append(f"{pad}{mark}{name}: {_scalar(_example(sub))}")
    return out
