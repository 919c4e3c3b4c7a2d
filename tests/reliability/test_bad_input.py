"""Bad input, generated (hypothesis): malformed YAML, wrong types, deep nesting, huge
values, unicode, unset variables, duplicate keys; corrupt, truncated and newer-version
state files. The real CLI runs in-process (`invoke`), so each example is cheap.

For every input: never a traceback (nor "internal error"), exit 1 with a located
message — `on specs/<file>:<line>:<column>` for a spec problem, at the line the
problem was written when the test knows it; the state's path for a state problem —
and the state file byte-identical afterwards, with no lock or journal left behind.

Inputs that might by chance be valid (random text, a truncated document) are only
given to commands that never write the state, with the weaker property: exit 0 or a
located exit 1, never a traceback.
"""

from __future__ import annotations

import json
import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rel_helpers import Project, report

EXAMPLES = 75
SLOW_EXAMPLES = 750
LOCAL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
LOCATED = re.compile(r"^  on (specs/[^:\n]+):(\d+):(\d+)", re.M)

# The base document, one attribute per line, so a test knows where each one is.
BASE_LINES = [
    "connections:",                                   # 1
    "  good:",                                        # 2
    "    name: Good",                                 # 3
    "    configuration:",                             # 4
    "      url: https://good.example.com",            # 5
    "      auth:",                                    # 6
    "        header:",                                # 7
    "          name: Authorization",                  # 8
    "          value: ${env:REL_TOKEN}",              # 9
    "  target:",                                      # 10
    "    name: Target",                               # 11
    "    type: api",                                  # 12
    "    force_destroy: false",                       # 13
    "    lifecycle:",                                 # 14
    "      prevent_destroy: false",                   # 15
    "      create_before_destroy: false",             # 16
    "      ignore_changes: []",                       # 17
    "    configuration:",                             # 18
    "      url: https://target.example.com",          # 19
    "      headers:",                                 # 20
    "        - name: X-One",                          # 21
    "          value: \"1\"",                         # 22
]
BASE = "\n".join(BASE_LINES) + "\n"
SPECS = {"good", "target"}

# line → kind of value expected there ("optional-str": null means "not set", the default)
FIELDS = {3: "str", 5: "str", 8: "str", 9: "str", 11: "str", 12: "optional-str", 13: "bool",
          15: "bool", 16: "bool", 17: "list", 19: "str", 21: "str", 22: "str"}
KEY_LINES = [3, 5, 8, 9, 11, 12, 13, 15, 16, 17, 19]


def examples(n: int = EXAMPLES):
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


def slow_or_default(request) -> int:
    return SLOW_EXAMPLES if request.config.getoption("--run-slow") else EXAMPLES


class Bench:
    """A project with a real state (the base document applied once)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.spec_path = project.root / "specs" / "main.yaml"
        self.spec_path.write_text(BASE, encoding="utf-8")
        project.apply()
        self.state_bytes = project.state_path.read_bytes()
        self.backup = project.root / "polyctl.state.json.backup"
        self.backup_bytes = self.backup.read_bytes() if self.backup.exists() else None
        self.count = 0

    def run(self, *args: str):
        self.count += 1
        return self.project.run(*args)

    def write_spec(self, text: str | bytes) -> None:
        if isinstance(text, str):
            text = text.encode("utf-8", "surrogatepass")
        self.spec_path.write_bytes(text)

    def assert_untouched(self, result) -> None:
        p = self.project
        assert p.state_path.read_bytes() == self.state_bytes, f"state changed:\n{result.output}"
        assert (self.backup.read_bytes() if self.backup.exists() else None) == \
            self.backup_bytes, "the backup changed"
        assert not (p.root / "polyctl.state.json.lock").exists(), "a lock was left behind"
        assert not p.journal_path.exists(), "a journal was left behind"

    def restore(self) -> None:
        self.spec_path.write_text(BASE, encoding="utf-8")
        self.project.state_path.write_bytes(self.state_bytes)


@pytest.fixture
def bench(make_project) -> Bench:
    return Bench(make_project())


def assert_clean_failure(result) -> None:
    assert result.code == 1, f"exit {result.code}:\n{result.output[-3000:]}"
    assert "Traceback" not in result.output, result.output[-3000:]
    assert "internal error" not in result.output, result.output[-3000:]


def assert_spec_error(result, line: int | range | None = None) -> None:
    assert_clean_failure(result)
    places = LOCATED.findall(result.stderr)
    assert places, f"no file:line in the message:\n{result.stderr[-3000:]}"
    if line is not None:
        lines = line if isinstance(line, range) else [line]
        assert any(int(l) in lines for _, l, _ in places), \
            f"expected a message at line {line}:\n{result.stderr[-3000:]}"


def assert_never_a_traceback(result) -> None:
    assert result.code in (0, 1), result.output[-3000:]
    assert "Traceback" not in result.output and "internal error" not in result.output, \
        result.output[-3000:]
    if result.code == 1 and "Error" in result.stderr:
        assert LOCATED.search(result.stderr) or "credentials" in result.stderr, \
            result.stderr[-3000:]


SPEC_COMMANDS = [("validate",), ("plan",), ("apply", "--auto-approve"), ("plan", "--json")]
READ_ONLY_COMMANDS = [("validate",), ("plan", "--no-refresh"), ("plan", "--json")]


def replace_value(line: int, rendered: str) -> str:
    lines = list(BASE_LINES)
    key, _, _ = lines[line - 1].partition(": ")
    lines[line - 1] = f"{key}: {rendered}"
    return "\n".join(lines) + "\n"


# -- strategies ------------------------------------------------------------------------

scalars = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    st.booleans())
json_values = st.recursive(st.one_of(scalars, st.text(max_size=20), st.none()),
                           lambda inner: st.one_of(st.lists(inner, min_size=1, max_size=4),
                                                   st.dictionaries(st.text(string.ascii_letters,
                                                                           min_size=1,
                                                                           max_size=8),
                                                                   inner, min_size=1,
                                                                   max_size=4)),
                           max_leaves=12)
huge_int = st.integers(4301, 30000).map(lambda n: "9" * n)  # beyond Python's int-str limit
huge_text = st.integers(100_000, 2_000_000).map(lambda n: json.dumps("x" * n))


def _flow(value) -> str:
    if isinstance(value, float):  # YAML 1.1 reads `1e-05` as text: a float needs its dot
        mantissa, e, exponent = repr(value).partition("e")
        if "." not in mantissa and mantissa.lstrip("-").isdigit():
            mantissa += ".0"
        if e and exponent[:1] not in "+-":
            exponent = "+" + exponent
        return mantissa + e + exponent
    return json.dumps(value, ensure_ascii=False)


def wrong_value(kind: str):
    """A rendered YAML value that is certainly of the wrong type for `kind`."""
    containers = st.one_of(st.lists(json_values, min_size=1, max_size=4),
                           st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=6),
                                           json_values, min_size=1, max_size=4)).map(_flow)
    if kind in ("str", "optional-str"):
        null = st.just("null") if kind == "str" else st.nothing()
        return st.one_of(scalars.map(_flow), containers, huge_int, null)
    if kind == "bool":
        return st.one_of(st.integers().map(_flow), st.text(max_size=30).map(_flow), containers,
                         huge_text, huge_int)
    assert kind == "list"
    return st.one_of(scalars.map(_flow), huge_int,
                     st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=6),
                                     json_values, min_size=1, max_size=3).map(_flow),
                     st.lists(st.integers(), min_size=1, max_size=3).map(_flow))


# -- specs -----------------------------------------------------------------------------

def test_wrong_types_and_huge_values_are_located(bench: Bench, request) -> None:
    @examples(slow_or_default(request))
    @given(line=st.sampled_from(sorted(FIELDS)), data=st.data(),
           command=st.sampled_from(SPEC_COMMANDS))
    def check(line, data, command):
        rendered = data.draw(wrong_value(FIELDS[line]))
        bench.write_spec(replace_value(line, rendered))
        result = bench.run(*command)
        # an explicit null is "not set": reported at the block that must set it
        assert_spec_error(result, line if rendered != "null" else None)
        bench.assert_untouched(result)

    check()
    report(f"bad input: {bench.count} wrong-type/huge-value specs")


def test_unset_variables_and_missing_files_are_located(bench: Bench, request) -> None:
    names = st.text(string.ascii_uppercase + string.digits + "_", min_size=1, max_size=30)
    refs = st.one_of(names.map(lambda n: f"${{env:REL_UNSET_{n}}}"),
                     st.text(string.ascii_letters + string.digits + "/._-", min_size=1,
                             max_size=40).map(lambda p: f"${{file:missing/{p}}}"))

    @examples(slow_or_default(request))
    @given(ref=refs, line=st.sampled_from([5, 8, 9, 19, 22]), prefix=st.text(
        string.ascii_letters + ":/.", max_size=10), command=st.sampled_from(SPEC_COMMANDS))
    def check(ref, line, prefix, command):
        bench.write_spec(replace_value(line, json.dumps(prefix + ref)))
        result = bench.run(*command)
        assert_spec_error(result, line)
        bench.assert_untouched(result)

    check()
    report(f"bad input: {bench.count} unset variables / missing files")


def test_duplicate_keys_name_both_places(bench: Bench, request) -> None:
    @examples(slow_or_default(request))
    @given(line=st.sampled_from(KEY_LINES + [2, 10]), command=st.sampled_from(SPEC_COMMANDS))
    def check(line, command):
        lines = list(BASE_LINES)
        if line in (2, 10):  # a whole connection block, twice
            block_end = 9 if line == 2 else len(lines)
            lines[block_end:block_end] = lines[line - 1:block_end]
            second = block_end + 1
        else:
            lines.insert(line, lines[line - 1])
            second = line + 1
        bench.write_spec("\n".join(lines) + "\n")
        result = bench.run(*command)
        assert_spec_error(result, second)
        assert f":{line}:" in result.stderr, result.stderr  # the first place too
        bench.assert_untouched(result)

    check()
    report(f"bad input: {bench.count} duplicate keys")


def test_deep_nesting_is_located(bench: Bench, request) -> None:
    @examples(slow_or_default(request))
    @given(depth=st.integers(1, 5000), style=st.sampled_from(["flow-list", "flow-map", "block"]),
           command=st.sampled_from(SPEC_COMMANDS))
    def check(depth, style, command):
        if style == "flow-list":
            nested = "[" * depth + "]" * depth
        elif style == "flow-map":
            nested = "{a: " * depth + "1" + "}" * depth
        else:
            depth = min(depth, 400)  # block style grows as depth²
            nested = "".join("\n" + "  " * (4 + i) + "k:" for i in range(depth)) + " 1"
        lines = list(BASE_LINES)
        lines.insert(19, f"      extra: {nested}")  # an attribute type `api` does not have
        bench.write_spec("\n".join(lines) + "\n")
        result = bench.run(*command)
        # the unexpected attribute, or (deeper than polyctl reads) where it gets too deep
        too_deep = "nested more than" in result.stderr
        assert_spec_error(result, None if too_deep else 20)
        bench.assert_untouched(result)

    check()
    report(f"bad input: {bench.count} deeply nested specs")


def test_alias_bombs_end_with_a_located_error(bench: Bench, request) -> None:
    """`&l1 [*l0, *l0, …]` repeated: a few lines that expand to billions of values."""
    @examples(slow_or_default(request))
    @given(width=st.integers(2, 12), levels=st.integers(1, 12),
           command=st.sampled_from(SPEC_COMMANDS))
    def check(width, levels, command):
        lines = list(BASE_LINES)
        bomb = ["      l0: &l0 [x]"] + [f"      l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]"
                                        for i in range(1, levels + 1)]
        lines[19:19] = bomb  # attributes type `api` does not have, at lines 20…
        bench.write_spec("\n".join(lines) + "\n")
        result = bench.run(*command)
        expands = "expands to more than" in result.stderr
        size, total = 2, 2  # values, containers included, that l0 … l<levels> expand to
        for _ in range(levels):
            size = 1 + width * size
            total += size
        # polyctl may count a collection as two (its start and end): at most double
        if total > 1_000_000 or total < 500_000 - 100:
            assert expands == (total > 1_000_000), f"{total} values:\n{result.stderr}"
        assert_spec_error(result, None if expands else 20)
        bench.assert_untouched(result)

    check()
    report(f"bad input: {bench.count} alias bombs")


_NOT_PRINTABLE = [chr(c) for c in [*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F,
                                   *range(0x80, 0x85), *range(0x86, 0xA0), 0xFFFE, 0xFFFF]]


def test_unicode_keys_control_characters_and_bad_encoding_are_located(bench: Bench, request):
    # (without the characters YAML counts as line breaks and editors do not: with them
    # the line is a matter of opinion)
    bad_names = st.text(st.characters(blacklist_characters="\x85\u2028\u2029"), min_size=1,
                        max_size=20).filter(lambda s: not LOCAL_NAME.fullmatch(s))
    # a whole document: a local name that is not one, a control character, or bytes
    # that are not UTF-8
    cases = st.one_of(
        bad_names.map(lambda n: ("name", n)),
        st.tuples(st.sampled_from(_NOT_PRINTABLE), st.integers(0, len(BASE) - 1)).map(
            lambda t: ("control", t)),
        st.tuples(st.binary(min_size=1, max_size=4).filter(_not_utf8),
                  st.integers(0, len(BASE))).map(lambda t: ("bytes", t)),
    )

    @examples(slow_or_default(request))
    @given(case=cases, command=st.sampled_from(SPEC_COMMANDS))
    def check(case, command):
        kind, value = case
        line = None
        if kind == "name":
            lines = list(BASE_LINES)
            lines[9] = f"  {json.dumps(value, ensure_ascii=False)}:"
            text: str | bytes = "\n".join(lines) + "\n"
            line = 10
        elif kind == "control":
            char, at = value
            text = BASE[:at] + char + BASE[at:]
        else:
            raw, at = value
            encoded = BASE.encode()
            text = encoded[:at] + raw + encoded[at:]
            first = encoded[:at].count(b"\n") + 1  # the bad byte is on one of these lines
            line = range(first, first + raw.count(b"\n") + 1)
        bench.write_spec(text)
        result = bench.run(*command)
        assert_spec_error(result, line)
        bench.assert_untouched(result)

    check()
    report(f"bad input: {bench.count} unicode / control-character / non-UTF-8 specs")


def _not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def test_broken_yaml_syntax_is_located(bench: Bench, request) -> None:
    """Syntax that no YAML parser accepts, spliced in at a random line."""
    breakers = st.sampled_from([
        '"unterminated', "'unterminated", "[1, 2", "{a: 1", "\tkey: tab-indented",
        "key: [1, 2]]", "- : -", "*undefined_alias", "!!python/object:os.system x",
        "key: @reserved", "key: `reserved", "&a [*a]", "? [a]\n: b",
    ])

    @examples(slow_or_default(request))
    @given(breaker=breakers, line=st.integers(2, len(BASE_LINES)),
           command=st.sampled_from(SPEC_COMMANDS))
    def check(breaker, line, command):
        lines = list(BASE_LINES)
        indent = len(lines[line - 1]) - len(lines[line - 1].lstrip())
        lines.insert(line, " " * indent + f"oops: {breaker}")
        bench.write_spec("\n".join(lines) + "\n")
        result = bench.run(*command)
        assert_spec_error(result)
        bench.assert_untouched(result)

    check()
    report(f"bad input: {bench.count} broken YAML documents")


def test_random_text_and_truncated_documents_never_crash(bench: Bench, request) -> None:
    """Maybe valid, maybe not: never a traceback; an error is located."""
    texts = st.one_of(
        st.text(max_size=400),
        st.integers(0, len(BASE)).map(lambda n: BASE[:n]),
        st.tuples(st.integers(0, len(BASE)), st.text(min_size=1, max_size=5)).map(
            lambda t: BASE[:t[0]] + t[1] + BASE[t[0]:]),
    )

    @examples(slow_or_default(request))
    @given(text=texts, command=st.sampled_from(READ_ONLY_COMMANDS))
    def check(text, command):
        bench.write_spec(text)
        result = bench.run(*command)
        assert_never_a_traceback(result)
        bench.assert_untouched(result)

    check()
    report(f"bad input: {bench.count} random or truncated documents")


# -- state files -----------------------------------------------------------------------

STATE_COMMANDS = [("plan",), ("plan", "--json"), ("apply", "--auto-approve"), ("refresh",),
                  ("destroy", "--auto-approve"), ("show",), ("show", "--json"),
                  ("state", "list"), ("state", "rm", "connection.good"),
                  ("import", "connection.spare", "00000000-0000-0000-0000-000000000000")]
SPARE = "  spare:\n    name: Spare\n    configuration: {url: https://spare.example.com}\n"


def _mutated_state(good: bytes):
    doc = json.loads(good)
    address = sorted(doc["resources"])[0]

    def with_field(path: tuple, value) -> bytes:
        copy = json.loads(good)
        target = copy
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return json.dumps(copy).encode()

    not_int = st.one_of(st.text(max_size=10), st.floats(allow_nan=False), st.booleans(),
                        st.none(), st.lists(st.integers(), max_size=2))
    not_str = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
                        st.lists(st.integers(), max_size=2))
    not_obj = st.one_of(st.integers(), st.text(max_size=10), st.booleans(), st.none(),
                        st.lists(st.integers(), max_size=2))
    body = good.rstrip()
    return st.one_of(
        st.integers(0, len(body) - 1).map(lambda n: ("truncated", body[:n])),
        st.binary(max_size=300).map(lambda b: ("random bytes", b)),
        st.integers(2, 2**62).map(lambda v: ("newer", with_field(("format_version",), v))),
        not_int.map(lambda v: ("serial", with_field(("serial",), v))),
        not_str.map(lambda v: ("lineage", with_field(("lineage",), v))),
        not_obj.map(lambda v: ("resources", with_field(("resources",), v))),
        not_obj.map(lambda v: ("resource", with_field(("resources", address), v))),
        not_str.map(lambda v: ("id", with_field(("resources", address, "id"), v))),
        not_obj.filter(lambda v: v is not None).map(lambda v: (  # null: documented "none"
            "configuration", with_field(("resources", address, "configuration"), v))),
        st.sampled_from(["format_version", "lineage", "serial", "resources"]).map(
            lambda k: ("missing " + k, json.dumps(
                {f: v for f, v in doc.items() if f != k}).encode())),
    )


def test_corrupt_truncated_and_newer_state_is_refused_and_left_alone(bench: Bench, request):
    p = bench.project
    bench.write_spec(BASE + SPARE)  # in the specs, not in the state: `import` may adopt it

    @examples(slow_or_default(request))
    @given(case=_mutated_state(bench.state_bytes), command=st.sampled_from(STATE_COMMANDS))
    def check(case, command):
        kind, raw = case
        bench.state_bytes = raw
        p.state_path.write_bytes(raw)
        result = bench.run(*command)
        assert_clean_failure(result)
        assert str(p.state_path) in result.stderr, f"{kind}: state path not named\n" \
            f"{result.stderr[-2000:]}"
        if kind == "newer":
            assert "Unsupported state version" in result.stderr, result.stderr
        bench.assert_untouched(result)

    check()
    report(f"bad input: {bench.count} corrupt/truncated/newer state files")
