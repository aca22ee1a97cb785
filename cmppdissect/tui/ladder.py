"""Where the Ladder screen draws the line from each response back to its request.

Links are laid out in a few vertical lanes right of the server's lifeline, greedily, lowest
free lane first, as a sequence diagram would. Lanes are computed for the window on screen
from a fixed anchor before it (so scrolling by a line does not reshuffle them) and again when
new pairs arrive; a link longer than :data:`MAX_SPAN` rows or beyond the lanes keeps only its
latency label, which is what a reader needs from a response a thousand lines away.
"""

from __future__ import annotations

from dataclasses import dataclass

from cmppdissect.protocol.commands import is_response
from cmppdissect.tui.model import NO_PAIR, CaptureModel
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
            pair = m.pair[row]
            if pair == NO_PAIR or is_response(m.command_id[row]) or pair < row:
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


__all__ = ["MAX_LANES", "MAX_SPAN", "LaneLayout", "Link"]
