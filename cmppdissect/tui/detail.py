"""The Detail screen's field tree, with the bytes each field came from.

Offsets are found by walking the PDU's layout from :mod:`cmppdissect.protocol.layouts` over
the decoded values (array counts and Msg_Length say how far the variable parts reach), so the
tree and the decoder can never disagree about where a field is: there is no second table.
Every value string is inert (``safe_text``); the widget adds only styling.

Above the CMPP tree, as Wireshark shows Frame/Ethernet/IP/TCP above a protocol, come the layers
of the frame that completed the PDU when it can be read again from the capture file
(:func:`cmppdissect.sources.frames.frame_layers`); they have no bytes in the PDU's dump.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cmppdissect.output.sanitize import safe_text, wire_str
from cmppdissect.protocol.codes import code_name
from cmppdissect.protocol.commands import HEADER_LEN, command_name
from cmppdissect.protocol.content import (
    IEI_CONCAT_8,
    IEI_CONCAT_16,
    IEI_PORTS_8,
    IEI_PORTS_16,
    UDHI_MASK,
    parse_udh,
)
from cmppdissect.protocol.decode import DecodedPdu
from cmppdissect.protocol.expert import Finding, Severity
from cmppdissect.protocol.layouts import Field, Kind, Layout, report_layout
from cmppdissect.protocol.msgid import split_msg_id
from cmppdissect.protocol.report import stat_meaning
from cmppdissect.protocol.timefmt import describe_smpp_time, format_timestamp
from cmppdissect.protocol.version import version_from_byte

if TYPE_CHECKING:
    from cmppdissect.sources.frames import Layer

_IE_NAMES = {IEI_CONCAT_8: "concatenated SM, 8-bit reference",
             IEI_CONCAT_16: "concatenated SM, 16-bit reference",
             IEI_PORTS_8: "application ports, 8-bit", IEI_PORTS_16: "application ports, 16-bit"}


@dataclass(slots=True)
class Node:
    """One line of the tree: ``name: value``, over bytes ``[start, end)`` of the raw PDU."""

    name: str
    value: str = ""
    start: int | None = None
    end: int | None = None
    children: list[Node] = field(default_factory=list)
    severity: int | None = None  # for expert findings: colours the line
    expand: bool = False
    frame: int | None = None  # a finding about another PDU: its frame (enter goes there)

    def add(self, child: Node) -> Node:
        self.children.append(child)
        return child


def _code(f: Field, value: Any, pdu: DecodedPdu) -> str:
    if f.codes is None:
        return ""
    key = wire_str(value) if isinstance(value, bytes) else value
    name = code_name(f.codes, key, pdu.version)
    return f" ({name})" if name else " (no meaning in the spec)"


def _value_node(f: Field, value: Any, start: int, end: int, pdu: DecodedPdu) -> Node:
    if f.kind in (Kind.UINT, Kind.INT):
        node = Node(f.name, f"{value}{_code(f, value, pdu)}", start, end)
        if f.display == "msg_id" and value == 0:
            node.value = "0 (not set: the ISMG assigns it)"
        elif f.display == "msg_id":
            node.value = f"{value} (0x{value:016X})"
            node.expand = True
            mid = split_msg_id(value)
            node.add(Node("time", f"{mid.month:02d}-{mid.day:02d} {mid.hour:02d}:"
                                  f"{mid.minute:02d}:{mid.second:02d}", start, end))
            node.add(Node("gateway", f"{mid.gateway:06d}", start, end))
            node.add(Node("sequence", str(mid.sequence), start, end))
            if not mid.looks_valid:
                node.add(Node("note", "parts outside the §7.1 layout (vendor scheme?)"))
        elif f.display == "timestamp":
            node.value = f"{value} ({format_timestamp(value) or 'not MMDDHHMMSS'})"
        elif f.display == "version":
            version = version_from_byte(value)
            node.value = f"0x{value:02X} ({version.value if version else 'unknown'})"
        return node
    if f.kind is Kind.BIN:
        return Node(f.name, value.hex() or "(empty)", start, end)
    text = wire_str(value)
    extra = _code(f, value, pdu)
    if f.display == "time":
        extra = f" ({safe_text(describe_smpp_time(value))})" if value else " (empty)"
    elif f.display == "stat":
        extra = f" ({stat_meaning(value.decode('ascii', 'replace'))})"
    return Node(f.name, f"“{text}”{extra}", start, end)


def _walk(layout: Layout, fields: dict[str, Any], base: int, limit: int, pdu: DecodedPdu,
          parent: Node) -> int:
    """Add a node per field present, at byte offsets from ``base``; returns the end offset."""
    off = base
    for f in layout.fields:
        if f.name not in fields:
            break
        value = fields[f.name]
        if f.kind is Kind.STR_ARRAY:
            count = fields.get(f.count_from or "", len(value))
            node = parent.add(Node(f.name, f"{len(value)} of {count}", off,
                                   min(off + f.size * count, limit)))
            for i, item in enumerate(value):
                node.add(Node(f"[{i}]", f"“{wire_str(item)}”", off, min(off + f.size, limit)))
                off += f.size
            node.expand = len(value) <= 4
            continue
        if f.kind is Kind.CONTENT:
            size = fields.get(f.length_from or "", len(value))
            end = min(off + size, limit)
            node = parent.add(Node(f.name, f"{len(value)} bytes", off, end, expand=True))
            _content(layout, fields, value, off, end, pdu, node)
            off += size
            continue
        end = min(off + f.size, limit)
        parent.add(_value_node(f, value, off, end, pdu))
        off += f.size
    return off


def _content(layout: Layout, fields: dict[str, Any], value: bytes, start: int, end: int,
             pdu: DecodedPdu, node: Node) -> None:
    report = report_layout(layout, fields, len(value))
    if report is not None and pdu.report is not None:
        rep = node.add(Node("status report", report.name, start, end, expand=True))
        _walk(report, pdu.report, start, end, pdu, rep)
        return
    content = pdu.content
    if content is None:
        node.add(Node("bytes", value.hex(), start, end))
        return
    text_start = start
    if fields.get("TP_udhi", 0) & UDHI_MASK:
        udh = parse_udh(value)
        if udh is not None:
            text_start = start + udh.size
            head = node.add(Node("UDH", f"UDHL {udh.UDHL}", start, text_start, expand=True))
            pos = start + 1
            for ie in udh.elements:
                ie_end = min(pos + 2 + len(ie.data), text_start)
                label = _IE_NAMES.get(ie.IEI, "unknown element")
                item = head.add(Node(f"IE 0x{ie.IEI:02X}", f"{label}, IEDL {ie.IEDL}", pos,
                                     ie_end))
                item.add(Node("data", ie.data.hex(), pos + 2, ie_end))
                pos = ie_end
            if udh.concat is not None:
                c = udh.concat
                head.add(Node("concatenation", f"part {c.part} of {c.total}, reference "
                                               f"{c.reference} ({c.reference_bits}-bit)"))
            if udh.ports is not None:
                p = udh.ports
                head.add(Node("ports", f"destination {p.dest}, source {p.src}"))
    label = f"text ({content.encoding})"
    if content.text is None:
        node.add(Node("payload", f"{len(content.payload)} bytes binary", text_start, end))
    else:
        node.add(Node(label, f"“{safe_text(content.text)}”", text_start, end))


def layer_node(layer: Layer) -> Node:
    """One layer of the frame, titled as Wireshark titles it (collapsed, as Wireshark shows
    the layers below a protocol); a malformed one says why in red."""
    if layer.malformed:
        node = Node(safe_text(layer.name), safe_text(layer.summary),
                    severity=int(Severity.ERROR))
    else:
        node = Node(safe_text(layer.title))
    for name, value in layer.rows:
        node.add(Node(safe_text(name), safe_text(value)))
    return node


def build_tree(pdu: DecodedPdu, *, context: list[tuple[str, str]] | None = None,
               findings: tuple[Finding, ...] = (),
               long_sms: dict[str, Any] | None = None,
               frame_layers: list[Layer] | None = None) -> list[Node]:
    """The top-level nodes for one PDU: capture context, the frame's layers, header, body,
    long SMS, expert."""
    raw = pdu.raw
    limit = len(raw)
    out: list[Node] = []
    if context:
        frame = Node("Capture", expand=True)
        for name, value in context:
            frame.add(Node(name, safe_text(value)))
        out.append(frame)
    out.extend(layer_node(layer) for layer in frame_layers or ())
    header = Node("Header", f"{pdu.Total_Length} bytes", 0, min(HEADER_LEN, limit), expand=True)
    header.add(Node("Total_Length", str(pdu.Total_Length), 0, min(4, limit)))
    header.add(Node("Command_Id", f"0x{pdu.Command_Id:08X} ({command_name(pdu.Command_Id)})",
                    4, min(8, limit)))
    header.add(Node("Sequence_Id", str(pdu.Sequence_Id), 8, min(12, limit)))
    out.append(header)
    version = f" {pdu.version.value}" if pdu.version else ""
    layout = pdu.layout
    body = Node("Body", f"{pdu.command}{version}", HEADER_LEN, limit, expand=True)
    if layout is None:
        data = pdu.fields.get("body", b"")
        body.add(Node("bytes", data.hex() or "(empty)", HEADER_LEN, limit))
    else:
        end = _walk(layout, pdu.fields, HEADER_LEN, limit, pdu, body)
        trailing = pdu.fields.get("trailing")
        if trailing:
            body.add(Node("trailing", trailing.hex(), end, limit))
    out.append(body)
    if long_sms is not None:
        msg = Node("Long SMS", f"reference {long_sms.get('reference')}, "
                               f"{long_sms.get('total')} parts", expand=True)
        msg.add(Node("frames", ", ".join(map(str, long_sms.get("frames", [])))))
        text = long_sms.get("text")
        msg.add(Node("text", "(binary)" if text is None else f"“{safe_text(str(text))}”"))
        out.append(msg)
    if findings:
        expert = Node("Expert", f"{len(findings)} finding(s)", expand=True)
        for f in findings:
            where = _span_of(body, f.field) if f.field else (None, None)
            expert.add(Node(str(f.severity), safe_text(f.message), where[0], where[1],
                            severity=int(f.severity), frame=f.frame))
        out.append(expert)
    return out


def _span_of(node: Node, name: str) -> tuple[int | None, int | None]:
    for child in node.children:
        if child.name == name:
            return child.start, child.end
        found = _span_of(child, name)
        if found[0] is not None:
            return found
    return None, None


__all__ = ["Node", "build_tree", "layer_node"]
