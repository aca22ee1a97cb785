"""``cmppdissect diff A B`` on a terminal: the comparison, one table per group of metrics.

The figures are :func:`cmppdissect.compare`'s (``output/diff.py``: each side's own report),
worked out by the app in a worker thread; this screen only lays them out. On the left the
scopes: the whole captures, then each SP seen on either side, each with how many of its
metrics changed for the worse; on the right, for the scope under the cursor, the metrics by
group (response times, requests, Result codes, status reports, rates) with A, B, the change
and the relative change, as the text comparison writes them, and a verdict: a change for the
worse (a slower response, more unanswered requests, more error Results or reports not
DELIVRD) in red and said ``worse``, for the better in green and said ``better``.

The tables scroll as one pane (↑ ↓ PgUp PgDn Home End); ``[`` / ``]`` go to the previous /
next scope, as does a click on one (or Tab to the list and ↑ ↓).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

from cmppdissect.output.diff import GROUPS, format_change, format_value, judgement, metric_group
from cmppdissect.output.sanitize import safe_text

WHOLE = "Whole capture"
_VERDICT = {1: ("worse", "bold red"), -1: ("better", "green"), 0: ("", "")}

__all__ = ["WHOLE", "DiffScreen", "grouped", "scopes"]


def scopes(result: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(name, rows) of each scope of a comparison: the whole captures, then each SP."""
    return [(WHOLE, result["all"]), *((f"SP {sp}", rows) for sp, rows in result["sp"].items())]


def grouped(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """The rows of one scope by :data:`~cmppdissect.output.diff.GROUPS`, each in the
    comparison's order."""
    out: dict[str, list[Mapping[str, Any]]] = {key: [] for key in GROUPS}
    for row in rows:
        out[metric_group(row["metric"])].append(row)
    return out


def cells(row: Mapping[str, Any]) -> list[Text]:
    """A table row: metric, A, B, change, relative change, verdict (wire text inert)."""
    verdict, style = _VERDICT[judgement(row)]
    change, pct = format_change(row)
    return [Text(safe_text(str(row["metric"])), style=style),
            Text(format_value(row["a"]), justify="right"),
            Text(format_value(row["b"]), justify="right"),
            Text(change, style=style, justify="right"),
            Text(pct, style=style, justify="right"),
            Text(verdict, style=style)]


class DiffScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left_square_bracket", "scope(-1)", "Prev scope", show=True),
        Binding("right_square_bracket", "scope(1)", "Next scope", show=True),
        Binding("q,escape", "app.quit", "Quit", show=True),
    ]

    DEFAULT_CSS = """
    DiffScreen {
        layout: vertical;
        & > #title { height: 1; background: $primary-background; color: $text;
                     text-style: bold; padding: 0 1; }
        & > #names { height: 2; padding: 0 1; color: $text-muted; }
        & > #panes { height: 1fr; }
        & #scopes { width: 30; height: 1fr; border: none; border-right: vkey $panel; }
        &.-stacked > #panes { layout: vertical; }
        &.-stacked #scopes { width: 1fr; height: auto; max-height: 5; border: none;
                             border-bottom: hkey $panel; }
        & #tables { width: 1fr; height: 1fr; }
        & #loading { padding: 1 2; }
        & .section { text-style: bold; color: $primary; margin: 1 0 0 1; }
        & DataTable { height: auto; max-height: 10000; margin: 0 0 0 1; }  /* one pane scrolls */
        &:nocolor > #title { text-style: bold reverse; }
        &:nocolor .section { text-style: bold underline; }
    }
    """

    def __init__(self, names: tuple[str, str]) -> None:
        super().__init__()
        self.names = names
        self.result: Mapping[str, Any] | None = None
        self.scope_rows: list[tuple[str, list[dict[str, Any]]]] = []
        self.shown = -1  # the scope on the right

    def compose(self) -> ComposeResult:
        yield Static(Text("Compare two captures", no_wrap=True), id="title")
        yield Static(Text(f"A: {safe_text(self.names[0])}\nB: {safe_text(self.names[1])}",
                          no_wrap=True, overflow="ellipsis"), id="names")
        with Horizontal(id="panes"):
            yield OptionList(id="scopes")
            with VerticalScroll(id="tables"):
                yield Static(Text("reading A and B…"), id="loading")
                for key, title in GROUPS.items():
                    yield Label(title, classes="section", id=f"{key}-label")
                    table = DataTable[Text](id=f"{key}-table", cursor_type="none",
                                            zebra_stripes=True)
                    table.can_focus = False  # the pane scrolls as one: ↑ ↓ PgUp PgDn
                    yield table
        yield Footer()

    STACK_BELOW = 110  # narrower than this, the scopes go above the tables
    AUTO_FOCUS = "#tables"  # keys scroll the figures; [ ] (or Tab to the list) change scope

    def on_mount(self) -> None:
        self.set_class(self.app.size.width < self.STACK_BELOW, "-stacked")

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < self.STACK_BELOW, "-stacked")

    def say(self, text: str) -> None:
        """What the screen says while the captures are read (or why they could not be)."""
        self.query_one("#loading", Static).update(Text(text))

    def show(self, result: Mapping[str, Any]) -> None:
        """The comparison is in: list its scopes and show the first."""
        self.result = result
        self.scope_rows = scopes(result)
        options = self.query_one("#scopes", OptionList)
        options.clear_options()
        for name, rows in self.scope_rows:
            worse = sum(judgement(r) > 0 for r in rows)
            prompt = Text(safe_text(name), no_wrap=True, overflow="ellipsis")
            if worse:
                prompt.append(f"  {worse} worse", style="bold red")
            options.add_option(Option(prompt))
        self.query_one("#loading", Static).display = False
        options.highlighted = 0
        self.show_scope(0)

    def show_scope(self, index: int) -> None:
        if not 0 <= index < len(self.scope_rows) or index == self.shown:
            return
        self.shown = index
        name, rows = self.scope_rows[index]
        self.query_one("#title", Static).update(Text(
            f"Compare two captures  ·  {safe_text(name)}  ·  {len(rows)} metrics", no_wrap=True,
            overflow="ellipsis"))
        for key, found in grouped(rows).items():
            table = self.query_one(f"#{key}-table", DataTable)
            table.clear(columns=True)
            for title, right in (("Metric", False), ("A", True), ("B", True),
                                 ("Change", True), ("%", True), ("", False)):
                table.add_column(Text(title, justify="right" if right else "left"))
            table.add_rows([cells(r) for r in found])
            shown = bool(found)
            label = self.query_one(f"#{key}-label", Label)
            if table.display != shown:  # setting it unchanged loses the table's auto height
                table.display = label.display = shown

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.show_scope(event.option_index)

    def action_scope(self, delta: int) -> None:
        if not self.scope_rows:
            return
        options = self.query_one("#scopes", OptionList)
        options.highlighted = (max(0, self.shown) + delta) % len(self.scope_rows)

    def table_rows(self, key: str) -> list[list[str]]:
        """The cells of one group's table as shown (the tests read them)."""
        table: DataTable[Text] = self.query_one(f"#{key}-table", DataTable)
        return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
