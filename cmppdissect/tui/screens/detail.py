"""Detail: the decoded field tree and the hex dump; the selected field's bytes light up.

Side by side on a wide terminal; on a narrow one the tree sits above the dump and has the whole
width, so values (``Command_Id: 0x00000004 (CMPP_SUBMIT)``, the frame's addresses) are not cut,
and the dump below has room for sixteen bytes a line. The screen only says which shape it is
in (a class); the shapes themselves are CSS.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from cmppdissect.protocol.commands import is_response
from cmppdissect.protocol.expert import Severity
from cmppdissect.tui.columns import TimeMode, format_ms, format_time
from cmppdissect.tui.detail import Node, build_tree
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.screens.base import CaptureScreen
from cmppdissect.tui.views import RowSet
from cmppdissect.tui.widgets.hexview import HexView

Span = tuple[int, int] | None

_SEVERITY_STYLE = {int(Severity.ERROR): "bold red", int(Severity.WARN): "yellow",
                   int(Severity.NOTE): "cyan", int(Severity.CHAT): "dim"}


class FieldTree(Tree[Span]):
    DEFAULT_CSS = """
    FieldTree { width: 1fr; min-width: 30; background: $surface; }
    """


class DetailScreen(CaptureScreen):
    screen_title = "Detail"
    holds_rows = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", show=True),
        Binding("r", "pair", "Req↔Resp", show=True),
        Binding("left_square_bracket", "step(-1)", "Prev PDU", show=True),
        Binding("right_square_bracket", "step(1)", "Next PDU", show=True),
        Binding("R", "report", "Report↔SUBMIT", show=False),
        Binding("J", "long_sms", "Long SMS", show=False),
    ]

    DEFAULT_CSS = """
    DetailScreen {
        & > #panes { height: 1fr; layout: horizontal; }
        & HexView { width: 75; border-left: vkey $panel; }  /* 16 bytes a line */
        &.-narrow HexView { width: 42; }  /* 39 columns of dump, a border, a scrollbar */
        &.-stacked > #panes { layout: vertical; }
        &.-stacked FieldTree { width: 1fr; height: 1fr; min-width: 0; }
        &.-stacked HexView {
            width: 1fr; height: 45%; min-height: 4;
            border-left: none; border-top: hkey $panel;
        }
    }
    """

    STACK_BELOW = 110  # narrower than this, the tree goes above the dump
    WIDE_FROM = 140  # from this width the dump beside the tree has 16 bytes a line

    def __init__(self, model: CaptureModel, view: RowSet, position: int) -> None:
        super().__init__(model)
        self.view = view
        self.position = position
        self._frames: dict[TreeNode[Span], int] = {}  # a finding's node -> the frame it names
        # The frame shown, once its row went with the oldest (--max-pdus): the tree stays,
        # and the keys that go from it to other rows say so.
        self.gone: int | None = None
        self._before: tuple[int, int] | None = None  # (row, frame) as a release begins
        self._frame_shown = -1
        self._title = "Detail"

    def compose(self) -> ComposeResult:
        yield from self.compose_title()
        with Container(id="panes"):
            yield FieldTree("PDU", id="fields")
            yield HexView(id="hex")
        yield from self.compose_footer()

    @property
    def field_tree(self) -> FieldTree:
        return self.query_one("#fields", FieldTree)

    @property
    def hex(self) -> HexView:
        return self.query_one("#hex", HexView)

    @property
    def row(self) -> int:
        return self.view[self.position]

    def _shape(self, width: int) -> None:
        self.set_class(width < self.STACK_BELOW, "-stacked")
        self.set_class(self.STACK_BELOW <= width < self.WIDE_FROM, "-narrow")

    def on_resize(self, event: events.Resize) -> None:
        self._shape(event.size.width)

    def on_mount(self) -> None:
        self._shape(self.app.size.width)
        self.field_tree.show_root = False
        self.field_tree.guide_depth = 2
        self.load(self.position)
        self.field_tree.focus()

    def _capture_context(self, row: int) -> list[tuple[str, str]]:
        m = self.model
        src, dst = m.endpoints(row)
        when = format_time(TimeMode.ABSOLUTE, m.ts_ns[row], 0, None)
        rel = format_time(TimeMode.RELATIVE, m.ts_ns[row], m.first_ts_ns or 0, None)
        out = [("Frame", str(m.frame[row])), ("Time", f"{when} (+{rel} s)"),
               ("Session", str(m.session[row])),
               ("Direction", f"{src} → {dst} "
                             f"({'SP to ISMG' if m.from_client(row) else 'ISMG to SP'})")]
        if m.paired(row):
            what = "request" if is_response(m.command_id[row]) else "response"
            lat = m.latency(row)
            frame = m.partner_frame(row)
            out.append((f"Paired {what}", f"frame {frame if frame is not None else '?'}, "
                                          f"latency "
                                          f"{format_ms(lat / 1e6) if lat is not None else '?'}"))
        elif not is_response(m.command_id[row]) and m.progress.done:
            out.append(("Paired response", "none seen"))
        return out

    def rows_releasing(self) -> None:
        self._before = None
        if self.gone is None and 0 <= self.position < len(self.view):
            row = self.row
            self._before = (row, int(self.model.frame[row]))

    def rows_released(self, k: int) -> None:
        """The row shown keeps its place in the list; if it went, the screen still shows it
        (it was decoded already) and says it went."""
        before, self._before = self._before, None
        if before is None:
            return
        row, frame = before
        position = self.view.position(row - k) if row >= k else None
        if position is not None:
            self.position = position
            return
        self.gone = frame
        self.position = 0
        if self.is_mounted:
            self.set_title_text(f"{self._title}  ·  let go with the oldest PDUs "
                                f"(--max-pdus {self.model.max_pdus:,})")
            self.notify(f"frame {self.gone} was let go with the oldest PDUs: [ and ] go on "
                        "from the oldest held", timeout=3, markup=False)

    def _gone_words(self) -> bool:
        """Say that the row shown went, if it did (the keys that read it then do nothing)."""
        if self.gone is None:
            return False
        self.notify(f"frame {self.gone} was let go with the oldest PDUs (--max-pdus "
                    f"{self.model.max_pdus:,})", timeout=3, markup=False)
        return True

    def load(self, position: int) -> None:
        self.position = position
        self.gone = None
        row = self.row
        pdu = self.model.pdu(row)
        extra = self.model.extra(row)
        nodes = build_tree(pdu, context=self._capture_context(row), findings=extra.findings,
                           long_sms=dict(extra.long_sms) if extra.long_sms else None,
                           frame_layers=self.model.frame_layers(row))
        tree = self.field_tree
        tree.clear()
        self._frames.clear()
        for node in nodes:
            self._add(tree.root, node)
        self.hex.set_data(pdu.raw)
        self._frame_shown = int(self.model.frame[row])
        self._title = f"Detail  ·  frame {self._frame_shown}  ·  {pdu.command}"
        self.set_title_text(self._title)
        tree.move_cursor_to_line(0)

    def _add(self, parent: TreeNode[Span], node: Node) -> None:
        label = Text(no_wrap=True)
        label.append(node.name, style="bold")
        if node.value:
            label.append(": ")
            severity = -1 if node.severity is None else node.severity
            label.append(node.value, style=_SEVERITY_STYLE.get(severity, ""))
        span = (node.start, node.end) if node.start is not None and node.end is not None \
            else None
        if node.children:
            branch = parent.add(label, data=span, expand=node.expand)
            for child in node.children:
                self._add(branch, child)
        else:
            leaf = parent.add_leaf(label, data=span)
            if node.frame is not None:
                self._frames[leaf] = node.frame

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Span]) -> None:
        self.hex.span = event.node.data

    def on_tree_node_selected(self, event: Tree.NodeSelected[Span]) -> None:
        """Enter on a finding about another PDU (the SUBMIT a report answers, the request
        whose Sequence_Id was reused) opens that PDU."""
        frame = self._frames.get(event.node)
        if frame is None:
            return
        event.stop()
        if self._gone_words():
            return
        target = self.model.submit_of_report(self.row) if self.model.store.report_for(
            self.row) == frame else None  # a frame may complete several PDUs: the SUBMIT
        if target is None:
            target = self.model.row_of_frame(frame)
        if target is None and self.model.gone_frame(frame):
            self.notify(self.capture_app.gone_words(frame), timeout=3, markup=False)
        self.go_to(target)

    def go_to(self, target: int | None) -> None:
        """Show model row ``target`` here when this list holds it, else in a Detail of its
        own over all PDUs (escape comes back)."""
        if target is None:
            return
        position = self.view.position(target)
        if position is not None:
            self.load(position)
        else:
            self.capture_app.open_detail(self.capture_app.all_rows, target)

    def action_report(self) -> None:
        if self._gone_words():
            return
        target = self.capture_app.report_link(self.row)
        if target is not None:
            self.go_to(target)

    def action_long_sms(self) -> None:
        if self._gone_words():
            return
        self.capture_app.open_long_sms(self.row)

    def refresh_from_model(self) -> None:
        pass  # a PDU never changes once indexed; its pair may, but the tree shows it on open

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_step(self, delta: int) -> None:
        if self.gone is not None:  # on from the row that went: the oldest held is next
            if delta < 0 or not len(self.view):
                self._gone_words()
                return
            self.load(0)
            return
        target = self.position + delta
        if 0 <= target < len(self.view):
            self.load(target)

    def action_pair(self) -> None:
        if self._gone_words():
            return
        position = self.capture_app.pair_position(self.view, self.row)
        if position is not None:
            self.load(position)
