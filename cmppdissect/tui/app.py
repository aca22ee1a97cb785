"""The Textual application: four top-level screens over one model, fed by a worker thread.

Sessions, PDUs, Statistics and Messages are Textual *modes*, each with its own stack (Detail
and Ladder are pushed on top), so ``1`` to ``4`` switch between them without losing one's place.
The indexer runs in a thread worker from the first frame on; a timer tells the visible screen
when the model has published something new. The Messages screen's rows are built by a second
worker, from the first time that screen is shown. With a cap on the rows held (``max_pdus``:
``--max-pdus``, a live capture's default), the indexer asks this thread to let the oldest go
(:meth:`~cmppdissect.tui.indexer.Indexer.release_rows`), since every list renumbers its rows
then.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from cmppdissect.api import Analysis
from cmppdissect.protocol.commands import DEFAULT_PORTS, CommandId
from cmppdissect.tui.indexer import LIVE_MAX_PDUS, Indexer
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.save import Saved, SaveError, save_frames, save_text
from cmppdissect.tui.screens.base import CaptureScreen
from cmppdissect.tui.screens.detail import DetailScreen
from cmppdissect.tui.screens.help import HelpScreen
from cmppdissect.tui.screens.ladder import LadderScreen
from cmppdissect.tui.screens.pdus import PduScreen
from cmppdissect.tui.screens.save import SaveChoice, SaveScreen
from cmppdissect.tui.screens.sessions import SessionsScreen
from cmppdissect.tui.screens.stats import StatsScreen
from cmppdissect.tui.screens.transactions import TransactionsScreen
from cmppdissect.tui.source import CaptureSource
from cmppdissect.tui.transactions import TransactionTable
from cmppdissect.tui.views import AllRows, RowSet, SessionRows
from cmppdissect.tui.widgets.pdulist import PduList

TICK_S = 0.1  # how often the visible screen looks for news (cheap when there is none)
SWITCH_INTERVAL_S = 0.001  # GIL hand-over while indexing (bench/bench_tui.py measured 5 vs 1 ms)


class RowsDue(Message):
    """The indexer's: the rows held passed the cap (posted from its thread)."""


class CmppApp(App[int]):
    CSS_PATH = Path(__file__).parent / "cmppdissect.tcss"
    TITLE = "cmppdissect"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "mode('sessions')", "Sessions", show=True),
        Binding("2", "mode('pdus')", "PDUs", show=True),
        Binding("3", "mode('stats')", "Stats", show=True),
        Binding("4", "mode('messages')", "Messages", show=True),
        Binding("p", "pause", "Pause", show=True),
        # Shown at the footer's right end on every screen (widgets/footer.py), not listed.
        Binding("question_mark,f1", "help", "Help", show=False),
        Binding("q", "quit", "Quit", show=False),
    ]

    def __init__(self, source: CaptureSource, *, settings: dict[str, Any] | None = None,
                 model: CaptureModel | None = None, display_filter: str | None = None,
                 max_pdus: int | None = None) -> None:
        super().__init__()
        self.source = source
        # -Y on a terminal: the app opens on the PDU list with this filter applied.
        self.display_filter = display_filter
        self.analysis = Analysis(source, {"ports": DEFAULT_PORTS, **(settings or {})})
        self.model = model or CaptureModel(name=Path(source.name).name)
        self.indexer = Indexer(source, self.analysis, self.model,
                               max_pdus=default_max_pdus(source, max_pdus))
        self.indexer.on_release_due = self._rows_due
        self.all_rows = AllRows(self.model)
        model_ = self.model
        self.add_mode("sessions", lambda: SessionsScreen(model_))
        self.add_mode("pdus", lambda: PduScreen(model_, self.all_rows,
                                                display_filter=self.display_filter))
        self.add_mode("stats", lambda: StatsScreen(model_))
        self.transactions = TransactionTable(self.model, max_rows=self.indexer.max_pdus)
        self.add_mode("messages", lambda: TransactionsScreen(model_, self.transactions))

    # -- lifecycle --------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.switch_mode("pdus" if self.display_filter else "sessions")
        # The indexer shares the interpreter with the UI: let the first screen paint before
        # it starts, and hand the GIL over more often than Python's default 5 ms so a key
        # press waits for the indexer's slice less long.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.call_after_refresh(self._start_indexer)
        self.set_interval(TICK_S, self._tick)

    def _start_indexer(self) -> None:
        self.run_worker(self.indexer.run, thread=True, exclusive=True, group="index",
                        name="indexer")

    def _tick(self) -> None:
        self.indexer.idle_publish()
        self.indexer.release_rows()  # a release put off by a busy worker is done now
        try:
            screen = self.screen
        except ScreenStackError:  # starting up or shutting down
            return
        if isinstance(screen, CaptureScreen):
            try:
                screen.model_changed()
            except NoMatches:  # the indexer finished while the screen was being torn down
                return

    def build_transactions(self) -> None:
        """Start building the Messages screen's rows (once): a worker thread follows the
        indexer, handing the builder the rows as they settle."""
        if not self.transactions.start():
            return
        table = self.transactions

        def build() -> None:
            worker = get_current_worker()
            table.run(lambda: worker.is_cancelled)

        self.run_worker(build, thread=True, group="transactions", name="transactions",
                        exit_on_error=False)

    def _rows_due(self) -> None:
        """From the indexer's thread: wake this one to let rows go."""
        self.post_message(RowsDue())

    def on_rows_due(self, _event: RowsDue) -> None:
        if self.indexer.release_rows():
            self._tick()  # the lists show the rows left at once

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "index" and event.state in (WorkerState.SUCCESS,
                                                              WorkerState.ERROR):
            self._tick()
        elif event.worker.group == "save" and event.state in (WorkerState.SUCCESS,
                                                               WorkerState.ERROR):
            self._save_done(event.worker)
        elif event.worker.group == "transactions" and event.state is WorkerState.ERROR:
            self.notify(f"could not build the messages: {event.worker.error}",
                        severity="error", timeout=10, markup=False)

    async def action_quit(self) -> None:
        self.indexer.stop()
        self.exit(0)

    def on_unmount(self) -> None:
        self.indexer.stop()
        self.model.rows_gate.close()
        sys.setswitchinterval(self._switch_interval)

    # -- navigation (screens call these) -----------------------------------------------------

    async def action_mode(self, mode: str) -> None:
        await self.switch_mode(mode)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_pause(self) -> None:
        if self.model.progress.done:
            self.notify("indexing has finished", timeout=2, markup=False)
            return
        if self.indexer.paused:
            self.indexer.resume()
            self.notify("resumed", timeout=1.5, markup=False)
        else:
            self.indexer.pause()
            self.notify("paused: p resumes", timeout=2, markup=False)
        self._tick()

    def action_clear_marks(self) -> None:
        self.model.clear_marks()
        self.refresh(repaint=True)
        for widget in self.screen.query(PduList):
            widget.refresh()
        self.notify("marks cleared", timeout=1.5, markup=False)

    def open_session(self, session: int) -> None:
        self.push_screen(PduScreen(self.model, SessionRows(self.model, session),
                                   show_session=False))

    def open_ladder(self, session: int, row: int | None = None) -> None:
        self.push_screen(LadderScreen(self.model, session, start_row=row))

    def open_stats(self, scope: RowSet) -> None:
        """Statistics of one list: a filter's PDUs, a session's (tshark's -z over a -Y)."""
        self.push_screen(StatsScreen(self.model, scope))

    def open_detail(self, view: RowSet, position: int) -> None:
        if 0 <= position < len(view):
            self.push_screen(DetailScreen(self.model, view, position))

    def gone_words(self, frame: int) -> str:
        """Why ``frame``'s PDU is not in the lists: it went with the oldest (the cap)."""
        return (f"frame {frame} was let go with the oldest PDUs: the TUI holds at most "
                f"{self.model.max_pdus:,} (--max-pdus)")

    def jump_to_frame(self, frame: int) -> None:
        row = self.model.row_of_frame(frame)
        if row is None:
            words = (self.gone_words(frame) if self.model.gone_frame(frame)
                     else f"frame {frame} completed no CMPP PDU")
            self.notify(words, timeout=3, markup=False)
            return
        self.push_screen(PduScreen(self.model, self.all_rows, start_row=row))

    def jump_to_pair(self, rows: PduList) -> None:
        row = rows.current_row()
        if row is None:
            return
        position = self.pair_position(rows.view, row)
        if position is not None:
            rows.move_to(position, center=True)

    def pair_position(self, view: RowSet, row: int) -> int | None:
        """Where ``row``'s request or response sits in ``view``; None (said why) if nowhere."""
        m = self.model
        if not m.paired(row):
            self.notify("this PDU has no paired request or response", timeout=2, markup=False)
            return None
        pair = m.partner(row)
        if pair is None:  # its request went with the oldest rows
            frame = m.partner_frame(row)
            self.notify(self.gone_words(frame) if frame is not None else
                        "its request was let go with the oldest PDUs", timeout=3, markup=False)
            return None
        position = view.position(pair)
        if position is None:
            self.notify(f"frame {m.frame[pair]} is not in this view", timeout=2,
                        markup=False)
        return position

    def go_to_row(self, target: int, rows: PduList | None = None) -> None:
        """Show model row ``target``: under the cursor of ``rows`` when its view holds it,
        else in the list of all PDUs, opened at it."""
        if rows is not None:
            position = rows.view.position(target)
            if position is not None:
                rows.move_to(position, center=True)
                return
        self.push_screen(PduScreen(self.model, self.all_rows, start_row=target))

    def report_link(self, row: int) -> int | None:
        """Where ``R`` goes from ``row``: from a status report to the SUBMIT it answers,
        from a SUBMIT or its SUBMIT_RESP to its first report. None (said why) if nowhere."""
        m = self.model
        submit = m.submit_of_report(row)
        if submit is not None:
            return submit
        reports = m.reports_of(row)
        if reports:
            if len(reports) > 1:
                frames = ", ".join(str(m.frame[r]) for r in reports[:8])
                self.notify(f"{len(reports)} status reports for this SUBMIT (frames {frames})",
                            timeout=4, markup=False)
            return reports[0]
        pdu = m.pdu(row)
        submit_frame = m.store.report_for(row)
        if submit_frame is not None and m.gone_frame(submit_frame):
            why = self.gone_words(submit_frame)
        elif pdu.report is not None:
            why = "no SUBMIT in this capture got this report's Msg_Id"
        elif pdu.Command_Id in (CommandId.CMPP_SUBMIT, CommandId.CMPP_SUBMIT_RESP):
            why = "no status report for this SUBMIT in the capture"
            if not m.progress.done:
                why += " yet"
        else:
            why = "R goes from a status report to its SUBMIT and back: this PDU is neither"
        self.notify(why, timeout=3, markup=False)
        return None

    def jump_report(self, row: int | None, rows: PduList | None = None) -> None:
        if row is None:
            return
        target = self.report_link(row)
        if target is not None:
            self.go_to_row(target, rows)

    def open_long_sms(self, row: int | None) -> None:
        """The long SMS ``row`` is a part of, joined: its text and all its parts."""
        from cmppdissect.tui.screens.longsms import LongSmsScreen

        if row is None:
            return
        home = self.model.long_sms_home(row)
        if home is not None:
            self.push_screen(LongSmsScreen(self.model, home, start_row=row))
            return
        content = self.model.pdu(row).content
        concat = content.udh.concat if content is not None and content.udh is not None \
            else None
        if concat is None:
            why = "this PDU is no part of a long SMS"
        else:
            why = (f"part {concat.part} of {concat.total} (reference {concat.reference}): its "
                   "message was not completed in this capture"
                   + ("" if self.model.progress.done else " yet"))
        self.notify(why, timeout=3, markup=False)

    # -- saving --------------------------------------------------------------------------------

    def open_save(self, choices: Sequence[SaveChoice], *, initial: int = 0) -> None:
        """Ask what to save and where; the save itself runs in a worker thread."""
        if isinstance(self.screen, SaveScreen) or not choices:
            return
        self.push_screen(SaveScreen(choices, capture_path=self.model.capture_path,
                                    initial=initial), self._save_chosen)

    def _save_chosen(self, chosen: tuple[SaveChoice, str] | None) -> None:
        if chosen is None:
            return
        choice, path = chosen
        self.notify(f"saving to {path}…", timeout=2, markup=False)
        self.run_worker(partial(self._save, choice, path), thread=True, group="save",
                        name=f"save {path}", exit_on_error=False)

    def _save(self, choice: SaveChoice, path: str) -> Saved | str:
        """The worker's body: what was saved, or the one line saying why not."""
        worker = get_current_worker()

        def cancelled() -> bool:
            return worker.is_cancelled

        try:
            if choice.text is not None:
                with self.model.rows_gate.reading():  # its rows are read by number
                    text = choice.text(cancelled)
                return save_text(text, path)
            assert choice.rows is not None
            return save_frames(self.model, self.analysis.settings, choice.rows, path,
                               cancelled=cancelled)
        except SaveError as exc:
            return str(exc)
        except InterruptedError:
            return "saving was cancelled"

    def _save_done(self, worker: Worker[Any]) -> None:
        if worker.state is WorkerState.ERROR:  # a bug: still one line, not a traceback
            self.notify(f"could not save: {worker.error}", severity="error", timeout=10,
                        markup=False)
            return
        result = worker.result
        if isinstance(result, Saved):
            self.notify(result.message(), timeout=4, markup=False)
        elif result is not None:
            self.notify(f"could not save: {result}", severity="error", timeout=10,
                        markup=False)

    # -- command palette ---------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Sessions", "Go to the sessions list",
                            lambda: self.call_later(self.action_mode, "sessions"))
        yield SystemCommand("PDUs", "Go to the list of all PDUs",
                            lambda: self.call_later(self.action_mode, "pdus"))
        yield SystemCommand("Statistics", "Response times, results, reports, findings",
                            lambda: self.call_later(self.action_mode, "stats"))
        yield SystemCommand("Messages", "One row per request: response, Result, status report",
                            lambda: self.call_later(self.action_mode, "messages"))
        yield SystemCommand("Pause / resume", "Pause or resume reading the capture",
                            self.action_pause)
        yield SystemCommand("Help", "Keys of every screen and filter examples",
                            self.action_help)
        if isinstance(screen, PduScreen):
            yield SystemCommand("Filter", "Focus the display-filter bar", screen.action_filter)
            yield SystemCommand("Search", "Search text in the rows", screen.action_search)
            yield SystemCommand("Time format", "Relative, absolute or delta times",
                                screen.action_time)
            yield SystemCommand("Ladder", "Sequence diagram of this PDU's session",
                                screen.action_ladder)
            yield SystemCommand("Statistics of this list",
                                "Response times, results, reports and rates of the rows shown",
                                screen.action_stats)
        if isinstance(screen, PduScreen | LadderScreen):
            yield SystemCommand("Mark / unmark row (m)", "Mark the PDU under the cursor",
                                screen.action_mark)
            yield SystemCommand("Clear marks", "Unmark every PDU", self.action_clear_marks)
            yield SystemCommand("SMS text (x)", "Show or hide the SMS text",
                                screen.action_toggle_text)
            yield SystemCommand("Status report ↔ SUBMIT (R)",
                                "From a status report to its SUBMIT, or back",
                                screen.action_report)
            yield SystemCommand("Long SMS (J)", "The whole message this part belongs to",
                                screen.action_long_sms)
        if isinstance(screen, DetailScreen):
            yield SystemCommand("Status report ↔ SUBMIT (R)",
                                "From a status report to its SUBMIT, or back",
                                screen.action_report)
            yield SystemCommand("Long SMS (J)", "The whole message this part belongs to",
                                screen.action_long_sms)
        if isinstance(screen, PduScreen | LadderScreen | SessionsScreen):
            yield SystemCommand("Save… (w)", "Frames as pcapng (session, displayed, marked) "
                                "or a ladder as text", screen.action_save)
        for info in self.model.sessions[:50]:
            yield SystemCommand(f"Session {info.id}: {info.client} → {info.server}",
                                "Open this session's PDUs",
                                lambda sid=info.id: self.open_session(sid),
                                discover=False)


def default_max_pdus(source: CaptureSource, max_pdus: int | None) -> int:
    """The cap on rows held: ``max_pdus`` when given (0: none), else :data:`LIVE_MAX_PDUS`
    for a live capture, which runs for days, and none for a file, whose every row the user
    opened it to see (its size bounds them)."""
    if max_pdus is not None:
        return max_pdus
    return LIVE_MAX_PDUS if source.live else 0


def make_app(source: CaptureSource, *, analyzer_kwargs: dict[str, Any] | None = None,
             display_filter: str | None = None, max_pdus: int | None = None) -> CmppApp:
    """The app for ``source``: the one factory the CLI, the tests and the benchmarks share.
    ``analyzer_kwargs`` are the engine's settings (ports, version, timeout_s, secrets);
    ``display_filter`` opens it on the PDU list with that filter applied (``-Y``);
    ``max_pdus`` caps the rows held (:func:`default_max_pdus`; 0: no cap)."""
    return CmppApp(source, settings=analyzer_kwargs, display_filter=display_filter,
                   max_pdus=max_pdus)


__all__ = ["CmppApp", "RowsDue", "default_max_pdus", "make_app"]
