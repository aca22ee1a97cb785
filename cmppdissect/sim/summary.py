"""The simulator's live one-line status and its final summary.

On a terminal the status line is rewritten in place with ``\\r``; into a file or a pipe it is
printed as a new line every few seconds, so logs stay readable. Anything that came off the
wire (an SP_Id, a Stat word) goes through :func:`safe_text` first: a peer must not be able to
drive the user's terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections import Counter
from types import TracebackType
from typing import TextIO

from cmppdissect.options import format_hostport
from cmppdissect.output.sanitize import safe_text
from cmppdissect.protocol.commands import CommandId, command_name
from cmppdissect.sim.log import ConnectionLog, Latencies, SimLog

C = CommandId


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def _short(command_id: int) -> str:
    return command_name(command_id).removeprefix("CMPP_")


class StatusLine:
    """Formats the one-line status; remembers the last call to show a current rate."""

    def __init__(self, log: SimLog) -> None:
        self.log = log
        self.started = time.monotonic()
        self._last: tuple[float, int] | None = None

    def _traffic(self) -> tuple[str, int]:
        """The request this side is busiest with, and how many of it so far."""
        if self.log.role == "sp":
            return "SUBMIT", sum(c.sent[C.CMPP_SUBMIT] for c in self.log.connections)
        return "SUBMIT", sum(c.received[C.CMPP_SUBMIT] for c in self.log.connections)

    def render(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        log = self.log
        conns = log.connections
        open_now = sum(1 for c in conns if c.closed_at is None)
        logged = sum(1 for c in conns if c.logged_in)
        name, count = self._traffic()
        since, before = self._last or (self.started, 0)
        rate = (count - before) / (now - since) if now > since else 0.0
        self._last = (now, count)
        sent, received = log.total("sent"), log.total("received")
        verb = "sent" if log.role == "sp" else "received"
        parts = [
            f"{log.role} {now - self.started:6.1f}s",
            f"conn {open_now} open/{len(conns)} ({logged} logged in)",
            f"{name} {count} {verb} {rate:7.1f}/s",
        ]
        results = log.total("results" if log.role == "sp" else "results_sent")
        errors = sum(n for (cmd, result), n in results.items()
                     if cmd == C.CMPP_SUBMIT_RESP and result)
        resp = (received if log.role == "sp" else sent)[C.CMPP_SUBMIT_RESP]
        parts.append(f"resp {resp} err {errors}")
        if log.role == "sp":
            parts.append(f"in flight {sum(c.in_flight for c in conns if c.closed_at is None)}")
            lat = log.latency(C.CMPP_SUBMIT)
            parts.append(f"p50 {_ms(lat.percentile(50))} ms")
        reports = sum(log.total("reports_sent" if log.role == "ismg" else "reports_received")
                      .values())
        mo = sum(c.mo_sent if log.role == "ismg" else c.mo_received for c in conns)
        parts.append(f"reports {reports} MO {mo}")
        parts.append(f"AT {sent[C.CMPP_ACTIVE_TEST]}/{received[C.CMPP_ACTIVE_TEST]}")
        faults = log.total("faults")
        if faults:
            parts.append(" ".join(f"{k} {v}" for k, v in sorted(faults.items())))
        return " | ".join(parts)


class LiveSummary:
    """Shows the status line on ``stream`` until the ``async with`` block ends."""

    def __init__(self, log: SimLog, stream: TextIO, *, interval: float | None = None,
                 enabled: bool = True) -> None:
        self.stream = stream
        self.tty = _isatty(stream)
        self.interval = interval if interval else (0.5 if self.tty else 5.0)
        self.enabled = enabled
        self.line = StatusLine(log)
        self._task: asyncio.Task[None] | None = None
        self._shown = False

    def show(self) -> None:
        text = self.line.render()
        if self.tty:
            width = max(20, shutil.get_terminal_size().columns - 1)
            self.stream.write("\r" + text[:width] + "\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._shown = True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.show()

    async def __aenter__(self) -> LiveSummary:
        if self.enabled:
            self._task = asyncio.ensure_future(self._run())
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# -- final summary ------------------------------------------------------------------------------


def _connection_line(c: ConnectionLog) -> str:
    local = format_hostport(*c.local) if c.local else "?"
    peer = format_hostport(*c.peer) if c.peer else "?"
    sp = safe_text(c.sp_id) if c.sp_id is not None else "?"
    version = c.version or "?"
    login = "no CONNECT_RESP" if c.login_status is None else f"Status {c.login_status}"
    took = ("" if c.opened_at is None or c.closed_at is None
            else f", {c.closed_at - c.opened_at:.1f} s")
    closed = safe_text(c.close_reason or "open")
    line = f"  {local} -> {peer}  SP {sp}  CMPP {version}  login {login}  ({closed}{took})"
    if c.auth_check is not None:
        line += f"\n    {c.auth_check}"
    return line


def _latency_row(name: str, lat: Latencies) -> str:
    return (f"  {name:<24}{lat.count:>9}{_ms(lat.minimum if lat.count else None):>9}"
            f"{_ms(lat.percentile(50)):>9}{_ms(lat.percentile(90)):>9}"
            f"{_ms(lat.maximum if lat.count else None):>9}")


def _counter_line(label: str, counter: Counter[str]) -> str | None:
    if not counter:
        return None
    items = ", ".join(f"{safe_text(k)} x{v}" for k, v in sorted(counter.items()))
    return f"{label}: {items}"


def _non_zero(results: Counter[tuple[int, int]]) -> Counter[str]:
    """Non-zero Result/Status/Success_Id values by response (CONNECT_RESP shows per login)."""
    out: Counter[str] = Counter()
    for (cmd, result), n in results.items():
        if result and cmd != C.CMPP_CONNECT_RESP:
            out[f"{_short(cmd)}={result}"] += n
    return out


def final_summary(log: SimLog, *, label: str | None = None) -> str:
    """A few lines for the end of a run: connections, PDU counts, latencies, what went wrong."""
    conns = log.connections
    title = label or ("SP client" if log.role == "sp" else "ISMG server")
    lines = [f"{title}: {len(conns)} connection(s), "
             f"{sum(1 for c in conns if c.logged_in)} logged in"]
    shown = conns[:10]
    lines += [_connection_line(c) for c in shown]
    if len(conns) > len(shown):
        lines.append(f"  ... and {len(conns) - len(shown)} more")
    sent, received = log.total("sent"), log.total("received")
    if sent or received:
        lines.append(f"  {'PDU':<24}{'sent':>9}{'received':>9}")
        for cmd in sorted(set(sent) | set(received)):
            lines.append(f"  {command_name(cmd):<24}{sent[cmd]:>9}{received[cmd]:>9}")
    requests = sorted({cmd for c in conns for cmd in c.latencies})
    if requests:
        lines.append(f"  {'latency (ms)':<24}{'pairs':>9}{'min':>9}{'p50':>9}{'p90':>9}"
                     f"{'max':>9}")
        lines += [_latency_row(command_name(cmd), log.latency(cmd)) for cmd in requests]
    named = {
        "non-zero results received": _non_zero(log.total("results")),
        "non-zero results sent": _non_zero(log.total("results_sent")),
        "unanswered": Counter({_short(k): v for k, v in log.total("unanswered").items()}),
        "retransmitted": Counter({_short(k): v for k, v in log.total("retransmits").items()}),
        "responses to no request": Counter(
            {_short(k): v for k, v in log.total("unmatched").items()}),
        "reports sent": log.total("reports_sent"),
        "reports received": log.total("reports_received"),
        "faults injected": log.total("faults"),
    }
    for label_, counter in named.items():
        line = _counter_line(label_, counter)
        if line is not None:
            lines.append("  " + line)
    mo_sent = sum(c.mo_sent for c in conns)
    mo_received = sum(c.mo_received for c in conns)
    if mo_sent or mo_received:
        lines.append(f"  MO messages: {mo_sent} sent, {mo_received} received")
    unmatched_reports = sum(c.reports_unmatched for c in conns)
    if unmatched_reports:
        lines.append(f"  reports for unknown Msg_Ids: {unmatched_reports}")
    skipped = sum(c.skipped_bytes for c in conns)
    if skipped:
        lines.append(f"  bytes skipped while reading: {skipped}")
    lines += [f"  error: {safe_text(e)}" for e in log.errors]
    return "\n".join(lines)
