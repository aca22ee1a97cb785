"""The help screen: every key of every screen, and the filter language at a glance."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Everywhere", (
        ("1 / 2 / 3 / 4", "Sessions / all PDUs / Statistics / Messages"),
        ("?  F1", "this help"),
        ("ctrl+p", "command palette"),
        ("p", "pause or resume reading the capture"),
        ("escape", "back to the previous screen"),
        ("q", "quit"),
    )),
    ("Lists", (
        ("↑ ↓  j k", "move"),
        ("PgUp PgDn  space", "page"),
        ("Home End  g G", "first / last row; End also turns follow mode on"),
        ("A", "follow mode on / off: the cursor stays on the newest row as rows arrive "
              "(on by default for a live capture; any move turns it off)"),
        ("← →", "scroll sideways when the header says more columns are out of view"),
        ("enter", "open (a session's PDUs, a PDU's detail, a finding's PDU)"),
    )),
    ("Sessions", (("l", "ladder of the selected session"),
                  ("z", "statistics of the selected session"),
                  ("s  S", "sort by the next column / turn the order round (or click a title)"),
                  ("f", "show only the sessions whose row contains some text"),
                  ("w", "save: the session's frames (pcapng), its ladder as text, marked rows"))),
    ("PDUs", (
        ("f", "filter bar (same language as -Y; Enter applies, empty clears; "
               "cmppdissect --list-fields lists every field)"),
        ("/", "search text in the rows; n / N next / previous match"),
        ("r", "jump between a request and its response"),
        ("t", "time: relative / absolute / delta"),
        ("l", "ladder of this PDU's session"),
        ("z", "statistics of the rows this list shows (its filter's, its session's)"),
        ("m", "mark / unmark the row (the cursor moves on); w can save the marked rows"),
        ("w", "save frames as pcapng: the rows displayed, this session, the marked rows"),
        ("x", "show / hide the SMS text column"),
        ("R", "from a status report to its SUBMIT; from a SUBMIT (or its RESP) to its report"),
        ("J", "a long SMS part: the joined message (all parts and the text)"),
    )),
    ("Detail", (
        ("↑ ↓ enter", "walk and fold the field tree; the hex view follows"),
        ("[  ]", "previous / next PDU"),
        ("r", "the paired request or response"),
        ("R  J", "status report ↔ SUBMIT; the long SMS this part belongs to"),
        ("enter", "on a finding that names another frame: that PDU"),
    )),
    ("Ladder", (("r", "jump between a request and its response"), ("t", "time format"),
                ("z", "statistics of this session"),
                ("m  x  R  J", "as on the PDU list (x: SMS text on the arrows)"),
                ("w", "save: this ladder as text, the session's frames, marked rows"))),
    ("Statistics", (("[  ]", "previous / next tab"),
                    ("enter", "on an expert finding: the PDU list at its PDU"))),
    ("Messages", (
        ("", "one row per request (as -T transactions): response, latency, Result, Msg_Id, "
             "status report (Stat, reports come of those awaited, delay), long message"),
        ("f", "filter bar: the same language over the row's names (result, latency_ms, "
              "report_stat, recipients.report_stat, long_outcome, reports_missing, "
              "reports_undelivered, ...)"),
        ("u  e  d", "only unanswered requests / non-zero Results / status reports missing "
                    "or not DELIVRD (again: all rows)"),
        ("t", "time: relative / absolute / delta"),
        ("enter", "the request's PDU in Detail"),
    )),
)

FILTER_EXAMPLES = (
    'command == "SUBMIT" and latency_ms > 100',
    'Registered_Delivery == 1 && report.Stat != "DELIVRD"',
    'text contains "验证码" || Dest_terminal_Id matches "^86138"',
    'command in {"SUBMIT_RESP", "DELIVER_RESP"} and Result != 0',
    'session == 2 and expert.severity == "warn"',
    'Messages: result != 0 or reports_undelivered > 0',
)


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for section, keys in KEYS:
        table.add_row(Text(section, style="bold underline"), Text(""))
        for key, what in keys:
            table.add_row(Text(key), Text(what))
        table.add_row(Text(""), Text(""))
    table.add_row(Text("Filter examples", style="bold underline"), Text(""))
    for example in FILTER_EXAMPLES:
        table.add_row(Text(""), Text(example))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close", show=True),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        & > VerticalScroll {
            width: 90%; max-width: 100; height: 90%;
            border: thick $primary; background: $surface; padding: 0 1;
        }
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("cmppdissect: keys", style="bold"))
            yield Static(help_table())
