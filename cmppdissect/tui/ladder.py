"""The Ladder's drawing: the arrows, the lanes joining responses to requests, and the ladder
as plain text for a file.

Links are laid out in a few vertical lanes right of the server's lifeline, greedily, lowest
free lane first, as a sequence diagram would. Lanes are computed for the window on screen
from a fixed anchor before it (so scrolling by a line does not reshuffle them) and again when
new pairs arrive; a link longer than :data:`MAX_SPAN` rows or beyond the lanes keeps only its
latency label, which is what a reader needs from a response a thousand lines away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.cells import cell_len

from cmppdissect.output.sanitize import safe_text
from cmppdissect.protocol.commands import command_name, is_response
from cmppdissect.tui import summary
from cmppdissect.tui.columns import TimeMode, cell, format_ms, format_time
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.views import RowSet

MAX_LANES = 6
MAX_SPAN = 256


@dataclass(frozen=True, slots=True)
class Link:
    start: int  # view position of the request
    end: int  # view position of the response
    lane: int


class LaneLayout:
    """Links that cross a window of a view, with their lanes."""

    def __init__(self, model: CaptureModel, view: RowSet) -> None:
        self.model = model
        self.view = view
        self._key: tuple[int, int, int] | None = None
        self._links: list[Link] = []

    def links(self, top: int, bottom: int, generation: int) -> list[Link]:
        """Every link with a lane that touches positions ``top`` to ``bottom`` (inclusive)."""
        anchor = max(0, (top - MAX_SPAN) // MAX_SPAN * MAX_SPAN)
        key = (anchor, bottom, generation)
        if key != self._key:
            self._key = key
            self._links = self._layout(anchor, bottom)
        return [ln for ln in self._links if ln.start <= bottom and ln.end >= top]

    def _layout(self, anchor: int, bottom: int) -> list[Link]:
        m, view = self.model, self.view
        busy_until = [-1] * MAX_LANES
        out: list[Link] = []
        end_pos = min(bottom + 1, len(view))
        for pos in range(anchor, end_pos):
            row = view[pos]
            pair = m.partner(row)
            if pair is None or is_response(m.command_id[row]) or pair < row:
                continue
            end = view.position(pair)
            if end is None or end - pos > MAX_SPAN:
                continue
            for lane in range(MAX_LANES):
                if busy_until[lane] < pos:
                    busy_until[lane] = end
                    out.append(Link(pos, end, lane))
                    break
        return out


def arrow_label(model: CaptureModel, row: int, result: tuple[int, str] | None,
                text: str | None = None) -> str:
    """What an arrow says: command, Sequence_Id, an error Result as ``✗code``, and the SMS
    text when asked (already inert: :func:`cmppdissect.tui.summary.sms_text`)."""
    label = f" {summary.command_label(command_name(model.command_id[row]))} " \
            f"{model.sequence_id[row]} "
    if result is not None and result[0]:
        label += f"✗{result[0]} "
    if text:
        label += f"“{text}” "
    return label


def arrow(label: str, inner: int, client: bool) -> str:
    """An arrow ``inner`` cells long with ``label`` in its middle (cut to fit), pointing at
    the ISMG when the SP sent it, at the SP otherwise."""
    if cell_len(label) > inner - 4:
        label = cell(label, max(1, inner - 4))
    fill = max(0, inner - 1 - cell_len(label))
    left = fill // 2
    shaft = "─" * left + label + "─" * (fill - left)
    return shaft + "▶" if client else "◀" + shaft


def response_note(model: CaptureModel, row: int) -> str:
    """Right of an arrow: the latency on a response, ``no resp`` on a request that never got
    one."""
    cmd = model.command_id[row]
    lat = model.latency(row)
    if is_response(cmd) and lat is not None:
        return format_ms(lat / 1e6)
    if not is_response(cmd) and not model.paired(row) and model.progress.done:
        return "no resp"
    return ""


TEXT_ARROW = 48  # cells of arrow in a ladder written to a file (wider with SMS text)


def ladder_text(model: CaptureModel, view: RowSet, title: str, *,
                time_mode: TimeMode = TimeMode.RELATIVE, sms: bool = False,
                cancelled: Callable[[], bool] = lambda: False) -> str:
    """A session's ladder as plain text: a line per PDU with its time, its arrow between the
    SP and the ISMG, the latency, its frame and the frame of its pair. Everything that came
    off the wire is inert (``safe_text``); lanes are left out, the pair's frame says it."""
    rows = [view[i] for i in range(len(view))]
    labels: list[tuple[str, bool]] = []
    for row in rows:
        if cancelled():
            raise InterruptedError("cancelled")
        pdu = model.pdu(row)
        res = summary.result(pdu) if is_response(model.command_id[row]) else None
        labels.append((arrow_label(model, row, res, summary.sms_text(pdu) if sms else None),
                       model.from_client(row)))
    inner = TEXT_ARROW
    if sms and labels:
        inner = min(120, max(inner, max(cell_len(label) for label, _c in labels) + 6))
    info = model.session_info(getattr(view, "session", -1))
    client = f"SP {safe_text(info.client)}" if info else "SP"
    server = f"{safe_text(info.server)} ISMG" if info else "ISMG"
    middle = cell(client, max(1, inner + 2 - cell_len(server) - 1)) + " " + server
    time_width = 15 if time_mode is TimeMode.ABSOLUTE else 12
    out = [safe_text(title), "",
           f"{cell(time_mode.title, time_width, right=True)} {middle} "
           f"{cell('Latency', 9, right=True)}  Frame  Pair"]
    previous: int | None = None
    for row, (label, from_client) in zip(rows, labels, strict=True):
        when = format_time(time_mode, model.ts_ns[row], model.first_ts_ns or 0, previous)
        previous = int(model.ts_ns[row])
        frame = model.partner_frame(row) if model.paired(row) else None
        paired = f"#{frame}" if frame is not None else ""
        line = (f"{cell(when, time_width, right=True)} │{arrow(label, inner, from_client)}│ "
                f"{cell(response_note(model, row), 9, right=True)}  "
                f"{cell(str(model.frame[row]), 5, right=True)}  {paired}")
        out.append(line.rstrip())
    return "\n".join(out) + "\n"


__all__ = ["MAX_LANES", "MAX_SPAN", "TEXT_ARROW", "LaneLayout", "Link", "arrow", "arrow_label",
           "ladder_text", "response_note"]
