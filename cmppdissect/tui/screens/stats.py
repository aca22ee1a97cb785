"""Statistics: response times per command, result codes, status reports, rates over time, the
diagnosis (what became of requests called unanswered, what bound each session's rate, each
SP's links; Enter on a request opens the PDU list at it) and the expert findings (Enter on one
opens the PDU list at its PDU).

For the whole capture (``3``) the numbers are the engine's own report (``--report json``),
rebuilt by the indexing thread about once a second while this screen is shown, so the TUI and
the CLI never disagree. Scoped to a list (``z`` on a filtered PDU list, a session's PDUs, a
ladder or a session row), they are :func:`cmppdissect.output.scoped.rows_report` over the
list's rows, counted in a worker thread, the scope named in the title; that function gives the
report's numbers over every row (tests/test_scoped_report.py).

Response times are two tables, the latencies and the request/response counts, each narrow
enough for 80 columns: as one table of thirteen columns it stopped at p50 there.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Label, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

from cmppdissect.engine.stats import SUMMARY_KEYS
from cmppdissect.output.sanitize import safe_text
from cmppdissect.output.scoped import rows_report
from cmppdissect.tui.columns import format_clock, format_ms, format_number
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.screens.base import CaptureScreen
from cmppdissect.tui.summary import command_label
from cmppdissect.tui.views import RowSet, SessionRows
from cmppdissect.tui.widgets.bars import Bars
from cmppdissect.tui.widgets.rowlist import RowList
from cmppdissect.tui.widgets.tables import ExpertList

_TABS = ("srt", "reports", "time", "diagnosis", "expert")
LISTED = 200  # requests listed in the Diagnosis tab (--report json lists them all)
_RECON = ("awaited", "matched", "never_reported", "other_connection", "duplicates", "unmatched",
          "near_misses")
_BAD = ("never_reported", "duplicates", "unmatched", "near_misses")
SCOPE_EVERY_S = 1.0  # a growing scope is counted again at most this often


def _t(value: object, style: str = "", *, right: bool = False) -> Text:
    return Text(safe_text(str(value)), style=style, justify="right" if right else "left")


def _fill(table: DataTable[Text], columns: Sequence[tuple[str, bool]],
          rows: Sequence[Sequence[Text]]) -> None:
    table.clear(columns=True)
    for title, right in columns:
        table.add_column(Text(title, justify="right" if right else "left"))
    table.add_rows(rows)


class StatsScreen(CaptureScreen):
    screen_title = "Statistics"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left_square_bracket", "tab(-1)", "Prev tab", show=True),
        Binding("right_square_bracket", "tab(1)", "Next tab", show=True),
        Binding("escape", "back", "Back", show=False),
    ]

    DEFAULT_CSS = """
    StatsScreen {
        & TabbedContent { height: 1fr; }
        & DataTable { height: auto; max-height: 24; margin: 0 0 1 0; }
        & .section { text-style: bold; color: $primary; margin: 1 0 0 0; }
        & Bars { height: 4; margin: 0 1; }  /* three rows of bars, the time axis */
        & #expert-list { height: 1fr; }
        &:nocolor .section { text-style: bold underline; }
    }
    """

    def __init__(self, model: CaptureModel, scope: RowSet | None = None) -> None:
        super().__init__(model)
        self.scope = scope
        self._report_seen = -1
        self._scope_rows = -1  # rows of the scope counted last (the scope grows while indexing)
        self._scope_at = 0.0
        self._scope_report: dict[str, Any] | None = None
        self._timeout_frames: list[int] = []  # the Diagnosis tab's requests, row by row

    def title_text(self) -> str:
        """The whole capture's, or the scope's name and size: a user comparing two sessions
        must see which one the numbers are of."""
        if self.scope is None:
            return super().title_text()
        rows = len(self.scope)
        counted = "" if self._scope_rows == rows else "  ·  counting…"
        return (f"Statistics  ·  {self.scope.title}  ·  {rows:,} PDUs{counted}")

    def compose(self) -> ComposeResult:
        yield from self.compose_title()
        with TabbedContent(id="tabs", initial="srt"):
            with TabPane("Response times", id="srt"), VerticalScroll():
                yield Label("Service response time per request (ms)", classes="section")
                yield DataTable[Text](id="srt-table", zebra_stripes=True, cursor_type="row")
                yield Label("Requests and responses", classes="section")
                yield DataTable[Text](id="counts-table", zebra_stripes=True, cursor_type="row")
                yield Label("Result codes", classes="section")
                yield DataTable[Text](id="results-table", cursor_type="row")
            with TabPane("Reports", id="reports"), VerticalScroll():
                yield Label("Status reports by Stat", classes="section")
                yield DataTable[Text](id="stat-table", cursor_type="row")
                yield Static("", id="report-delay")
                yield Label("Where did the reports go (per SP)", classes="section")
                yield DataTable[Text](id="recon-table", cursor_type="row")
                yield Static("", id="recon-summary")
                yield Static("", id="long-sms")
            with TabPane("Over time", id="time"), VerticalScroll():
                yield Label("PDUs per second", classes="section", id="tps-label")
                yield Bars(id="tps")
                yield Label("SUBMITs per second", classes="section", id="sps-label")
                yield Bars(id="sps")
                yield Label("SUBMIT latency, mean per slot (ms)", classes="section",
                            id="latency-label")
                yield Bars(id="latency")
            with TabPane("Diagnosis", id="diagnosis"), VerticalScroll():
                yield Label("Is it really a timeout? Requests unanswered or resent",
                            classes="section")
                yield Static("", id="timeouts-summary")
                yield DataTable[Text](id="timeouts-table", zebra_stripes=True,
                                      cursor_type="row")
                yield Label("Flow control: what bound the rate", classes="section")
                yield Static("", id="flow-summary")
                yield DataTable[Text](id="flow-table", zebra_stripes=True, cursor_type="row")
                yield Label("Links per SP", classes="section")
                yield DataTable[Text](id="links-table", zebra_stripes=True, cursor_type="row")
            with TabPane("Expert", id="expert"):
                yield Static("", id="expert-counts")
                yield ExpertList(self.model, id="expert-list")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        if self.scope is None:
            self.model.want_report.set()
        self.call_after_refresh(self.refresh_from_model)

    def on_screen_resume(self) -> None:
        if self.scope is None:
            self.model.want_report.set()
        super().on_screen_resume()

    def on_screen_suspend(self) -> None:
        if self.scope is None:
            self.model.want_report.clear()
        self.model.want_diagnosis.clear()

    def refresh_from_model(self) -> None:
        if not self.query("#expert-list"):
            return  # the tab panes mount after the screen
        self.query_one("#expert-list", ExpertList).sync()
        if self.scope is not None:
            self._count_scope()
            return
        report = self.model.report
        if report is None or self.model.report_generation == self._report_seen:
            if report is None:
                self.query_one("#report-delay", Static).update(
                    Text("statistics appear within a second…"))
            return
        self._report_seen = self.model.report_generation
        self._show(report)

    # -- a scope's statistics ---------------------------------------------------------------

    def _count_scope(self) -> None:
        """Count the scope again when it grew, at most every SCOPE_EVERY_S (a worker does it:
        half a million rows take a second or two)."""
        assert self.scope is not None
        rows = len(self.scope)
        now = time.monotonic()
        if rows == self._scope_rows or (self._scope_report is not None
                                        and now - self._scope_at < SCOPE_EVERY_S):
            return
        if any(w.group == "scope" and not w.is_finished for w in self.workers):
            return
        self._scope_at = now
        self._scope_worker(self.scope.rows(), self.model.released)

    @work(thread=True, exclusive=True, group="scope")
    def _scope_worker(self, rows: np.ndarray, released: int
                      ) -> tuple[int, dict[str, Any] | None, list[int]]:
        """The scope's rows counted (those held: rows that went since they were taken, with
        the oldest past --max-pdus, are left out; the others are renumbered)."""
        worker = get_current_worker()
        with self.model.rows_gate.reading():
            gone = self.model.released - released
            if gone:
                rows = rows[rows >= gone] - gone
            report = rows_report(self.model.store, rows,
                                 progress=lambda _fraction: not worker.is_cancelled)
            return len(rows), report, self._scope_findings(rows)

    def _scope_findings(self, rows: np.ndarray) -> list[int]:
        """Positions of the findings about the scope: a session's (by session), a list's (by
        the frames of its PDUs). Counted in the worker: there may be 100,000 findings."""
        items = self.model.expert[:self.model.expert_count]
        if isinstance(self.scope, SessionRows):
            sid = self.scope.session
            return [i for i, e in enumerate(items) if e.session == sid]
        frames = set(np.unique(self.model.store.frame[rows]).tolist())
        return [i for i, e in enumerate(items) if e.frame is not None and e.frame in frames]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "scope" or event.state is not WorkerState.SUCCESS:
            return
        result: Any = worker.result
        rows, report, findings = result
        if report is None:
            return
        self._scope_rows = rows
        self._scope_report = report
        counts = Counter((str(self.model.expert[i].severity), self.model.expert[i].code)
                         for i in findings)
        report["expert_counts"] = [{"severity": sev, "code": code, "count": n}
                                   for (sev, code), n in counts.most_common()]
        self.query_one("#expert-list", ExpertList).set_positions(findings)
        self._show(report)
        self.set_title_text(self.title_text())
        if self.scope is not None and len(self.scope) != rows:
            self.call_later(self._count_scope)

    def _show(self, report: dict[str, Any]) -> None:
        commands = report["commands"]
        rows = [[_t(command_label(name)), _t(c["paired"], right=True),
                 *(_t(format_number(c["latency_ms"][k]), "bold" if k == "p99" else "",
                      right=True) for k in SUMMARY_KEYS)] for name, c in commands.items()]
        _fill(self.query_one("#srt-table", DataTable),
              [("Request", False), ("Paired", True), *((k, True) for k in SUMMARY_KEYS)], rows)
        rows = [[_t(command_label(name)), *(_t(c[k], right=True) for k in (
            "requests", "retransmitted", "responses", "paired", "unanswered",
            "orphan_responses"))] for name, c in commands.items()]
        _fill(self.query_one("#counts-table", DataTable),
              [("Request", False), ("Req", True), ("Resent", True), ("Resp", True),
               ("Paired", True), ("Unans", True), ("Orphan", True)], rows)
        rows = [[_t(command_label(r["command"])), _t(r["code"], "red" if r["code"] else "",
                                                      right=True),
                 _t(r["name"] or ""), _t(r["count"], right=True)] for r in report["results"]]
        _fill(self.query_one("#results-table", DataTable),
              [("Response", False), ("Code", True), ("Meaning", False), ("Count", True)], rows)
        reports = report["reports"]
        rows = [[_t(stat), _t(info["class"], "red" if info["class"] == "failed" else ""),
                 _t(info["count"], right=True)] for stat, info in reports["stat"].items()]
        _fill(self.query_one("#stat-table", DataTable),
              [("Stat", False), ("Class", False), ("Count", True)], rows)
        delay = reports["submit_to_report_ms"]
        self.query_one("#report-delay", Static).update(Text(
            f"Submit → report delay: {reports['matched']} matched · "
            + " · ".join(f"{k} {format_ms(delay[k])}" for k in SUMMARY_KEYS)))
        self._show_reconciliation(report.get("reconciliation"))
        self._show_diagnosis(report)
        long_sms = report.get("long_sms")
        if long_sms:
            self.query_one("#long-sms", Static).update(Text(
                f"Long SMS: {long_sms['complete']} complete · {long_sms['incomplete']} "
                f"incomplete · {long_sms['parts']} parts"))
        self._show_over_time(report.get("over_time") or {})
        counts = report.get("expert_counts") or []
        summary = " · ".join(f"{c['severity']} {c['code']} {c['count']}" for c in counts[:8])
        self.query_one("#expert-counts", Static).update(
            Text(safe_text(summary or "no findings"), no_wrap=True, overflow="ellipsis"))

    def _show_reconciliation(self, rec: dict[str, Any] | None) -> None:
        """Reports against their SUBMITs, per SP (the report's reconciliation section; a
        scope's report has none: the matching is the whole capture's)."""
        rows = []
        if rec is not None:
            for sp, f in rec["per_sp"].items():
                rows.append([_t(sp), *(_t(f[k], "red" if k in _BAD and f[k] else "", right=True)
                                       for k in _RECON),
                             _t(format_ms(f["submit_to_report_ms"]["p50"]), right=True)])
        _fill(self.query_one("#recon-table", DataTable),
              [("SP id", False), ("Awaited", True), ("Reported", True), ("Never", True),
               ("Other conn", True), ("Dup", True), ("Unmatched", True), ("Near miss", True),
               ("Delay p50", True)], rows)
        if rec is None:
            text = "for the whole capture only (3 without a scope)"
        else:
            near = rec["near_misses"]
            rules = ", ".join(f"{r} {n}" for r, n in near["by_rule"].items())
            text = (f"Never reported: {rec['never_reported']['count']} · matching no SUBMIT: "
                    f"{rec['unmatched']['count']} ({rec['unmatched']['submit_may_predate_capture']}"
                    f" may predate the capture) · duplicates {rec['duplicates']['count']} · "
                    f"another connection {rec['other_connection']['count']} · near misses "
                    f"{near['count']}" + (f" ({rules})" if rules else ""))
        self.query_one("#recon-summary", Static).update(Text(safe_text(text)))

    def _show_diagnosis(self, report: dict[str, Any]) -> None:
        """What became of the requests called unanswered or resent, what bound each
        session's rate, and each SP's links (the report's timeouts, flow_control and links
        sections; a scope's report has none)."""
        timeouts = report.get("timeouts")
        self._timeout_frames = []
        rows = []
        if timeouts is None:
            text = "for the whole capture only (3 without a scope)"
        else:
            outcomes = " · ".join(f"{k} {n}" for k, n in timeouts["outcomes"].items() if n)
            text = (f"{timeouts['requests']} requests (timeout {timeouts['timeout_s']:g} s)"
                    + (f": {outcomes}" if outcomes else "") + " · Enter jumps to the request")
            for e in timeouts["listed"][:LISTED]:
                bad = e["outcome"] in ("never", "duplicate", "other-connection",
                                       "wrong-sequence")
                after = e["answer_after_ms"]
                rows.append([_t(e["frame"], right=True), _t(command_label(e["command"])),
                             _t(e["sequence_id"], right=True), _t(e["sends"], right=True),
                             _t(e["outcome"], "red" if bad else ""),
                             _t(e["answer_frame"] or "-", right=True),
                             _t("-" if after is None else format_ms(after), right=True),
                             _t(safe_text(e["sp_id"]))])
                self._timeout_frames.append(e["frame"])
        self.query_one("#timeouts-summary", Static).update(Text(safe_text(text)))
        _fill(self.query_one("#timeouts-table", DataTable),
              [("Frame", True), ("Request", False), ("Seq", True), ("Sends", True),
               ("Outcome", False), ("Answer", True), ("After", True), ("SP id", False)], rows)
        flow = report.get("flow_control")
        rows = []
        if flow is not None:
            for r in flow["sessions"]:
                bound = ", ".join(f"{k} {v:g} s" for k, v in r["verdict_seconds"].items())
                rows.append([_t(r["session"], right=True), _t(r["sp_id"] or "-"),
                             _t(r["side"].replace("_", " ")),
                             _t(r["max_in_flight"], right=True),
                             _t(r["sends_over_window"], "red" if r["sends_over_window"] else "",
                                right=True),
                             _t(r["max_sends_per_s"], right=True),
                             _t(r["refusal_runs"], "red" if r["refusal_runs"] else "",
                                right=True), _t(bound)])
        self.query_one("#flow-summary", Static).update(Text(
            "for the whole capture only" if flow is None else
            f"window W = {flow['window']} · sessions bound by the window or the gateway, or "
            "refused: " + str(len(rows))))
        _fill(self.query_one("#flow-table", DataTable),
              [("Session", True), ("SP id", False), ("Side", False), ("In flight", True),
               ("Over W", True), ("Max/s", True), ("Refusals", True), ("Time bound by", False)],
              rows)
        links = report.get("links")
        rows = []
        if links is not None:
            for sp, e in links["per_sp"].items():
                logins = ", ".join(f"{k} {n}" for k, n in e["logins"].items())
                closed = ", ".join(f"{k} {n}" for k, n in e["closed"].items())
                rows.append([_t(sp), _t(e["sessions"], right=True), _t(e["connects"], right=True),
                             _t(e["max_connects_per_minute"], right=True),
                             _t(e["storms"], "red" if e["storms"] else "", right=True),
                             _t(e["idle_gaps"], right=True), _t(logins), _t(closed)])
        _fill(self.query_one("#links-table", DataTable),
              [("SP id", False), ("Sessions", True), ("CONNECTs", True), ("Max/min", True),
               ("Storms", True), ("Idle gaps", True), ("Logins", False), ("Closed", False)],
              rows)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a request of the Diagnosis tab: the PDU list at that request."""
        if event.data_table.id != "timeouts-table":
            return
        event.stop()
        if 0 <= event.cursor_row < len(self._timeout_frames):
            self.capture_app.jump_to_frame(self._timeout_frames[event.cursor_row])

    def _show_over_time(self, over: dict[str, Any]) -> None:
        """Each chart with its time axis; each title with its peak and when it was.

        With one-second slots the busiest slot is the peak second. Longer slots hold a mean
        per second, so the title gives the engine's peak second and, apart, when the busiest
        slot began (the peak second is somewhere in the capture, not necessarily there)."""
        bucket = over.get("bucket_s", 1)
        start = over.get("start")
        series = {"tps": over.get("pdus_per_s") or [], "sps": over.get("submits_per_s") or [],
                  "latency": [v or 0.0 for v in over.get("submit_latency_ms") or []]}
        for key, data in series.items():
            self.query_one(f"#{key}", Bars).show(data, start=start, slot_s=bucket)

        def when(data: list[float]) -> str:
            if start is None or not data or max(data) <= 0:
                return ""
            at = format_clock(start + data.index(max(data)) * bucket)
            return f" at {at}" if bucket == 1 else f", busiest {bucket} s from {at}"

        for key, label, peak in (("tps", "PDUs per second", "peak_pdus_per_s"),
                                 ("sps", "SUBMITs per second", "peak_submits_per_s")):
            self.query_one(f"#{key}-label", Label).update(Text(
                f"{label}: peak {over.get(peak, 0)}{when(series[key])}"))
        lat = series["latency"]
        self.query_one("#latency-label", Label).update(Text(
            f"SUBMIT latency, mean per {bucket} s: max "
            f"{format_ms(max(lat) if lat else None)}{when(lat)}"))

    def action_tab(self, delta: int) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        index = _TABS.index(tabs.active) if tabs.active in _TABS else 0
        tabs.active = _TABS[(index + delta) % len(_TABS)]

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # Keys act on the list of the tab in view (Down/Enter on findings), however it was
        # reached: ] / [ or a click on the tab.
        if event.pane.id == "expert":
            self.query_one("#expert-list", ExpertList).focus()
        # The Diagnosis tab needs every session's figures: asked for only while in view.
        if event.pane.id == "diagnosis" and self.scope is None:
            self.model.want_diagnosis.set()
            self._report_seen = -1
        else:
            self.model.want_diagnosis.clear()

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        event.stop()
        item = self.query_one("#expert-list", ExpertList).item(event.position)
        if item is None:
            return
        if item.frame is None:
            self.notify("this finding is not about one PDU", timeout=2, markup=False)
            return
        self.capture_app.jump_to_frame(item.frame)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
