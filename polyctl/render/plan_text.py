"""The human plan: Terraform's vocabulary and layout, so reviewers read it at once.

Reads only the `Plan` model (the same one the JSON view serialises). Produces
`Line`s (polyctl.render.lines); whether they carry colour is the console's business
(`--no-color`, `NO_COLOR`, not a TTY → plain). `Writer` (Terraform's indentation) and
`Differ` (values shown whole or as a difference) also draw the state (`state_view`).

    # connection.example will be updated in-place
    ~ resource "connection" "example" {
          id            = "…"
        ~ name          = "Old" -> "New"
          # (2 unchanged attributes hidden)
      }
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from polyctl.render.lines import Line

from polyctl.diagnostics import AttrPath
from polyctl.engine.plan import Action, Drift, Mode, Plan, ResourceChange
from polyctl.schema import schema_for
from polyctl.schema.attributes import canonical_key
from polyctl.values import Digest

MISSING: Any = object()
SENSITIVE = "(sensitive value)"
TOP_ORDER = ("id", "name", "type", "organization", "force_destroy", "lifecycle", "configuration")
ALWAYS_SHOWN = ("id", "name")
STYLES = {"+": "green", "-": "red", "~": "yellow", "-/+": "magenta", "+/-": "magenta", " ": ""}

HEADERS = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in-place",
    Action.STATE_ONLY: "will be updated in state only (no API call)",
    Action.DELETE: "will be destroyed",
    Action.REPLACE: "must be replaced",
}


def scalar(value: Any) -> str:
    if isinstance(value, Digest):
        return SENSITIVE
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


class Writer:
    """Accumulates lines; `line(level, symbol, text)` handles Terraform's indentation."""

    def __init__(self) -> None:
        self.lines: list[Line] = []

    def line(self, level: int, symbol: str, text: str, *, note: str = "") -> None:
        # the hot path of a large plan (25 lines a created connection): segments built
        # at once, the indent and the symbol's column joined when the symbol is blank
        style = STYLES.get(symbol.strip() or " ", "")
        if style:
            segments = [(" " * (4 * level), ""), (symbol.rjust(3), style), (" " + text, "")]
        else:
            segments = [(" " * (4 * level) + symbol.rjust(3) + " " + text, "")]
        if note:
            segments.append((" " + note, "dim"))
        self.lines.append(Line.of(segments))

    def comment(self, level: int, text: str) -> None:
        self.lines.append(Line(" " * (4 * level) + "    " + text, style="dim"))

    def raw(self, text: str = "", style: str = "") -> None:
        self.lines.append(Line(text, style=style))

    def take(self) -> list[Line]:
        """The lines so far, handed over (the writer starts empty again)."""
        lines, self.lines = self.lines, []
        return lines


class Differ:
    """Renders the difference between two values, recursively."""

    def __init__(self, out: Writer, type_id: str, replace_paths: Iterable[AttrPath]) -> None:
        self.out = out
        self.schema = schema_for(type_id) if type_id else None
        self.replace_paths = set(replace_paths)

    def is_set(self, path: AttrPath) -> bool:
        return self.schema is not None and self.schema.is_set_at(path)

    def block(self, before: dict, after: dict, level: int, path: AttrPath,
              order: tuple[str, ...] = ()) -> None:
        keys = [k for k in order if k in before or k in after]
        keys += sorted(k for k in set(before) | set(after) if k not in order)
        shown = [k for k in keys if not _same(before.get(k, MISSING), after.get(k, MISSING))
                 or (not path and k in ALWAYS_SHOWN)]
        width = max((len(k) for k in shown), default=0)
        for key in shown:
            self.attr(key.ljust(width), before.get(key, MISSING), after.get(key, MISSING),
                      level, path + (key,))
        hidden = len(keys) - len(shown)
        if hidden:
            self.out.comment(level, f"# ({hidden} unchanged attribute{'s' * (hidden != 1)} hidden)")

    def attr(self, key: str, before: Any, after: Any, level: int, path: AttrPath) -> None:
        before = MISSING if before is None else before
        after = MISSING if after is None else after
        note = "# forces replacement" if path in self.replace_paths else ""
        if before is MISSING and after is MISSING:
            return
        if before is MISSING:
            self.whole("+", key, after, level, path, note)
        elif after is MISSING:
            self.whole("-", key, before, level, path, note, to_null=True)
        elif _same(before, after):
            self.whole(" ", key, after, level, path, note)
        elif isinstance(before, dict) and isinstance(after, dict):
            self.out.line(level, "~", f"{key} = {{", note=note)
            self.block(before, after, level + 1, path)
            self.out.line(level, " ", "}")
        elif isinstance(before, list) and isinstance(after, list):
            self.out.line(level, "~", f"{key} = [", note=note)
            self.elements(before, after, level + 1, path)
            self.out.line(level, " ", "]")
        elif isinstance(before, Digest) and isinstance(after, Digest):
            self.out.line(level, "~", f"{key} = {SENSITIVE}", note=note)
        else:
            self.out.line(level, "~", f"{key} = {scalar(before)} -> {scalar(after)}", note=note)

    def elements(self, before: list, after: list, level: int, path: AttrPath) -> None:
        if self.is_set(path):
            left = {canonical_key(v): v for v in before}
            right = {canonical_key(v): v for v in after}
            removed = [v for k, v in left.items() if k not in right]
            added = [v for k, v in right.items() if k not in left]
            for v in removed:
                self.element("-", v, level, path)
            for v in added:
                self.element("+", v, level, path)
            hidden = len(left) - len(removed)
        else:
            hidden = 0
            for i in range(max(len(before), len(after))):
                b = before[i] if i < len(before) else MISSING
                a = after[i] if i < len(after) else MISSING
                if _same(b, a):
                    hidden += 1
                elif b is MISSING:
                    self.element("+", a, level, path)
                elif a is MISSING:
                    self.element("-", b, level, path)
                elif isinstance(b, dict) and isinstance(a, dict):
                    self.out.line(level, "~", "{")
                    self.block(b, a, level + 1, path + (i,))
                    self.out.line(level, " ", "},")
                else:
                    self.element("-", b, level, path)
                    self.element("+", a, level, path)
        if hidden:
            self.out.comment(level, f"# ({hidden} unchanged element{'s' * (hidden != 1)} hidden)")

    def element(self, symbol: str, value: Any, level: int, path: AttrPath) -> None:
        if isinstance(value, dict):
            self.out.line(level, symbol, "{")
            self.children(symbol, value, level + 1, path)
            self.out.line(level, " ", "},")
        else:
            self.out.line(level, symbol, scalar(value) + ",")

    def whole(self, symbol: str, key: str, value: Any, level: int, path: AttrPath,
              note: str = "", *, to_null: bool = False) -> None:
        """An attribute appearing, disappearing, or shown unchanged, in full."""
        if isinstance(value, dict):
            self.out.line(level, symbol, f"{key} = {{", note=note)
            self.children(symbol, value, level + 1, path)
            self.out.line(level, " ", "}" + (" -> null" if to_null else ""))
        elif isinstance(value, list) and value:
            self.out.line(level, symbol, f"{key} = [", note=note)
            for item in value:
                self.element(symbol, item, level + 1, path)
            self.out.line(level, " ", "]" + (" -> null" if to_null else ""))
        else:
            text = f"{key} = {scalar(value) if not isinstance(value, list) else '[]'}"
            self.out.line(level, symbol, text + (" -> null" if to_null else ""), note=note)

    def children(self, symbol: str, value: dict, level: int, path: AttrPath) -> None:
        keys = sorted(k for k, v in value.items() if v is not None)
        width = max((len(k) for k in keys), default=0)
        for k in keys:
            self.whole(symbol, k.ljust(width), value[k], level, path + (k,))


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    return a == b


def _display_record(record: dict | None) -> dict:
    if record is None:
        return {}
    shown = {k: v for k, v in record.items() if k not in ("organization_id",)}
    if shown.get("organization") is None:
        shown.pop("organization", None)
    return shown


def render_change(rc: ResourceChange, out: Writer) -> None:
    kind, _, name = rc.address.partition(".")
    out.raw(f"  # {rc.address} {HEADERS[rc.action]}", style="bold")
    for reason in rc.replace_reasons:
        out.raw(f"  # ({reason})", style="dim")
    symbol = {Action.REPLACE: "+/-" if rc.create_before_destroy else "-/+",
              Action.STATE_ONLY: "~"}.get(rc.action, rc.action.symbol)
    out.line(0, symbol, f'resource "{kind}" "{name}" {{')
    differ = Differ(out, rc.connection_type, rc.replace_paths)
    before = _display_record(rc.before)
    after = _display_record(rc.after)
    if rc.action in (Action.CREATE, Action.DELETE):
        # lifecycle is a meta-argument: shown only when it changes
        record = after if rc.action is Action.CREATE else before
        keys = [k for k in TOP_ORDER if k in record and k not in ("id", "lifecycle")]
        width = max(len(k) for k in keys + ["id"])
        if rc.action is Action.CREATE:
            out.line(1, "+", f"{'id'.ljust(width)} = (known after apply)")
        else:
            differ.whole("-", "id".ljust(width), before.get("id"), 1, ("id",), to_null=True)
        symbol = "+" if rc.action is Action.CREATE else "-"
        for key in keys:
            differ.whole(symbol, key.ljust(width), record[key], 1, (key,),
                         to_null=rc.action is Action.DELETE)
    else:
        if rc.action is Action.REPLACE:
            out.line(1, "~", f'id = {scalar(rc.id)} -> (known after apply)')
            before = {k: v for k, v in before.items() if k != "id"}
            after = {k: v for k, v in after.items() if k != "id"}  # the new id is unknown
        differ.block(before, after, 1, (), TOP_ORDER)
    out.line(0, " ", "}")
    if rc.force_delete and rc.action in (Action.DELETE, Action.REPLACE):
        if rc.dependents:
            out.raw("  # force_destroy: these dependents will be cascade-deleted:", style="red")
            for dep in rc.dependents:
                out.raw(f"  #   - {dep}", style="red")
        else:
            out.raw("  # force_destroy: dependents, if any, will be cascade-deleted", style="dim")
    out.raw()


def render_drift(drift: Iterable[Drift], out: Writer) -> None:
    items = list(drift)
    if not items:
        return
    out.raw("Note: Objects have changed outside of polyctl", style="bold")
    out.raw()
    out.raw("polyctl detected the following changes made outside of polyctl since the last "
            '"polyctl apply" (changed outside polyctl):')
    out.raw()
    for d in items:
        kind, _, name = d.address.partition(".")
        if d.deleted:
            out.raw(f"  # {d.address} has been deleted", style="bold")
            out.line(0, "-", f'resource "{kind}" "{name}" {{')
            out.line(1, "-", f"id   = {scalar(d.before.get('id'))}")
            out.line(1, "-", f"name = {scalar(d.before.get('name'))}")
            out.line(0, " ", "}")
        else:
            out.raw(f"  # {d.address} has changed", style="bold")
            out.line(0, "~", f'resource "{kind}" "{name}" {{')
            differ = Differ(out, str(d.before.get("type", "")), ())
            differ.block(_display_record(d.before), _display_record(d.after), 1, (), TOP_ORDER)
            out.line(0, " ", "}")
        out.raw()


def plan_pieces(plan: Plan) -> Iterator[list[Line]]:
    """The plan's lines in pieces — the drift, the legend, then one piece per change —
    so that a plan of 10,000 changes is printed as it is rendered, never held whole."""
    out = Writer()
    render_drift(plan.drift, out)
    if plan.mode is Mode.REFRESH_ONLY:
        if plan.drift:
            out.raw("This is a refresh-only plan, so polyctl will not take any actions to undo "
                    "these. Applying it records these changes in the state.")
        else:
            out.raw("No changes. Your state matches the Polytomic connections.", style="bold green")
        yield out.take()
        return
    if plan.drift and plan.changes:
        out.raw("Unless you have made equivalent changes to your specs, the changes below "
                "will undo them.")
        out.raw()
    changes = plan.changes
    if not changes:
        # as Terraform words it: a destroy with nothing managed has nothing to match
        out.raw("No changes. No objects need to be destroyed." if plan.mode is Mode.DESTROY
                else "No changes. Your Polytomic connections match the specs.",
                style="bold green")
        yield out.take()
        return
    symbols = sorted({rc.action for rc in changes}, key=lambda a: list(Action).index(a))
    out.raw("Resource actions are indicated with the following symbols:")
    legend = {Action.CREATE: ("+", "create"), Action.UPDATE: ("~", "update in-place"),
              Action.STATE_ONLY: ("~", "update in-place"), Action.DELETE: ("-", "destroy"),
              Action.REPLACE: ("-/+", "destroy and then create replacement")}
    seen = set()
    for action in symbols:
        sym, text = legend[action]
        if action is Action.REPLACE and any(rc.create_before_destroy for rc in changes
                                            if rc.action is Action.REPLACE):
            sym, text = "+/-", "create replacement and then destroy"
        if (sym, text) in seen:
            continue
        seen.add((sym, text))
        out.line(0, sym, text)
    out.raw()
    out.raw("polyctl will perform the following actions:")
    out.raw()
    yield out.take()
    for rc in changes:
        render_change(rc, out)
        yield out.take()
    s = plan.summary
    out.raw(f"Plan: {s.add} to add, {s.change} to change, {s.destroy} to destroy.", style="bold")
    yield out.take()


def render_warnings(plan: Plan) -> list[Line]:
    lines: list[Line] = []
    for rc in plan.changes:
        for warning in rc.warnings:
            lines.append(Line.assemble(("Warning: ", "bold yellow"), f"{rc.address}: {warning}"))
    for warning in plan.warnings:
        lines.append(Line.assemble(("Warning: ", "bold yellow"), warning))
    return lines
