"""The display-filter language of ``-Y`` and the TUI's filter bar (sans-IO).

A filter is a boolean expression over the fields of a PDU record (the dicts of
:func:`cmppdissect.output.records.record_dict`), written as a Wireshark user would write it::

    command == "CMPP_SUBMIT" and latency_ms > 100
    Registered_Delivery == 1 && report.Stat != "DELIVRD"
    text contains "验证码" || Dest_terminal_Id matches "^1380"
    command in {"CMPP_SUBMIT_RESP", "CMPP_DELIVER_RESP"} and Result != 0

Python's own parser reads the expression (so precedence, string escapes and error offsets are
the language's, not ours); Wireshark's spellings (``&&``, ``||``, ``!``, ``eq``, ``contains``,
``matches``...) are rewritten into Python tokens first. Names are checked when the filter is
compiled, so a typo is an error with a position while the user types, not a filter that silently
matches nothing.

Semantics follow Wireshark's: a bare field tests presence; a comparison on an absent field is
false (``!=`` too); a field with several values (``Dest_terminal_Id``, ``expert.code``) matches
when any value does. A string field compared with a number compares as text, so
``Src_terminal_Id == 13800138000`` works without quotes. ``command`` also accepts names without
the ``CMPP_`` prefix, in any case (``command == "submit"``).
"""

from __future__ import annotations

import ast
import io
import operator
import re
import tokenize
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from cmppdissect.options import split_hostport
from cmppdissect.protocol.layouts import LAYOUTS, MO_REPORT, REPORT_60, REPORT_71
from cmppdissect.protocol.recordkeys import HEADER_KEYS as RECORD_HEADER_KEYS

Record = Mapping[str, Any]
Values = Callable[[Record], list[Any]]

#: Keys of a record (top level), of the extra entries under ``fields``, and of nested dicts.
TOP_LEVEL = frozenset({
    "frame", "time", "session", "src", "dst", "version", "command", "command_id",
    "sequence_id", "total_length", "request_frame", "response_frame", "latency_ms", "expert",
    "fields", "long_sms",
})
EXTRA_FIELDS = frozenset({"text", "udh", "report", "Msg_Id_parts", "trailing"})
NESTED = frozenset({
    "reference", "total", "part",  # udh
    "month", "day", "hour", "minute", "second", "gateway", "sequence",  # Msg_Id_parts
    "severity", "code", "message", "field",  # expert items
    "frames",  # long_sms
})
#: Names whose value on a request is known only once its response arrives (or it times out:
#: ``expert`` then holds its "unanswered" finding).
PAIRING_NAMES = frozenset({"latency_ms", "response_frame", "expert"})


def _spec_names() -> frozenset[str]:
    names = {f.name for layout in LAYOUTS.values() for f in layout.fields}
    for rep in (REPORT_60, REPORT_71, MO_REPORT):
        names.update(f.name for f in rep.fields)
    return frozenset(names)


KNOWN_NAMES = TOP_LEVEL | EXTRA_FIELDS | NESTED | _spec_names()


#: Header fields by their spec names, as a Wireshark user types them (``cmpp.Command_Id``).
HEADER_ALIASES = {"Total_Length": "total_length", "Command_Id": "command_id",
                  "Sequence_Id": "sequence_id"}


def _host(endpoint: str) -> str:
    """``192.0.2.10`` of ``192.0.2.10:40001``, ``::1`` of ``[::1]:7890``."""
    return split_hostport(endpoint)[0]


def _port(endpoint: str) -> int | None:
    if not endpoint:
        return None
    tail = split_hostport(endpoint)[1]
    return int(tail) if tail.isascii() and tail.isdigit() else None


#: Transport fields of Wireshark's filter language, from a record's ``src``/``dst``.
TRANSPORT: dict[str, Callable[[Record], list[Any]]] = {
    "ip.src": lambda r: [_host(r["src"])] if r.get("src") else [],
    "ip.dst": lambda r: [_host(r["dst"])] if r.get("dst") else [],
    "ip.addr": lambda r: [_host(r[k]) for k in ("src", "dst") if r.get(k)],
    "tcp.srcport": lambda r: [p for p in [_port(r.get("src") or "")] if p is not None],
    "tcp.dstport": lambda r: [p for p in [_port(r.get("dst") or "")] if p is not None],
    "tcp.port": lambda r: [p for k in ("src", "dst") for p in [_port(r.get(k) or "")]
                           if p is not None],
}
TRANSPORT["ipv6.src"], TRANSPORT["ipv6.dst"] = TRANSPORT["ip.src"], TRANSPORT["ip.dst"]
TRANSPORT["ipv6.addr"] = TRANSPORT["ip.addr"]


def _numeric_names() -> frozenset[str]:
    """Fields whose values are numbers in every layout that has them: a quoted string
    compared with one of them is compared as text, which is rarely what was meant."""
    from cmppdissect.protocol.layouts import Kind

    kinds: dict[str, set[Kind]] = {}
    for layout in (*LAYOUTS.values(), REPORT_60, REPORT_71, MO_REPORT):
        for f in layout.fields:
            kinds.setdefault(f.name, set()).add(f.kind)
    spec = {name for name, found in kinds.items() if found <= {Kind.UINT, Kind.INT}}
    return frozenset(spec | {
        "frame", "time", "session", "command_id", "sequence_id", "total_length",
        "request_frame", "response_frame", "latency_ms", "reference", "total", "part",
        "month", "day", "hour", "minute", "second", "gateway", "sequence", "frames"})


NUMERIC_NAMES = _numeric_names()


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The names a filter may read, and which of them are numbers (a quoted string compared
    with one is warned of). PDU records (``-Y``, the PDU lists) are :data:`PDU_NAMES`; another
    kind of record (the TUI's transaction rows) brings its own, and the language, its
    semantics and the column path stay the one of this module. ``transport``: ``ip.src`` and
    the like are read from the record's ``src``/``dst``."""

    names: frozenset[str]
    numeric: frozenset[str]
    transport: bool = False


PDU_NAMES = Vocabulary(KNOWN_NAMES, NUMERIC_NAMES, transport=True)


class FilterError(ValueError):
    """A filter that does not parse or names an unknown field. ``position`` is 0-based."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"{self.message} (at column {self.position + 1})"


# -- Wireshark spellings -> Python tokens ----------------------------------------------------

_WORD_OPS = {"eq": "==", "ne": "!=", "gt": ">", "lt": "<", "ge": ">=", "le": "<=",
             "contains": ">>", "matches": "<<", "and": "and", "or": "or", "not": "not"}
_SYMBOL_OPS = {"&&": "and", "||": "or", "!": "not", "===": "==", "!==": "!="}
_SYMBOL_RE = re.compile(r"&&|\|\||!==|===|!(?!=)")


def _translate(expr: str) -> tuple[str, list[tuple[int, int]]]:
    """Python source for ``expr`` plus (python offset, original offset) anchors for errors."""
    out: list[str] = []
    anchors: list[tuple[int, int]] = []
    pos = 0
    length = 0
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(_SYMBOL_RE.sub(
            lambda m: "\x00" * len(m.group()), expr)).readline))
    except (tokenize.TokenError, SyntaxError) as exc:
        unclosed = _unclosed_paren(expr)
        if unclosed is not None:
            raise FilterError("'(' is never closed", unclosed) from None
        raise FilterError(f"cannot read the filter: {exc.args[0]}", len(expr)) from None
    for tok in tokens:
        if tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT,
                        tokenize.DEDENT):
            continue
        start = tok.start[1]
        if start < pos:
            continue
        text = expr[start:tok.end[1]]
        if tok.type != tokenize.STRING and "\x00" in tok.string:
            match = _SYMBOL_RE.match(expr, start)
            if match is None:  # pragma: no cover - placeholders come only from _SYMBOL_RE
                raise FilterError("unexpected character", start)
            text, repl = match.group(), _SYMBOL_OPS[match.group()]
        elif tok.type == tokenize.NAME and text in _WORD_OPS:
            repl = _WORD_OPS[text]
        elif tok.type == tokenize.ERRORTOKEN and not text.strip():
            pos = tok.end[1]
            continue
        elif tok.type == tokenize.ERRORTOKEN:
            raise FilterError(f"unexpected character {text!r}", start)
        else:
            repl = text
        anchors.append((length + 1, start))
        out.append(" " + repl)
        length += 1 + len(repl)
        pos = start + len(text)
    return "".join(out), anchors


def _unclosed_paren(expr: str) -> int | None:
    """Where the first parenthesis that is never closed opens (outside quotes), or None."""
    opened: list[int] = []
    quote = None
    escaped = False
    for i, ch in enumerate(expr):
        if quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "({[":
            opened.append(i)
        elif ch in ")}]" and opened:
            opened.pop()
    return opened[0] if opened else None


def _original_offset(anchors: list[tuple[int, int]], offset: int, default: int) -> int:
    best = default
    for py, orig in anchors:
        if py <= offset:
            best = orig
    return best


# -- evaluation --------------------------------------------------------------------------------


def _lookup(rec: Record, name: str) -> list[Any]:
    if name in rec or name in TOP_LEVEL:  # a record key never falls back to body fields
        value = rec.get(name)
    else:
        fields = rec.get("fields", {})
        if name in fields:
            value = fields[name]
        elif name in fields.get("report", {}):
            value = fields["report"][name]
        else:
            return []
    return _flatten(value)


def _flatten(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return [v for item in value for v in _flatten(item)]
    return [value]


def _member(values: Iterable[Any], name: str) -> list[Any]:
    return [v for item in values if isinstance(item, Mapping) and name in item
            for v in _flatten(item[name])]


def _command_name(value: str) -> str:
    value = value.upper()
    return value if value.startswith("CMPP_") else "CMPP_" + value


def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, str) != isinstance(b, str):
        return str(a), str(b)
    return a, b


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def cmp(a: Any, b: Any) -> bool:
        a, b = _coerce(a, b)
        try:
            return bool(op(a, b))
        except TypeError:
            return False
    return cmp


def _contains(a: Any, b: Any) -> bool:
    return isinstance(a, str) and str(b) in a


_COMPARE: dict[type[ast.AST], Callable[[Any, Any], bool]] = {
    ast.Eq: _compare(operator.eq), ast.NotEq: _compare(operator.ne),
    ast.Lt: _compare(operator.lt), ast.LtE: _compare(operator.le),
    ast.Gt: _compare(operator.gt), ast.GtE: _compare(operator.ge),
}


_OP_TEXT: dict[type[ast.AST], str] = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=",
                                      ast.Gt: ">", ast.GtE: ">="}
_NUMPY_OP: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge}


_TOP_TYPES = {
    "frame": "uint", "time": "float (s since 1970)", "session": "uint", "src": "string (ip:port)",
    "dst": "string (ip:port)", "version": 'string ("2.0", "3.0")',
    "command": 'string (CMPP_SUBMIT; SUBMIT and bare SUBMIT work too)', "command_id": "uint",
    "sequence_id": "uint", "total_length": "uint", "request_frame": "uint (on a response)",
    "response_frame": "uint (on a request)", "latency_ms": "float (both sides of a pair)",
    "expert": "list (severity, code, message, field)", "fields": "the body", "long_sms":
    "on the part that completed it (reference, total, frames, text)",
}
_EXTRA_TYPES = {"text": "string (decoded content)", "udh": "reference, total, part",
                "report": "the status report in a DELIVER (its fields)",
                "Msg_Id_parts": "month, day, hour, minute, second, gateway, sequence",
                "trailing": "hex (bytes past the layout)"}


def field_list() -> list[tuple[str, str, str]]:
    """Every name the language knows, as (name, type, where): what ``--list-fields`` prints,
    after ``tshark -G fields``."""
    out = [(name, kind, "record") for name, kind in _TOP_TYPES.items()]
    out += [(alias, "uint", f"header (= {name})") for alias, name in HEADER_ALIASES.items()]
    out += [(name, kind, "fields") for name, kind in _EXTRA_TYPES.items()]
    seen: dict[str, tuple[set[str], set[str]]] = {}
    placed = [(layout, f"{layout.name.removeprefix('CMPP_')} {version.value}")
              for (_command_id, version), layout in sorted(LAYOUTS.items(),
                                                           key=lambda kv: kv[0][0])]
    placed += [(layout, f"report ({layout.name})") for layout in (REPORT_60, REPORT_71, MO_REPORT)]
    for layout, place in placed:
        for f in layout.fields:
            kinds, where = seen.setdefault(f.name, (set(), set()))
            kinds.add(f"{f.kind.value}{f.size * 8 if f.kind.value in ('uint', 'int') else ''}")
            where.add(place)
    for name in sorted(seen):
        kinds, where = seen[name]
        shown = sorted(where)
        listed = ", ".join(shown[:4]) + (f" and {len(shown) - 4} more" if len(shown) > 4 else "")
        out.append((name, "/".join(sorted(kinds)), listed))
    out += [(name, "string" if name.startswith("ip") else "uint", "transport (from src/dst)")
            for name in TRANSPORT]
    return out


def _dotted(node: ast.expr) -> str | None:
    """``ip.src`` for the attribute chain ip → src (None for anything else)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or not parts:
        return None
    return ".".join([node.id, *reversed(parts)])


def _unknown(name: str, vocabulary: Vocabulary = PDU_NAMES) -> str:
    """The error for a name the language does not know, with the nearest known one."""
    import difflib

    transport = list(TRANSPORT) if vocabulary.transport else []
    prefix = name.split(".", 1)[0]
    family = [t for t in transport if t.split(".", 1)[0] == prefix] if "." in name else []
    near = difflib.get_close_matches(name, sorted(vocabulary.names | set(transport)), n=1)
    if family:
        hint = f"; {prefix} has {', '.join(family)}"
    else:
        hint = f"; did you mean {near[0]!r}?" if near else ""
    where = "cmppdissect --list-fields lists them" if vocabulary is PDU_NAMES \
        else "the help screen lists them"
    return f"unknown field {name!r}{hint} ({where})"


class _Compiler:
    """Turns the checked Python AST into closures over a record (no ``eval``)."""

    def __init__(self, anchors: list[tuple[int, int]], source_len: int,
                 vocabulary: Vocabulary = PDU_NAMES) -> None:
        self.anchors = anchors
        self.source_len = source_len
        self.vocabulary = vocabulary
        self.known = vocabulary.names
        self.names: set[str] = set()
        self.warnings: list[FilterError] = []
        self._leaf_names: set[str] | None = None  # names read by the leaf being compiled
        self._leaf_hint: tuple[str, str, tuple[Any, ...]] | None = None
        self._leaf_paths: list[tuple[str, str]] = []  # its field operands: (field|report, name)
        self._steps = 0  # comparisons in the Compare being compiled

    def check_types(self, field: ast.expr, literal: ast.expr) -> None:
        """Warn when a numeric field meets a quoted string (``gateway == "079101"`` is
        compared as text, "79101" against "079101", and never matches)."""
        name = field.id if isinstance(field, ast.Name) else \
            field.attr if isinstance(field, ast.Attribute) else None
        if name is None or name not in self.vocabulary.numeric or name == "command_id":
            return
        if not (isinstance(literal, ast.Constant) and isinstance(literal.value, str)):
            return
        text = literal.value
        hint = f"; write {int(text)} without quotes" if text.isdigit() else ""
        self.warnings.append(self.error(literal, f"{name} is a number: \"{text}\" is "
                                                 f"compared as text{hint}"))

    def error(self, node: ast.AST, message: str) -> FilterError:
        col = getattr(node, "col_offset", 0)
        return FilterError(message, _original_offset(self.anchors, col, 0))

    # boolean level
    def test(self, node: ast.expr) -> Callable[[Record], bool]:
        return self.node(node).fn

    def node(self, node: ast.expr) -> Node:
        """The test of ``node`` with its shape kept (for :meth:`DisplayFilter.masks`)."""
        if isinstance(node, ast.BoolOp):
            parts = tuple(self.node(v) for v in node.values)
            fns = [p.fn for p in parts]
            if isinstance(node.op, ast.And):
                return Node("and", lambda r: all(p(r) for p in fns), parts)
            return Node("or", lambda r: any(p(r) for p in fns), parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.node(node.operand)
            fn = inner.fn
            return Node("not", lambda r: not fn(r), (inner,))
        return self.leaf(node)

    def leaf(self, node: ast.expr) -> Node:
        """A test no further split into and/or/not, with the names it reads."""
        self._leaf_names = set()
        self._leaf_hint = None
        self._leaf_paths = []
        try:
            fn = self.leaf_test(node)
            names = frozenset(self._leaf_names)
        finally:
            self.names |= self._leaf_names
            self._leaf_names = None
        return Node("leaf", fn, (), names, self._leaf_hint, tuple(self._leaf_paths))

    def leaf_test(self, node: ast.expr) -> Callable[[Record], bool]:
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.RShift, ast.LShift)):
            return self.text_match(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            value = node.value
            return lambda r: value
        values = self.values(node)
        if isinstance(node, (ast.Name, ast.Attribute)):
            return lambda r: bool(values(r))  # a bare field tests presence, as in Wireshark
        return lambda r: any(v != 0 for v in values(r))

    def hint(self, op: str, field: ast.expr, literals: tuple[Any, ...]) -> None:
        """Note what a one-step leaf compares (``op`` one of ==, <, contains...), for the
        column path: a header name and a number, or a body field and strings it must hold."""
        name = self.field_name(field)
        if name is not None:
            self._leaf_hint = (op, name, literals)

    @staticmethod
    def field_name(node: ast.expr) -> str | None:
        """The record name a plain field operand reads (``Stat`` for ``report.Stat``)."""
        dotted = _dotted(node)
        if isinstance(node, ast.Name):
            return HEADER_ALIASES.get(node.id, node.id)
        if dotted is not None and dotted.startswith("cmpp.") and dotted.count(".") == 1:
            return HEADER_ALIASES.get(dotted[5:], dotted[5:])
        if dotted is not None and dotted.startswith("report.") and dotted.count(".") == 1:
            return dotted[7:]
        return None

    def text_match(self, node: ast.BinOp) -> Callable[[Record], bool]:
        left = self.values(node.left)
        right = node.right
        if not (isinstance(right, ast.Constant) and isinstance(right.value, (str, int))):
            raise self.error(right, "contains/matches want a string after them")
        if isinstance(node.op, ast.RShift):
            needle = str(right.value)
            self.hint("contains", node.left, (needle,))
            return lambda r: any(_contains(v, needle) for v in left(r))
        try:
            pattern = re.compile(str(right.value))
        except re.error as exc:
            raise self.error(right, f"bad regular expression: {exc}") from None
        return lambda r: any(isinstance(v, str) and pattern.search(v) is not None
                             for v in left(r))

    def compare(self, node: ast.Compare) -> Callable[[Record], bool]:
        operands = [node.left, *node.comparators]
        steps: list[Callable[[Record], bool]] = []
        self._steps = len(node.ops)
        for op, left_node, right_node in zip(node.ops, operands, operands[1:], strict=False):
            steps.append(self.one_comparison(op, left_node, right_node))
        return lambda r: all(s(r) for s in steps)

    def one_comparison(self, op: ast.cmpop, left_node: ast.expr,
                       right_node: ast.expr) -> Callable[[Record], bool]:
        if isinstance(op, (ast.In, ast.NotIn)):
            left = self.values(left_node)
            if not isinstance(right_node, (ast.Set, ast.Tuple, ast.List)):
                raise self.error(right_node, "'in' wants a set like {\"a\", \"b\"}")
            elements = [ast.copy_location(ast.Constant(value=e.id), e)
                        if self.is_command(left_node) and isinstance(e, ast.Name) else e
                        for e in right_node.elts]  # command in {SUBMIT, DELIVER}
            members = [self.literal(e) for e in elements]
            for element in elements:
                self.check_types(left_node, element)
            is_command = self.is_command(left_node)
            if is_command:
                members = [_command_name(m) if isinstance(m, str) else m for m in members]
            eq = _COMPARE[ast.Eq]

            def found(r: Record) -> bool:
                return any(eq(v, m) for v in left(r) for m in members)

            if isinstance(op, ast.In):
                if self._steps == 1 and not is_command:
                    self.hint("in", left_node, tuple(members))
                return found
            return lambda r: bool(left(r)) and not found(r)
        cmp = _COMPARE.get(type(op))
        if cmp is None:
            raise self.error(left_node, "unsupported comparison")
        if self.is_command(left_node) and isinstance(right_node, ast.Name) and \
                right_node.id not in self.known:  # command == SUBMIT: a bare command name
            right_node = ast.copy_location(ast.Constant(value=right_node.id), right_node)
        left, right = self.values(left_node), self.values(right_node)
        self.check_types(left_node, right_node)
        self.check_types(right_node, left_node)
        if self.is_command(left_node) and isinstance(right_node, ast.Constant) and \
                isinstance(right_node.value, str):
            names = [_command_name(right_node.value)]

            def right(r: Record) -> list[Any]:
                return names

        if self._steps == 1 and not self.is_command(left_node) and \
                isinstance(right_node, ast.Constant) and \
                isinstance(right_node.value, (str, int, float)) and \
                not isinstance(right_node.value, bool):
            self.hint(_OP_TEXT[type(op)], left_node, (right_node.value,))
        if isinstance(op, ast.NotEq):
            # Wireshark: "a != b" is true when the field exists and no value equals b.
            eq = _COMPARE[ast.Eq]
            return lambda r: (lv := left(r)) != [] and not any(
                eq(a, b) for a in lv for b in right(r))
        return lambda r: any(cmp(a, b) for a in left(r) for b in right(r))

    @staticmethod
    def is_command(node: ast.expr) -> bool:
        return (isinstance(node, ast.Name) and node.id == "command") or \
            _dotted(node) == "cmpp.command"

    def literal(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float)):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and \
                isinstance(node.operand, ast.Constant) and \
                isinstance(node.operand.value, (int, float)):
            return -node.operand.value
        raise self.error(node, "expected a number or a quoted string")

    # value level: each returns a function record -> list of values
    def values(self, node: ast.expr) -> Values:
        if isinstance(node, ast.Name):
            name = HEADER_ALIASES.get(node.id, node.id)
            if name not in self.known:
                raise self.error(node, _unknown(node.id, self.vocabulary))
            self.names.add(name)
            if self._leaf_names is not None:
                self._leaf_names.add(name)
                self._leaf_paths.append(("field", name))
            return lambda r: _lookup(r, name)
        dotted = _dotted(node)
        if dotted is not None and dotted.startswith("cmpp."):  # Wireshark's protocol prefix
            return self.values(ast.copy_location(ast.Name(id=dotted[5:], ctx=ast.Load()), node))
        if dotted in TRANSPORT and self.vocabulary.transport:
            self.names.update(("src", "dst"))
            if self._leaf_names is not None:
                self._leaf_names.update(("src", "dst"))
                self._leaf_paths.append(("other", dotted))
            return TRANSPORT[dotted]
        if dotted is not None and dotted.split(".", 1)[0] not in self.known:
            raise self.error(node, _unknown(dotted, self.vocabulary))
        if isinstance(node, ast.Attribute):
            base = self.values(node.value)
            attr = node.attr
            if attr not in self.known:
                raise self.error(node, _unknown(attr, self.vocabulary))
            if self._leaf_names is not None:
                last = self._leaf_paths.pop() if self._leaf_paths else ("other", "")
                self._leaf_paths.append(("report", attr) if last == ("field", "report")
                                        else ("other", attr))
            return lambda r: _member(base(r), attr)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "len" and len(node.args) == 1 and not node.keywords:
            arg = node.args[0]
            if not isinstance(arg, (ast.Name, ast.Attribute)):
                raise self.error(arg, "len() wants a field")
            inner = self.raw(arg)
            return lambda r: [len(v) for v in inner(r) if hasattr(v, "__len__")]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd):
            left = self.values(node.left)
            mask = self.literal(node.right)
            if not isinstance(mask, int):
                raise self.error(node.right, "'&' wants an integer mask")
            return lambda r: [v & mask for v in left(r) if isinstance(v, int)]
        value = self.literal(node)
        return lambda r: [value]

    def raw(self, node: ast.Name | ast.Attribute) -> Values:
        """Like :meth:`values` but a list-valued field stays one value (for ``len``)."""
        if isinstance(node, ast.Name):
            self.values(node)  # name check
            name = node.id
            return lambda r: [v for v in [r.get(name, r.get("fields", {}).get(name))]
                              if v is not None]
        return self.values(node)


@dataclass(frozen=True, slots=True)
class Node:
    """One test of a compiled filter with its shape: ``and``/``or``/``not`` over ``parts``, or
    a ``leaf`` (a comparison, a match, a presence test) reading ``names``. ``hint`` says what a
    one-step leaf compares: (op, name, literals), op one of == != < <= > >= in contains."""

    kind: str
    fn: Callable[[Record], bool]
    parts: tuple[Node, ...] = ()
    names: frozenset[str] = frozenset()
    hint: tuple[str, str, tuple[Any, ...]] | None = None
    paths: tuple[tuple[str, str], ...] = ()  # its field operands: ("field"|"report", name)


#: Record keys a store answers from its columns (:class:`FilterColumns`), whatever the row.
HEADER_KEYS = frozenset(RECORD_HEADER_KEYS)
#: Header keys with a number (or nothing) on every row, compared by numpy when a leaf compares
#: one of them with a number.
NUMERIC_KEYS = frozenset({"frame", "time", "session", "command_id", "sequence_id",
                          "total_length", "request_frame", "response_frame", "latency_ms"})


class FilterColumns(Protocol):
    """What :meth:`DisplayFilter.masks` reads of a set of rows, answered by a store from its
    columns and raw bytes without decoding (``cmppdissect.store.RecordColumns``)."""

    def __len__(self) -> int: ...

    def numbers(self, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        """A numeric header key of each row (int64 or float64) and which rows have it (None:
        all), the values being exactly those of the row's record."""
        ...

    def groups(self, names: frozenset[str]) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """The rows grouped by the values of header keys ``names``: each row's group, and for
        each group a dict of those keys as the record has them."""
        ...

    def may_have(self, name: str) -> np.ndarray:
        """Rows whose record may hold body field ``name`` (False: it cannot)."""
        ...

    def may_contain(self, name: str, text: str) -> np.ndarray:
        """Rows where a value of body field ``name`` may be a string holding ``text`` (False:
        none can be)."""
        ...

    def readings(self, name: str, in_report: bool, among: np.ndarray | None = None) -> tuple[
            np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]]]:
        """The value the record of each row (of the rows ``among``, a mask, if given) has for
        body field ``name`` (of ``fields.report`` only, if ``in_report``) as a lookup by name
        finds it, read from the bytes: rows where this cannot be said, and per place (row
        indices, a table of values, each of those rows' index into it, whether it is the
        report's); an array's value is the list of its elements. Every other row's record
        holds no such field."""
        ...

    def record(self, index: int) -> Record:
        """The record of row ``index`` (of these rows), decoded when read past the columns."""
        ...


@dataclass(slots=True)
class Selection:
    """Which of a set of rows a test keeps (``keep``, a mask), how many rows it had to ask
    the test about (``decoded``), and how many errors a tolerant selection counted."""

    keep: np.ndarray
    decoded: int = 0
    errors: int = 0


def select(count: int, masks: Callable[[], tuple[np.ndarray, np.ndarray]],
           test: Callable[[int], bool], *, tolerant: bool = False) -> Selection:
    """The one way a set of ``count`` rows is filtered: ``masks`` says from the columns which
    rows the test may keep and which it surely keeps, and ``test`` (which decodes) decides
    each row left between, by its index. The same rows as ``test`` on every row, when the
    masks are true bounds (:meth:`DisplayFilter.masks`, the TUI's search).

    ``tolerant`` (the TUI: a filter must never take it down): an error of the masks sends
    every row to the test, an error of the test drops its row, each counted in ``errors``;
    otherwise (``-Y``) errors are raised."""
    errors = 0
    try:
        maybe, sure = masks()
    except Exception:
        if not tolerant:
            raise
        errors += 1
        maybe, sure = np.ones(count, dtype=bool), np.zeros(count, dtype=bool)
    keep = sure & maybe
    open_ = np.flatnonzero(maybe & ~sure)
    for i in open_.tolist():
        try:
            keep[i] = bool(test(i))
        except Exception:
            if not tolerant:
                raise
            errors += 1
    return Selection(keep, len(open_), errors)


#: A leaf whose names are all absent from a record is false: each operand that names a field
#: yields no value then, and comparisons, matches and presence tests over no values are false.
#: The column path relies on this to rule out rows that cannot hold a leaf's body fields.
_CONTAINING_OPS = frozenset({"==", "contains", "in"})


def _leaf_masks(leaf: Node, cols: FilterColumns) -> tuple[np.ndarray, np.ndarray]:
    """(may be true, is surely true) of one leaf for every row of ``cols``."""
    n = len(cols)
    names = leaf.names
    if not names:
        value = bool(leaf.fn({}))
        return np.full(n, value), np.full(n, value)
    if names <= HEADER_KEYS:
        hint = leaf.hint
        if hint is not None and hint[0] in _NUMPY_OP and hint[1] in NUMERIC_KEYS:
            (literal,) = hint[2]
            if isinstance(literal, float) or (isinstance(literal, int)
                                              and abs(literal) < 2 ** 53):
                values, present = cols.numbers(hint[1])
                exact = np.asarray(_NUMPY_OP[hint[0]](values, literal), dtype=bool)
                if present is not None:
                    exact &= present
                return exact, exact
        codes, groups = cols.groups(names)
        table = np.array([bool(leaf.fn(g)) for g in groups] + [False], dtype=bool)
        exact = table[codes]
        return exact, exact
    body = names - HEADER_KEYS
    maybe = np.ones(n, dtype=bool)
    for name in body:  # absent, any one of them makes the leaf false
        maybe &= cols.may_have(name)
    hint = leaf.hint
    if hint is not None and hint[0] in _CONTAINING_OPS and hint[1] in body:
        held = np.zeros(n, dtype=bool)
        for literal in hint[2]:
            held |= cols.may_contain(hint[1], str(literal))
        maybe &= held
    if len(leaf.paths) == 1 and leaf.paths[0][0] in ("field", "report") and (
            body == {leaf.paths[0][1]} or (leaf.paths[0][0] == "report" and body == {"report"})):
        return _by_readings(leaf, cols, maybe)
    return maybe, np.zeros(n, dtype=bool)


def _by_readings(leaf: Node, cols: FilterColumns, among: np.ndarray) -> tuple[
        np.ndarray, np.ndarray]:
    """(may be true, is surely true) of a leaf on one body field, for the rows of ``among``
    (the others: false): where the bytes say the record's value, the leaf's own test on a
    record holding just that value, there, each distinct value tested once; a row whose
    record holds no such field makes the leaf false; the rest stay open."""
    where, name = leaf.paths[0]
    sure = np.zeros(len(among), dtype=bool)
    if not among.any():
        return among, sure
    unknown, found = cols.readings(name, where == "report", among)
    possible = unknown & among
    for rows, table, codes, in_report in found:
        verdict = np.array([leaf.fn({"fields": {"report": {name: v}} if in_report
                                     else {name: v}}) for v in table.tolist()], dtype=bool)
        held = verdict[codes]
        possible[rows] = held
        sure[rows] = held
    return possible, sure


def _masks(node: Node, cols: FilterColumns) -> tuple[np.ndarray, np.ndarray]:
    if node.kind == "leaf":
        return _leaf_masks(node, cols)
    if node.kind == "not":
        maybe, sure = _masks(node.parts[0], cols)
        return ~sure, ~maybe
    results = [_masks(p, cols) for p in node.parts]
    maybe, sure = results[0]
    for m, s in results[1:]:
        if node.kind == "and":
            maybe, sure = maybe & m, sure & s
        else:
            maybe, sure = maybe | m, sure | s
    return maybe, sure


class DisplayFilter:
    """A compiled filter: call it with a record dict, or ask :meth:`masks` over columns."""

    __slots__ = ("_test", "expression", "names", "tree", "warnings")

    def __init__(self, expression: str, test: Callable[[Record], bool],
                 names: frozenset[str] = frozenset(),
                 warnings: tuple[FilterError, ...] = (), tree: Node | None = None) -> None:
        self.expression = expression
        self._test = test
        self.names = names  # the field names the expression reads
        self.warnings = warnings  # valid, but likely not what was meant (with the column)
        self.tree = tree  # the test's shape, for the column path (None: always true)

    def masks(self, cols: FilterColumns) -> tuple[np.ndarray, np.ndarray]:
        """Which rows of ``cols`` the filter may keep and which it surely keeps, from the
        columns alone: rows in neither need no decode, rows in both none either; only the
        rows between need the record (``self(record)`` decides them).

        Why it is the same answer as the record's: a leaf on header keys is evaluated on the
        record's own values (numpy for a number compared with a number, else the leaf's own
        test once per distinct value); a leaf on body fields is "maybe" where the row may hold
        them (and may hold the text it compares with) and "no" elsewhere, which the leaf's
        test would also say; ``and``/``or``/``not`` combine both bounds.
        """
        n = len(cols)
        if self.tree is None:
            return np.ones(n, dtype=bool), np.ones(n, dtype=bool)
        return _masks(self.tree, cols)

    def select(self, cols: FilterColumns, *, tolerant: bool = False) -> Selection:
        """The rows of ``cols`` the filter keeps: :meth:`masks`, then the record of each row
        they leave open (:func:`select`)."""
        return select(len(cols), lambda: self.masks(cols), lambda i: self(cols.record(i)),
                      tolerant=tolerant)

    @property
    def needs_pairing(self) -> bool:
        """True when a request's verdict depends on its response (e.g. ``latency_ms``)."""
        return not self.names.isdisjoint(PAIRING_NAMES)

    def __call__(self, record: Record) -> bool:
        return self._test(record)

    def __repr__(self) -> str:
        return f"DisplayFilter({self.expression!r})"


def compile_filter(expression: str, vocabulary: Vocabulary = PDU_NAMES) -> DisplayFilter:
    """Parse and check ``expression``; raises :class:`FilterError` with the column at fault.
    ``vocabulary``: the names it may read (a PDU record's by default)."""
    if not expression.strip():
        return DisplayFilter(expression, lambda r: True)
    source, anchors = _translate(expression)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (RecursionError, MemoryError):  # Python's parser gives up before our limit
        raise FilterError(_TOO_DEEP, 0) from None
    except SyntaxError as exc:
        if not exc.offset:  # Python's way of saying "ran out of input"
            raise FilterError("the expression is incomplete", len(expression.rstrip())) from None
        offset = exc.offset - 1 + (len(source) - len(source.lstrip()))
        raise FilterError(_syntax_message(exc), _original_offset(
            anchors, offset, len(expression))) from None
    if _depth(tree.body) > MAX_DEPTH:
        raise FilterError(_TOO_DEEP, 0)
    compiler = _Compiler(anchors, len(expression), vocabulary)
    node = tree.body
    _shift_offsets(tree, len(source) - len(source.lstrip()))
    shape = compiler.node(node)
    return DisplayFilter(expression, shape.fn, frozenset(compiler.names),
                         tuple(compiler.warnings), shape)


MAX_DEPTH = 100
"""How deeply a filter may nest (parentheses, ``not``, operators): its test is a tree of
closures evaluated recursively, so a deeper one would exhaust Python's stack on every PDU."""
_TOO_DEEP = f"the filter nests deeper than {MAX_DEPTH} levels"


def _depth(node: ast.AST) -> int:
    """How many expressions deep a tree nests (operators and contexts do not count), walked
    without recursion."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(item)
                     if isinstance(child, ast.expr))
    return deepest


def _shift_offsets(tree: ast.AST, shift: int) -> None:
    for node in ast.walk(tree):
        if hasattr(node, "col_offset"):
            node.col_offset += shift


def _syntax_message(exc: SyntaxError) -> str:
    msg = exc.msg or "syntax error"
    if msg.startswith("invalid syntax"):
        return "syntax error"
    return msg


__all__ = ["HEADER_KEYS", "KNOWN_NAMES", "MAX_DEPTH", "NUMERIC_KEYS", "PAIRING_NAMES",
           "PDU_NAMES", "DisplayFilter", "FilterColumns", "FilterError", "Node", "Selection",
           "Vocabulary", "compile_field", "compile_filter", "select"]


def compile_field(name: str) -> Callable[[Record], list[Any]]:
    """A getter of one field's values from a record, for ``-T fields -e NAME``: any name the
    filter language knows (``Msg_Id``, ``cmpp.Result``, ``report.Stat``, ``ip.src``), by the
    same rules as a filter reads it. Raises :class:`FilterError` for an unknown name."""
    text = name.strip()
    if not text:
        raise FilterError("an empty field name", 0)
    source, anchors = _translate(text)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        raise FilterError(f"{name!r} is not a field name", 0) from None
    node = tree.body
    if not isinstance(node, (ast.Name, ast.Attribute)):
        raise FilterError(f"{name!r} is not a field name", 0)
    return _Compiler(anchors, len(text)).values(node)
