"""The fast decoder: layouts compiled into ``struct`` plans, no Scapy.

The capture engine decodes millions of PDUs, and Scapy's per-field objects cost about a
hundred times more than one ``Struct.unpack_from`` over a run of fixed fields. So each layout of
:mod:`~cmppdissect.protocol.layouts` is compiled once into a plan of steps (a fixed run, a
string array, Msg_Content) and the plan is interpreted over the bytes. The Scapy layers are
built from the same layouts, and a test proves that both decode every PDU alike.

Nothing here raises on bad bytes: a short, long or odd body is decoded as far as it goes and
the deviation becomes a :class:`~cmppdissect.protocol.expert.Finding` (reference §11).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from cmppdissect.protocol import content as content_mod
from cmppdissect.protocol.auth import AUTHENTICATOR_LEN
from cmppdissect.protocol.commands import HEADER_LEN, KNOWN_COMMANDS, CommandId, command_name
from cmppdissect.protocol.expert import Finding, Severity
from cmppdissect.protocol.layouts import (
    CONTENT_LIMIT,
    CONTENT_LIMIT_DEFAULT,
    LAYOUTS,
    VERSIONED_COMMANDS,
    Field,
    Kind,
    Layout,
    expects_report,
    report_layout,
)
from cmppdissect.protocol.msgid import byte_reversed, split_msg_id
from cmppdissect.protocol.version import Version, version_from_byte

_HEADER = struct.Struct(">III")
_FMT = {(Kind.UINT, 1): "B", (Kind.UINT, 2): "H", (Kind.UINT, 4): "I", (Kind.UINT, 8): "Q",
        (Kind.INT, 4): "i"}

_FIXED, _ARRAY, _CONTENT = 0, 1, 2
# Plain ints for the per-PDU comparisons: reading an IntEnum member costs ~0.1 µs each time.
_CONNECT, _SUBMIT = int(CommandId.CMPP_CONNECT), int(CommandId.CMPP_SUBMIT)
_CONNECT_RESP = int(CommandId.CMPP_CONNECT_RESP)
_LOGIN_LAYOUTS = frozenset({"CMPP_CONNECT", "CMPP_CONNECT_RESP"})
_V2, _V3 = Version.V2_0, Version.V3_0


def _fmt(f: Field) -> str:
    if f.kind in (Kind.STR, Kind.BIN):
        return f"{f.size}s"
    return _FMT[(f.kind, f.size)]


@dataclass(frozen=True, slots=True)
class _Fixed:
    """A run of fixed-size fields decoded by one unpack_from."""

    unpacker: struct.Struct
    names: tuple[str, ...]
    strs: tuple[int, ...]  # indices of Octet String values to strip of NUL padding
    fields: tuple[Field, ...]
    singles: tuple[struct.Struct, ...]  # per-field, for bodies that end inside the run
    counters: tuple[tuple[str, int], ...]  # (name, offset in run) of count/length fields


@dataclass(frozen=True, slots=True)
class Plan:
    layout: Layout
    steps: tuple[Any, ...]
    fixed: int | None  # body size when nothing varies
    tail: int  # bytes of optional trailing fields
    nul_fields: tuple[Field, ...]  # fields checked for a missing NUL terminator
    fast: Any  # compiled decoder for complete bodies: body -> (fields, end) | None
    has_content: bool
    msg_ids: tuple[str, ...]  # the Msg_Id fields, checked for a byte order gone wrong (D22)
    checks: bool = False  # whether _check_fields has anything to look at (set once, below)

    def measure(self, body: bytes) -> int | None:
        """Body size this layout implies for these bytes, or None if a count is unreadable."""
        if self.fixed is not None:
            return self.fixed
        off = 0
        n = len(body)
        values: dict[str, int] = {}
        for step in self.steps:
            if isinstance(step, _Fixed):
                for name, rel in step.counters:
                    if off + rel >= n:
                        return None
                    values[name] = body[off + rel]
                off += step.unpacker.size
            elif step[0] == _ARRAY:
                off += step[2] * values[step[3]]
            else:
                off += values[step[2]]
        return off


def compile_layout(layout: Layout) -> Plan:
    steps: list[Any] = []
    run: list[Field] = []
    counted = {f.count_from for f in layout.fields if f.count_from} | {
        f.length_from for f in layout.fields if f.length_from}

    def flush() -> None:
        if not run:
            return
        st = struct.Struct(">" + "".join(_fmt(f) for f in run))
        offs, counters, o = [], [], 0
        for f in run:
            offs.append(o)
            if f.name in counted:
                counters.append((f.name, o))
            o += f.size
        steps.append(_Fixed(
            unpacker=st,
            names=tuple(f.name for f in run),
            strs=tuple(i for i, f in enumerate(run) if f.kind is Kind.STR),
            fields=tuple(run),
            singles=tuple(struct.Struct(">" + _fmt(f)) for f in run),
            counters=tuple(counters),
        ))
        run.clear()

    for f in layout.fields:
        if f.kind is Kind.STR_ARRAY:
            flush()
            steps.append((_ARRAY, f.name, f.size, f.count_from, f))
        elif f.kind is Kind.CONTENT:
            flush()
            steps.append((_CONTENT, f.name, f.length_from, f))
        else:
            run.append(f)
    flush()
    return Plan(layout, tuple(steps), layout.fixed_size, layout.tail_size,
                tuple(f for f in layout.fields if f.nul_expected), _generate(layout, steps),
                any(f.kind is Kind.CONTENT for f in layout.fields),
                tuple(f.name for f in layout.fields if f.display == "msg_id"),
                checks=any(f.nul_expected or f.kind is Kind.CONTENT or f.display == "msg_id"
                           for f in layout.fields) or layout.name in _LOGIN_LAYOUTS)


def _generate(layout: Layout, steps: list[Any]) -> Any:
    """Compile a plan into one Python function: straight-line unpacks, no per-field loop.

    It handles only bodies that hold every field; anything shorter returns None and goes to
    :func:`run_plan`, which decodes field by field and says where the body ended.
    """
    env: dict[str, Any] = {}
    lines = ["def decode(body):", "    n = len(body)", "    off = 0"]
    items: list[str] = []
    var: dict[str, str] = {}
    for i, step in enumerate(steps):
        if isinstance(step, _Fixed):
            env[f"U{i}"] = step.unpacker.unpack_from
            names = [f"v{i}_{j}" for j in range(len(step.names))]
            lines += [f"    if off + {step.unpacker.size} > n: return None",
                      f"    {', '.join(names)}, = U{i}(body, off)",
                      f"    off += {step.unpacker.size}"]
            strs = []
            for j, (name, f) in enumerate(zip(step.names, step.fields, strict=True)):
                var[name] = names[j]
                if f.kind is Kind.STR:
                    lines.append(f"    s{i}_{j} = {names[j]}.rstrip(b'\\0')")
                    strs.append(f"b'\\0' in s{i}_{j}")
                    items.append(f"{name!r}: s{i}_{j}")
                else:
                    items.append(f"{name!r}: {names[j]}")
            if strs:
                # A NUL left inside after the padding is gone: bytes after the terminator
                # (D21), which run_plan cuts off and reports.
                lines.append(f"    if {' or '.join(strs)}: return None")
        elif step[0] == _ARRAY:
            _, name, size, count_name, _f = step
            lines += [f"    end = off + {size} * {var[count_name]}",
                      "    if end > n: return None",
                      f"    a{i} = [body[k:k + {size}].rstrip(b'\\0') "
                      f"for k in range(off, end, {size})]",
                      f"    if any(b'\\0' in x for x in a{i}): return None",
                      "    off = end"]
            items.append(f"{name!r}: a{i}")
        else:
            _, name, length_name, _f = step
            lines += [f"    c{i} = body[off:off + {var[length_name]}]",
                      f"    off += {var[length_name]}",
                      "    if off > n: return None"]
            items.append(f"{name!r}: c{i}")
    lines.append(f"    return {{{', '.join(items)}}}, off")
    exec(compile("\n".join(lines), f"<cmpp layout {layout.name}>", "exec"), env)
    return env["decode"]


PLANS: dict[int, Plan] = {}  # keyed by id(layout): layouts shared by both versions compile once


def plan_for(layout: Layout) -> Plan:
    plan = PLANS.get(id(layout))
    if plan is None:
        plan = PLANS[id(layout)] = compile_layout(layout)
    return plan


class _Plans(dict[tuple[int, Version], Plan]):
    """(Command_Id, Version) -> Plan, each compiled when first asked for: a run that meets six
    commands compiles six plans, not sixty (start-up time is the CLI's time)."""

    def __missing__(self, key: tuple[int, Version]) -> Plan:
        plan = self[key] = plan_for(LAYOUTS[key])
        return plan


PLAN_FOR: dict[tuple[int, Version], Plan] = _Plans()


@dataclass(slots=True)
class BodyResult:
    fields: dict[str, Any]
    end: int  # body offset where decoding stopped
    stopped_at: Field | None  # the field the body ended inside/before, if it ended early
    # Octet Strings with bytes after their NUL terminator (D21): (field, element of an array
    # or None, offset of those bytes in the field, the bytes, NULs around them stripped).
    strays: list[tuple[Field, int | None, int, bytes]] = field(default_factory=list)


def cut_at_nul(raw: bytes) -> tuple[bytes, int, bytes]:
    """An Octet String's value (up to its first NUL, D21) and what else the field holds after
    it: (value, offset of the first stray byte, the stray bytes without NUL padding)."""
    head, _sep, rest = raw.partition(b"\0")
    stray = rest.strip(b"\0")
    if not stray:
        return head, -1, b""
    return head, len(head) + 1 + rest.index(stray[:1]), stray


def run_plan(plan: Plan, body: bytes) -> BodyResult:
    """Decode ``body`` with ``plan`` as far as the bytes go."""
    fields: dict[str, Any] = {}
    strays: list[tuple[Field, int | None, int, bytes]] = []
    off = 0
    n = len(body)
    for step in plan.steps:
        if isinstance(step, _Fixed):
            st = step.unpacker
            if off + st.size <= n:
                vals = st.unpack_from(body, off)
                fields.update(zip(step.names, vals, strict=True))
                for i in step.strs:
                    fields[step.names[i]] = _string(vals[i], step.fields[i], None, strays)
                off += st.size
                continue
            for f, single in zip(step.fields, step.singles, strict=True):
                if off + single.size > n:
                    return BodyResult(fields, off, f, strays)
                (val,) = single.unpack_from(body, off)
                fields[f.name] = _string(val, f, None, strays) if f.kind is Kind.STR else val
                off += single.size
        elif step[0] == _ARRAY:
            _, name, size, count_name, f = step
            items: list[bytes] = []
            for i in range(fields[count_name]):
                if off + size > n:
                    fields[name] = items
                    return BodyResult(fields, off, f, strays)
                items.append(_string(body[off:off + size], f, i, strays))
                off += size
            fields[name] = items
        else:
            _, name, length_name, f = step
            length = fields[length_name]
            fields[name] = body[off:off + length]
            if off + length > n:
                return BodyResult(fields, n, f, strays)
            off += length
    return BodyResult(fields, off, None, strays)


def _string(raw: bytes, f: Field, index: int | None,
            strays: list[tuple[Field, int | None, int, bytes]]) -> bytes:
    value, at, stray = cut_at_nul(raw)
    if stray:
        strays.append((f, index, at, stray))
    return value


# -- version choice -----------------------------------------------------------------------------

# Known real-world reasons for a body that fits the other version's layout (reference §11).
_MISMATCH_CAUSE = {
    (int(CommandId.CMPP_CANCEL_RESP), Version.V2_0): "SMSGate style: its 3.0 CANCEL_RESP codec "
                                                     "serves 2.0 sessions too (D1)",
}


def choose_layout(
    command_id: int, body: bytes, hint: Version | None = None
) -> tuple[Version | None, Layout | None, list[Finding]]:
    """Pick the layout that explains ``body``, preferring ``hint`` (the session's version).

    Lengths decide where the two versions differ (CONNECT_RESP 30 vs 33, SUBMIT 138+21N+L vs
    163+32N+L, ...). A body that only fits the other version's layout is decoded with it and
    flagged, because senders do mix them (a 16-byte CANCEL_RESP in a 2.0 session, D1).
    """
    findings: list[Finding] = []
    if command_id not in VERSIONED_COMMANDS:
        layout = LAYOUTS.get((command_id, hint or Version.V2_0))
        return hint, layout, findings
    n = len(body)
    if hint is not None and PLAN_FOR[(command_id, hint)].measure(body) == n:
        return hint, LAYOUTS[(command_id, hint)], findings  # the common case: one measure
    order = (hint, hint.other) if hint else (Version.V2_0, Version.V3_0)
    plans = {v: PLAN_FOR[(command_id, v)] for v in order}
    needs = {v: plans[v].measure(body) for v in order}
    exact = [v for v in order if needs[v] == n]
    chosen: Version | None
    if exact:
        chosen = exact[0]
        if len(exact) == 2 and hint is None:
            findings.append(Finding(
                Severity.CHAT, "version-ambiguous",
                "body fits both the 2.0 and the 3.0 layout; decoded as 2.0"))
    else:
        tailless = [v for v in order if needs[v] is not None
                    and needs[v] - plans[v].tail == n]  # type: ignore[operator]
        if tailless:
            chosen = tailless[0]
        elif hint is not None:
            chosen = hint
        else:
            known = [(abs(need - n), v) for v, need in needs.items() if need is not None]
            chosen = min(known)[1] if known else Version.V2_0
    if hint is not None and chosen is not hint:
        cause = _MISMATCH_CAUSE.get((command_id, hint), "the session uses the other version")
        findings.append(Finding(
            Severity.WARN, "layout-version-mismatch",
            f"{command_name(command_id)} of {HEADER_LEN + n} bytes fits the {chosen} layout "
            f"in a {hint} session; {cause}"))
    return chosen, LAYOUTS[(command_id, chosen)], findings


# -- the decoded PDU ----------------------------------------------------------------------------


@dataclass(slots=True)
class DecodedPdu:
    """One PDU: header, body fields by spec name, the status report if any, and findings.

    Octet Strings are ``bytes`` with the NUL padding stripped (lossless: the padding is all
    NUL), arrays are lists, integers are ``int``. Text is decoded on demand by
    :attr:`content`, so the hot path never pays for it.
    """

    Total_Length: int
    Command_Id: int
    Sequence_Id: int
    version: Version | None
    fields: dict[str, Any]
    report: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)
    layout: Layout | None = None
    raw: bytes = b""
    _content: Any = field(default=None, repr=False, compare=False)  # decoded once, on demand

    @property
    def command(self) -> str:
        return command_name(self.Command_Id)

    @property
    def content(self) -> content_mod.DecodedContent | None:
        """Msg_Content decoded by Msg_Fmt with its UDH, or None (no content, or a report)."""
        raw = self.fields.get("Msg_Content")
        if raw is None or self.report is not None:
            return None
        if self._content is None or self._content[0] is not raw:
            # Cached with the bytes it was made from: a caller that edits ``fields`` gets a
            # fresh decode.
            self._content = (raw, content_mod.decode_content(
                raw, self.fields.get("Msg_Fmt", 4), self.fields.get("TP_udhi", 0),
                Pk_total=self.fields.get("Pk_total"), Pk_number=self.fields.get("Pk_number")))
        decoded: content_mod.DecodedContent = self._content[1]
        return decoded


def decode_header(buf: bytes) -> tuple[int, int, int]:
    """Total_Length, Command_Id, Sequence_Id of the 12 bytes at the start of ``buf``."""
    total, cmd, seq = _HEADER.unpack_from(buf, 0)
    return total, cmd, seq


def decode_pdu(buf: bytes, hint: Version | None = None) -> DecodedPdu:
    """Decode one PDU from the start of ``buf`` (a complete PDU; extra bytes are ignored).

    ``hint`` is the session's version; without one the version comes from the Version byte
    (CONNECT) or from the lengths. Never raises.
    """
    n = len(buf)
    if n < HEADER_LEN:
        return DecodedPdu(0, 0, 0, hint, {}, findings=[Finding(
            Severity.ERROR, "short-header",
            f"only {n} bytes: a CMPP header needs {HEADER_LEN}")], raw=bytes(buf))
    total, cmd, seq = _HEADER.unpack_from(buf, 0)
    findings: list[Finding] = []
    if HEADER_LEN <= total <= n:
        raw = buf if total == n and type(buf) is bytes else bytes(buf[:total])
        body = raw[HEADER_LEN:]
    elif total < HEADER_LEN:
        findings.append(Finding(Severity.ERROR, "total-length-short",
                                f"Total_Length {total} is below the 12-byte header"))
        raw, body = bytes(buf[:HEADER_LEN]), b""
    else:
        findings.append(Finding(Severity.ERROR, "pdu-truncated",
                                f"Total_Length {total} but only {n} bytes present"))
        raw = bytes(buf)
        body = raw[HEADER_LEN:]
    if cmd not in KNOWN_COMMANDS:
        findings.append(Finding(Severity.WARN, "unknown-command",
                                f"unknown Command_Id 0x{cmd:08X}; body shown as bytes"))
        return DecodedPdu(total, cmd, seq, hint, {"body": body}, findings=findings, raw=raw)
    if cmd == _CONNECT and len(body) > 22:
        # The Version byte outranks a session hint for the CONNECT that carries it. In
        # CONNECT_RESP it is the server's highest version, not the layout: lengths decide there.
        hint = version_from_byte(body[22]) or hint
    size = len(body)
    if hint is not None:
        # The engine's everyday case: the session's layout explains every byte. That is what
        # choose_layout would conclude too (its measure() equals the compiled decoder's end
        # offset), so its work is skipped: about 1 µs of a 4 µs decode.
        plan = PLAN_FOR[(cmd, hint)]
        quick = plan.fast(body)
        if quick is not None and quick[1] == size:
            pdu = DecodedPdu(total, cmd, seq, hint, quick[0], None, findings, plan.layout, raw)
            if plan.checks:
                _check_fields(pdu, plan)
            return pdu
    version, _layout, chosen = choose_layout(cmd, body, hint)
    if chosen:
        findings += chosen
    plan = PLAN_FOR[(cmd, version or _V2)]
    quick = plan.fast(body)
    if quick is not None and quick[1] == size:
        pdu = DecodedPdu(total, cmd, seq, version, quick[0], None, findings, plan.layout, raw)
    else:
        result = run_plan(plan, body)
        pdu = DecodedPdu(total, cmd, seq, version, result.fields, None, findings, plan.layout,
                         raw)
        _check_extent(pdu, plan.layout, version, body, result)
        _stray_findings(pdu.findings, result.strays, version, "")
    if plan.checks:
        _check_fields(pdu, plan)
    return pdu


def _stray_findings(findings: list[Finding], strays: list[tuple[Field, int | None, int, bytes]],
                    version: Version | None, where: str) -> None:
    """What followed a string's NUL terminator (D21): not part of its value, shown here. In
    an array of numbers it may be a number of its own (a warning): a 32-byte 3.0 slot whose
    stray bytes start at 21 is the 2.0 spacing, as one client library lays out group sends."""
    for f, index, at, stray in strays:
        name = f.name if index is None else f"{f.name}[{index}]"
        text = stray.decode("ascii", "backslashreplace")
        message = (f"{where}{name} ends at its NUL terminator; {len(stray)} more byte(s) follow "
                   f"at offset {at} of its {f.size}: '{text}' ({stray.hex()})")
        if index is not None and f.size == 32 and at == 21:
            message += (": recipients laid out 21 bytes apart, as in 2.0, in a 3.0 PDU "
                        "(a client library's bug): this may be another recipient")
        findings.append(Finding(Severity.WARN if index is not None else Severity.NOTE,
                                "bytes-after-nul", message, f.name))


def _check_extent(pdu: DecodedPdu, layout: Layout, version: Version | None, body: bytes,
                  result: BodyResult) -> None:
    name = f"{layout.name}" + (f" {version}" if version else "")
    stop = result.stopped_at
    if stop is not None and stop.tail and result.end == len(body):
        # Only the optional trailing field is missing: a known sender habit, not corruption.
        absent = layout.fields[layout.fields.index(stop):]
        if all(f.tail for f in absent):
            pdu.findings.append(Finding(
                Severity.WARN if stop.size > 1 else Severity.NOTE, "missing-tail",
                f"{name} lacks its trailing {stop.name} ({stop.size} bytes); "
                f"some senders omit it", stop.name))
            return
    if stop is not None:
        pdu.findings.append(Finding(
            Severity.ERROR, "body-short",
            f"Total_Length {pdu.Total_Length} ends the body inside {stop.name}: the {name} "
            f"layout needs more bytes", stop.name))
    elif result.end < len(body):
        extra = len(body) - result.end
        pdu.fields["trailing"] = body[result.end:]
        pdu.findings.append(Finding(
            Severity.ERROR, "body-long",
            f"Total_Length {pdu.Total_Length} is {extra} bytes longer than the {name} layout "
            f"({HEADER_LEN + result.end} bytes)"))




def _byte_order(findings: list[Finding], name: str, value: int, where: str) -> None:
    """A Msg_Id whose bytes came in the wrong order (D22): said, with the reading that makes
    sense; the value stays the spec's big-endian reading."""
    reversed_id = byte_reversed(value)
    if reversed_id is None:
        return
    impossible = ", ".join(split_msg_id(value).impossible_time)
    findings.append(Finding(
        Severity.WARN, "msgid-byte-order",
        f"{where}{name} {value} read big-endian as the spec says has impossible time parts "
        f"({impossible}); read little-endian it is {reversed_id.raw} ({reversed_id}): the "
        "sender writes body integers little-endian (reference D22). Reports are matched by "
        "the bytes as sent", name))


def _check_fields(pdu: DecodedPdu, plan: Plan) -> None:
    fields = pdu.fields
    findings = pdu.findings
    layout = plan.layout
    for name in plan.msg_ids:
        value = fields.get(name)
        if value is not None:
            _byte_order(findings, name, value, "")
    for f in plan.nul_fields:
        value = fields.get(f.name)
        if value is not None:
            # A stripped value as long as its field had no NUL; arrays: any element.
            full = (len(value) == f.size if isinstance(value, bytes)
                    else f.size in map(len, value))
            if full:
                findings.append(Finding(
                    Severity.CHAT, "no-nul",
                    f"{f.name} fills all {f.size} bytes with no NUL terminator", f.name))
    cmd = pdu.Command_Id
    if (cmd == _CONNECT and "Version" in fields
            and version_from_byte(fields["Version"]) is None):
        findings.append(Finding(
            Severity.NOTE, "version-byte",
            f"Version byte 0x{fields['Version']:02X} names no CMPP version (Huawei API "
            f"sends 0x01, SMSGate accepts 0x00 and 0x7F); version inferred from lengths",
            "Version"))
    if (cmd == _CONNECT_RESP and fields.get("Status") == 0
            and fields.get("AuthenticatorISMG") == bytes(AUTHENTICATOR_LEN)):
        findings.append(Finding(
            Severity.WARN, "auth-ismg-zero",
            "AuthenticatorISMG is all zero although Status is 0: the ISMG did not authenticate "
            "itself, so the client cannot tell it from an impostor (reference D24)",
            "AuthenticatorISMG"))
    content = fields.get("Msg_Content")
    if content is None:
        return
    if expects_report(layout, fields):
        rep = report_layout(layout, fields, len(content))
        if rep is None:
            findings.append(Finding(
                Severity.ERROR, "report-size",
                f"status report of {len(content)} bytes: expected 60 or 71", "Msg_Content"))
        else:
            rep_plan = plan_for(rep)
            quick = rep_plan.fast(content)
            if quick is not None:
                pdu.report = quick[0]
            else:
                result = run_plan(rep_plan, content)
                pdu.report = result.fields
                _stray_findings(findings, result.strays, pdu.version, "the status report's ")
            for name in rep_plan.msg_ids:
                if name in pdu.report:
                    _byte_order(findings, name, pdu.report[name], "the status report's ")
            expected = 60 if pdu.version is _V2 else 71
            if layout.content_rule == "deliver" and pdu.version and len(content) != expected:
                findings.append(Finding(
                    Severity.NOTE, "report-version",
                    f"{len(content)}-byte status report in a {pdu.version} DELIVER "
                    f"(spec: {expected}); decoded by Msg_Length (D3)", "Msg_Content"))
        return
    fmt = fields.get("Msg_Fmt", 0)
    limit = CONTENT_LIMIT.get(fmt, CONTENT_LIMIT_DEFAULT)
    if fields.get("Msg_Length", 0) > limit:
        findings.append(Finding(
            Severity.WARN, "msg-length",
            f"Msg_Length {fields['Msg_Length']} exceeds {limit} for Msg_Fmt {fmt}",
            "Msg_Length"))
    recipients = fields.get("DestUsr_tl")
    if recipients is not None and not 1 <= recipients < 100:
        findings.append(Finding(
            Severity.NOTE, "destusr-tl",
            f"DestUsr_tl {recipients}: the spec says at least 1 and fewer than 100",
            "DestUsr_tl"))
    if (cmd == _SUBMIT and pdu.version is _V3
            and fields.get("Registered_Delivery") == 2):
        findings.append(Finding(
            Severity.NOTE, "registered-delivery-2",
            "Registered_Delivery 2 (SMC billing record) was removed in 3.0",
            "Registered_Delivery"))
    decoded = pdu.content
    if decoded is not None:
        findings.extend(decoded.findings)
