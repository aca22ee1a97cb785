"""One-line descriptions of a PDU for list rows: its key fields and its result.

Everything returned here is display text that came off the wire, already made inert by
:func:`~cmppdissect.output.sanitize.safe_text`; widgets still show it through ``rich.text.Text``
so that brackets stay brackets.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cmppdissect.output.sanitize import safe_text, wire_str
from cmppdissect.protocol.codes import code_name
from cmppdissect.protocol.commands import CommandId
from cmppdissect.protocol.decode import DecodedPdu
from cmppdissect.protocol.layouts import RESULT_FIELDS, Kind, result_of
from cmppdissect.protocol.timefmt import format_timestamp

PREVIEW = 60  # characters of SMS text shown in a row


def _s(value: Any) -> str:
    if isinstance(value, bytes):
        return wire_str(value)
    return safe_text(str(value))


def _quote(text: str | None, limit: int = PREVIEW) -> str:
    if text is None:
        return ""
    text = safe_text(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"“{text}”"


def _content(pdu: DecodedPdu) -> str:
    content = pdu.content
    if content is None:
        return ""
    part = ""
    if content.udh is not None and content.udh.concat is not None:
        c = content.udh.concat
        part = f"[{c.part}/{c.total}] "
    if content.text is None:
        return f"{part}{len(content.payload)} bytes {content.encoding}"
    return part + _quote(content.text)


def _dests(values: list[bytes]) -> str:
    if not values:
        return "-"
    more = f" +{len(values) - 1}" if len(values) > 1 else ""
    return wire_str(values[0]) + more


def _connect(f: dict[str, Any], pdu: DecodedPdu) -> str:
    stamp = format_timestamp(f.get("Timestamp", 0)) or str(f.get("Timestamp", ""))
    return f"SP {_s(f.get('Source_Addr', b''))} Version 0x{f.get('Version', 0):02X} at {stamp}"


def _connect_resp(f: dict[str, Any], pdu: DecodedPdu) -> str:
    return f"Version 0x{f.get('Version', 0):02X}"


def _submit(f: dict[str, Any], pdu: DecodedPdu) -> str:
    rd = " report" if f.get("Registered_Delivery") == 1 else ""
    return (f"{_s(f.get('Src_Id', b''))} → {_dests(f.get('Dest_terminal_Id', []))}{rd} "
            f"{_content(pdu)}")


def _msg_id(f: dict[str, Any], pdu: DecodedPdu) -> str:
    return f"Msg_Id {f['Msg_Id']}" if "Msg_Id" in f else ""


def _deliver(f: dict[str, Any], pdu: DecodedPdu) -> str:
    rep = pdu.report
    if rep is not None:
        return (f"report {_s(rep.get('Stat', b''))} for Msg_Id {rep.get('Msg_Id', '?')} "
                f"{_s(rep.get('Dest_terminal_Id', b''))}")
    return (f"{_s(f.get('Src_terminal_Id', b''))} → {_s(f.get('Dest_Id', b''))} "
            f"{_content(pdu)}")


def _fwd(f: dict[str, Any], pdu: DecodedPdu) -> str:
    return (f"{_s(f.get('Source_Id', b''))} → {_s(f.get('Destination_Id', b''))} "
            f"type {f.get('Msg_Fwd_Type', '?')} {_content(pdu)}")


def _generic(f: dict[str, Any], pdu: DecodedPdu) -> str:
    layout = pdu.layout
    parts: list[str] = []
    if layout is None:
        body = f.get("body", b"")
        return f"{len(body)} bytes: {body[:16].hex()}" if body else ""
    for field in layout.fields:
        if field.name in RESULT_FIELDS or field.name not in f or field.tail:
            continue
        value = f[field.name]
        if field.kind is Kind.BIN:
            continue
        if field.kind is Kind.STR_ARRAY:
            value = _dests(value)
        parts.append(f"{field.name}={_s(value)}")
        if len(parts) == 3:
            break
    return " ".join(parts)


_INFO: dict[int, Callable[[dict[str, Any], DecodedPdu], str]] = {
    CommandId.CMPP_CONNECT: _connect,
    CommandId.CMPP_CONNECT_RESP: _connect_resp,
    CommandId.CMPP_SUBMIT: _submit,
    CommandId.CMPP_SUBMIT_RESP: _msg_id,
    CommandId.CMPP_DELIVER: _deliver,
    CommandId.CMPP_DELIVER_RESP: _msg_id,
    CommandId.CMPP_CANCEL: _msg_id,
    CommandId.CMPP_FWD: _fwd,
    CommandId.CMPP_ACTIVE_TEST: lambda f, p: "",
    CommandId.CMPP_ACTIVE_TEST_RESP: lambda f, p: "",
    CommandId.CMPP_TERMINATE: lambda f, p: "",
    CommandId.CMPP_TERMINATE_RESP: lambda f, p: "",
}


def info(pdu: DecodedPdu) -> str:
    """The fields an engineer looks for first in this kind of PDU, on one line."""
    return _INFO.get(pdu.Command_Id, _generic)(pdu.fields, pdu).strip()


def result(pdu: DecodedPdu) -> tuple[int, str] | None:
    """(code, name) of a response's Result/Status field, or None when it has none."""
    outcome = result_of(pdu.fields)
    if outcome is None:
        return None
    name, code = outcome
    table = pdu.layout.field(name).codes if pdu.layout is not None else None
    return code, (code_name(table, code, pdu.version) or "") if table is not None else ""


def sms_text(pdu: DecodedPdu) -> str:
    """The SMS text a SUBMIT, DELIVER or FWD carries, inert and whole (the optional Text
    column and the ladder's arrows cut it to fit); a binary payload says its size; "" for
    a status report or a PDU with no message."""
    content = pdu.content
    if content is None or pdu.report is not None:
        return ""
    if content.text is None:
        return f"({len(content.payload)} bytes {content.encoding})"
    return safe_text(content.text)


def command_label(name: str) -> str:
    """``SUBMIT_RESP`` for ``CMPP_SUBMIT_RESP``: every command has the prefix, rows are narrow."""
    return name[5:] if name.startswith("CMPP_") else name


# -- what a row's line adds to the wire's text (for the search's column path) -----------------


@dataclass(frozen=True, slots=True)
class Derived:
    """What :func:`info` and :func:`result` write for a command besides text copied from the
    PDU's bytes: literal ``texts`` (words, punctuation; the spaces that join them are said by
    :data:`JOINS`), the decimal values of fields ``numbers`` ((name, of the status report)),
    the result of field ``result`` (:func:`result_texts`), other numbers of at most ``digits``
    digits, and the escapes of :func:`~cmppdissect.output.sanitize.safe_text`. A search needle
    that overlaps none of these can only be found where the PDU's bytes hold it.

    ``shown``: string fields ((name, of the status report)) whose value the line shows as the
    record has it (an array: its first element) whenever the record holds them, made inert by
    ``safe_text``, which leaves printable ASCII as it is: a needle inside such a value is
    surely in the line."""

    texts: tuple[str, ...]
    numbers: tuple[tuple[str, bool], ...] = ()
    result: str | None = None
    digits: int = 0
    ends: tuple[str, ...] = ()  # words only ever at the end of the line (then its space)
    shown: tuple[tuple[str, bool], ...] = ()


#: Where the line has a space that no word of :class:`Derived` holds: between the parts of
#: the search line, and (in :func:`info`) between a number or a text copied from the PDU and
#: what follows. So a needle with a space at either end or next to a digit may span them.
JOINS = "a space at either end of a needle or next to a digit"
_CONTENT_TEXTS = ("[", "/", "] ", "“", "…")
_CONTENT_ENDS = ("”", *(f" bytes {codec}"
                        for codec in ("ascii", "latin-1", "utf-16-be", "gb18030", "binary")))


@functools.cache
def result_texts(command_id: int, code: int) -> frozenset[str]:
    """What :func:`result` may show for a response of this command holding ``code`` in its
    result field ("code name"), whichever version's layout decoded it."""
    from cmppdissect.protocol.layouts import LAYOUTS
    from cmppdissect.protocol.version import Version

    out: set[str] = set()
    for version in Version:
        layout = LAYOUTS.get((command_id, version))
        if layout is None:
            continue
        for f in layout.fields:
            if f.name in RESULT_FIELDS:
                name = code_name(f.codes, code, version) if f.codes is not None else None
                out.add(f"{code} {name or ''}")
    return frozenset(out)


def _derived() -> dict[int, Derived]:
    empty = Derived(())
    return {
        CommandId.CMPP_SUBMIT: Derived(
            (" → ", " report", "-", " +", *_CONTENT_TEXTS), digits=3, ends=_CONTENT_ENDS,
            shown=(("Src_Id", False), ("Dest_terminal_Id", False))),
        CommandId.CMPP_SUBMIT_RESP: Derived(("Msg_Id ",), (("Msg_Id", False),), "Result"),
        CommandId.CMPP_DELIVER: Derived(
            ("report ", " for Msg_Id ", "?", " → ", *_CONTENT_TEXTS), (("Msg_Id", True),),
            digits=3, ends=_CONTENT_ENDS, shown=(("Stat", True), ("Dest_terminal_Id", True))),
        CommandId.CMPP_DELIVER_RESP: Derived(("Msg_Id ",), (("Msg_Id", False),), "Result"),
        CommandId.CMPP_ACTIVE_TEST: empty, CommandId.CMPP_ACTIVE_TEST_RESP: empty,
        CommandId.CMPP_TERMINATE: empty, CommandId.CMPP_TERMINATE_RESP: empty,
    }


#: Per command, what its line may add to the PDU's own text; a command not here may show
#: anything (the login's times, a FWD's type, the generic ``name=value`` line): search decodes.
DERIVED: dict[int, Derived] = _derived()
