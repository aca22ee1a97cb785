"""Report reconciliation (issue 16, part 1): where did my reports go?

Each test builds a capture whose every SUBMIT, response and status report is known, with
explicit times, and checks every figure of the ``reconciliation`` section (and the findings)
against what it built: SUBMITs never reported (per SP, per hour, per recipient of a group
send, with their age), reports matching no SUBMIT_RESP (near the capture's start or not),
duplicates, reports on another connection, each near-miss rule, and the delay per SP and
Stat; in both CMPP versions. The caps are proven at two sizes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pcaputil import (
    BASE_TS_NS,
    Conversation,
    connect_pdu,
    connect_resp_pdu,
    dest_number,
    report_pdu,
    submit_pdu,
    submit_resp_pdu,
    write_pcap,
)

import cmppdissect
from cmppdissect.engine.engine import REPORT_DELAY_S
from cmppdissect.output.text import write_summary
from cmppdissect.protocol.msgid import make_msg_id
from cmppdissect.protocol.version import Version

V2, V3 = Version.V2_0, Version.V3_0
NS = 1_000_000_000
GATEWAY_SHIFT = 16


def msg_id(minute: int, sequence: int, gateway: int = 79101) -> int:
    return make_msg_id(11, 24, 10, minute, 7, gateway, sequence)


@dataclass
class Builder:
    """Frames in time order, each PDU's frame number remembered (1-based, as reported)."""

    frames: list[tuple[int, bytes]] = field(default_factory=list)

    def add(self, t_s: float, frames: list[bytes]) -> int:
        first = len(self.frames) + 1
        for f in frames:
            self.frames.append((BASE_TS_NS + round(t_s * NS), f))
        return first

    def login(self, t_s: float, conv: Conversation, v: Version, sp: str) -> None:
        self.add(t_s, conv.handshake())
        self.add(t_s, conv.send(True, connect_pdu(v, 1, sp=sp)))
        self.add(t_s, conv.send(False, connect_resp_pdu(v, 1, sp=sp)))

    def submit(self, t_s: float, conv: Conversation, v: Version, seq: int, mid: int, *,
               dests: int = 1, registered: int = 1, result: int = 0, i: int | None = None
               ) -> int:
        """A SUBMIT at t_s answered 10 ms later; returns the SUBMIT's frame."""
        frame = self.add(t_s, conv.send(True, submit_pdu(v, seq, i, dests=dests,
                                                          registered=registered)))
        self.add(t_s + 0.01, conv.send(False, submit_resp_pdu(v, seq, mid, result)))
        return frame

    def report(self, t_s: float, conv: Conversation, v: Version, seq: int, mid: int,
               stat: str = "DELIVRD", dest: bytes = b"8613800138000") -> int:
        return self.add(t_s, conv.send(False, report_pdu(v, seq, mid, stat, dest=dest)))

    def write(self, path: Path) -> Path:
        return write_pcap(path, self.frames)


def conv(port: int) -> Conversation:
    return Conversation(client=("192.0.2.10", port))


def run(path: Path, **settings: object) -> tuple[dict, cmppdissect.Analysis]:
    analysis = cmppdissect.analyze(path, **settings)
    return analysis.reconciliation(), analysis


def sid_of(analysis: cmppdissect.Analysis, sp: str) -> int:
    return next(s.id for s in analysis.sessions if s.sp_id == sp)


# -- never reported, duplicates, other connection, delays -------------------------------------


@pytest.mark.parametrize("v", [V2, V3], ids=["2.0", "3.0"])
def test_never_reported_duplicate_other_connection_and_delays(tmp_path: Path, v: Version
                                                              ) -> None:
    b = Builder()
    a, a2, z = conv(40001), conv(40002), conv(40003)
    b.login(0, a, v, "901234")
    b.login(0.5, a2, v, "901234")      # a second connection of the same SP
    b.login(1, z, v, "905678")
    m1, m2, m3 = msg_id(15, 100), msg_id(15, 200), msg_id(15, 300)
    # SP 901234: a group send to 3 (ids m1, m1+1, m1+2), recipient 2 never reported
    group = b.submit(10, a, v, 2, m1, dests=3, i=10)
    b.submit(11, a, v, 3, msg_id(15, 400), registered=1, result=8)  # refused: awaits nothing
    b.submit(12, a, v, 4, msg_id(15, 500), registered=0)            # asked for no report
    other = b.submit(13, a, v, 5, m2)
    # SP 905678: one SUBMIT in the next hour, never reported
    lost = b.submit(3000, z, v, 2, m3, i=30)
    r1 = b.report(3005, a, v, 10, m1, "DELIVRD", dest=dest_number(10))      # 2995 s
    b.report(3008, a, v, 11, m1 + 2, "UNDELIV", dest=dest_number(12))       # 2998 s
    moved = b.report(3020, a2, v, 12, m2, "DELIVRD", dest=dest_number(5))   # 3007 s, other conn
    dup = b.report(3030, a, v, 13, m1, "DELIVRD", dest=dest_number(10))     # a second report
    end = 3040
    b.add(end, a.send(True, submit_pdu(v, 6, registered=0)))  # the capture's last PDU
    rec, analysis = run(b.write(tmp_path / "r.pcap"))

    s1, s2 = sid_of(analysis, "901234"), sid_of(analysis, "905678")
    assert rec["awaited"] == 5 and rec["matched"] == 3
    never = rec["never_reported"]
    assert never["count"] == 2 and never["per_sp"] == {"901234": 1, "905678": 1}
    # BASE is 2023-11-14 22:13:20 UTC: t=10 s is in the 22:00 hour, t=3000 s in the 23:00 one
    assert never["per_hour"] == [
        {"hour": "2023-11-14 22:00Z", "sp_id": "901234", "count": 1},
        {"hour": "2023-11-14 23:00Z", "sp_id": "905678", "count": 1}]
    assert never["forgotten_past_cap"] == 0
    first, second = never["listed"]
    assert first == {"msg_id": str(m1 + 1), "submit_frame": group, "time": pytest.approx(
        (BASE_TS_NS + 10 * NS) / 1e9), "age_s": pytest.approx(end - 10), "session": s1,
        "sp_id": "901234", "recipient": dest_number(11).decode(), "recipient_index": 1,
        "recipients": 3, "near_miss_frame": None}
    assert (second["msg_id"], second["submit_frame"], second["session"], second["sp_id"],
            second["recipient"], second["recipients"]) == (
        str(m3), lost, s2, "905678", dest_number(30).decode(), 1)
    assert second["age_s"] == pytest.approx(end - 3000)

    assert rec["duplicates"]["count"] == 1
    assert rec["duplicates"]["listed"] == [{
        "frame": dup, "session": s1, "sp_id": "901234", "msg_id": str(m1), "stat": "DELIVRD",
        "first_frame": r1, "submit_frame": group}]
    assert rec["other_connection"]["count"] == 1
    assert rec["other_connection"]["listed"] == [{
        "frame": moved, "session": sid_of_port(analysis, 40002), "msg_id": str(m2),
        "submit_frame": other, "submit_session": s1}]
    assert rec["unmatched"]["count"] == 0 and rec["near_misses"]["count"] == 0

    sp1 = rec["per_sp"]["901234"]
    assert (sp1["awaited"], sp1["matched"], sp1["never_reported"], sp1["other_connection"],
            sp1["duplicates"], sp1["unmatched"]) == (4, 3, 1, 1, 1, 0)
    assert sp1["stat"]["DELIVRD"]["count"] == 2 and sp1["stat"]["UNDELIV"]["count"] == 1
    assert sp1["stat"]["DELIVRD"]["submit_to_report_ms"]["min"] == pytest.approx(2995_000)
    assert sp1["stat"]["DELIVRD"]["submit_to_report_ms"]["max"] == pytest.approx(3007_000)
    assert sp1["stat"]["UNDELIV"]["submit_to_report_ms"]["p50"] == pytest.approx(2998_000)
    assert sp1["submit_to_report_ms"]["p50"] == pytest.approx(2998_000)
    assert sp1["stat"]["UNDELIV"]["class"] == "failed"
    sp2 = rec["per_sp"]["905678"]
    assert (sp2["awaited"], sp2["matched"], sp2["never_reported"]) == (1, 0, 1)
    assert sp2["stat"] == {} and sp2["submit_to_report_ms"]["p50"] is None
    assert set(rec["per_stat"]) == {"DELIVRD", "UNDELIV"}
    assert rec["per_stat"]["DELIVRD"]["count"] == 2
    assert rec["per_stat"]["DELIVRD"]["submit_to_report_ms"]["mean"] == pytest.approx(3001_000)

    codes = [(e.code, e.frame) for e in analysis.expert]
    assert ("report-duplicate", dup) in codes
    # another connection is a chat: counted, not listed
    assert analysis.engine is not None
    counts = {code: n for (_sev, code), n in analysis.engine.expert_counts.items()}
    assert counts["report-other-connection"] == 1 and counts["report-duplicate"] == 1
    # the same section in the report, and in the text summary
    report = analysis.report()
    assert report["reconciliation"] == rec
    out = io.StringIO()
    write_summary(report, out)
    text = out.getvalue()
    assert "Report reconciliation" in text
    assert "Never reported by the end of the capture: 2" in text
    assert f"Msg_Id {m1 + 1} to {dest_number(11).decode()} (recipient 2 of 3)" in text


def sid_of_port(analysis: cmppdissect.Analysis, port: int) -> int:
    return next(s.id for s in analysis.sessions if s.client.endswith(f":{port}"))


# -- unmatched and near misses ----------------------------------------------------------------


@pytest.mark.parametrize("v", [V2, V3], ids=["2.0", "3.0"])
def test_unmatched_and_near_misses(tmp_path: Path, v: Version) -> None:
    b = Builder()
    a = conv(40001)
    b.login(0, a, v, "901234")
    early = b.report(1, a, v, 20, msg_id(3, 1))           # 1 s in: SUBMIT may predate capture
    reversed_id, gateway_id = msg_id(20, 11), msg_id(20, 12)
    decimal_id, hex_id = msg_id(20, 13), msg_id(20, 14)
    s_rev = b.submit(5, a, v, 2, reversed_id)
    s_gw = b.submit(6, a, v, 3, gateway_id)
    s_dec = b.submit(7, a, v, 4, decimal_id)
    s_hex = b.submit(8, a, v, 5, hex_id)
    t = REPORT_DELAY_S + 100                              # later than a report may take
    late = b.report(t, a, v, 21, msg_id(3, 2))
    r_rev = b.report(t + 1, a, v, 22, int.from_bytes(reversed_id.to_bytes(8, "big"), "little"))
    other_gw = gateway_id ^ (1 << GATEWAY_SHIFT)
    r_gw = b.report(t + 2, a, v, 23, other_gw)
    r_dec = b.report(t + 3, a, v, 24, msg_id(3, 3), dest=str(decimal_id).encode())
    r_hex = b.report(t + 4, a, v, 25, msg_id(3, 4), dest=f"{hex_id:016X}".encode())
    rec, analysis = run(b.write(tmp_path / "u.pcap"))

    unmatched = rec["unmatched"]
    assert unmatched["count"] == 6 and unmatched["submit_may_predate_capture"] == 1
    by_frame = {u["frame"]: u for u in unmatched["listed"]}
    assert set(by_frame) == {early, late, r_rev, r_gw, r_dec, r_hex}
    # the capture starts with the SYN at t=0
    assert by_frame[early]["after_capture_start_s"] == pytest.approx(1)
    assert by_frame[early]["submit_may_predate_capture"] is True
    assert by_frame[early]["msg_id"] == str(msg_id(3, 1)) and by_frame[early]["near_miss"] is None
    assert by_frame[late]["submit_may_predate_capture"] is False
    assert by_frame[late]["after_capture_start_s"] == pytest.approx(t)
    assert {f: by_frame[f]["near_miss"] for f in (r_rev, r_gw, r_dec, r_hex)} == {
        r_rev: "byte-reversed", r_gw: "other-gateway", r_dec: "decimal-text",
        r_hex: "hex-text"}

    near = rec["near_misses"]
    assert near["count"] == 4
    assert near["by_rule"] == {"byte-reversed": 1, "decimal-text": 1, "hex-text": 1,
                               "other-gateway": 1}
    assert [(n["frame"], n["rule"], n["submit_frame"], n["submit_msg_id"])
            for n in near["listed"]] == [
        (r_rev, "byte-reversed", s_rev, str(reversed_id)),
        (r_gw, "other-gateway", s_gw, str(gateway_id)),
        (r_dec, "decimal-text", s_dec, str(decimal_id)), (r_hex, "hex-text", s_hex, str(hex_id))]
    assert near["listed"][1]["msg_id"] == str(other_gw)
    # a near miss is no match: the four SUBMITs are still never reported, marked
    never = {e["submit_frame"]: e["near_miss_frame"] for e in rec["never_reported"]["listed"]}
    assert never == {s_rev: r_rev, s_gw: r_gw, s_dec: r_dec, s_hex: r_hex}
    sp = rec["per_sp"]["901234"]
    assert (sp["awaited"], sp["matched"], sp["unmatched"], sp["near_misses"]) == (4, 0, 6, 4)

    severities = {e.frame: (str(e.severity), e.code) for e in analysis.expert
                  if e.code == "report-unmatched"}
    assert early not in severities  # a chat: counted, not listed
    assert severities[late] == ("warn", "report-unmatched")
    assert analysis.engine is not None
    counts = {(str(sev), code): n for (sev, code), n in analysis.engine.expert_counts.items()}
    assert counts[("chat", "report-unmatched")] == 1
    assert counts[("warn", "report-unmatched")] == 5
    near_findings = [e for e in analysis.expert if e.code == "report-near-miss"]
    assert len(near_findings) == 4
    assert all(e.frame in (r_rev, r_gw, r_dec, r_hex) for e in near_findings)
    assert "byte-reversed" in near_findings[0].message
    out = io.StringIO()
    write_summary(analysis.report(), out)
    text = out.getvalue()
    assert f"age {REPORT_DELAY_S + 100 - 5 + 4:.1f} s; near miss: the report in frame {r_rev}" \
        in text
    assert "Near misses: 4 (byte-reversed 1, decimal-text 1, hex-text 1, other-gateway 1)" in text
    assert "Reports matching no SUBMIT_RESP: 6 (1 within 600 s" in text
    assert str(reversed_id) in near_findings[0].message


def test_no_near_miss_for_short_digit_runs(tmp_path: Path) -> None:
    """A recipient number is no Msg_Id: digit runs shorter than 6 are not read as ids."""
    b = Builder()
    a = conv(40001)
    b.login(0, a, V2, "901234")
    b.submit(1, a, V2, 2, 12345)  # a gateway that numbers its ids from 1 (D20)
    b.report(2, a, V2, 3, 999, dest=b"12345")
    rec, _ = run(b.write(tmp_path / "s.pcap"))
    assert rec["unmatched"]["count"] == 1 and rec["near_misses"]["count"] == 0


# -- caps ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cap", [3, 7])
def test_awaiting_and_reported_caps_bound_the_state(tmp_path: Path, cap: int) -> None:
    b = Builder()
    a = conv(40001)
    b.login(0, a, V2, "901234")
    n = 20
    for k in range(n):          # reported: each id is remembered for duplicates, up to the cap
        b.submit(1 + k, a, V2, 2 + k, msg_id(30, k))
        b.report(1.5 + k, a, V2, 100 + k, msg_id(30, k))
    for k in range(n):          # never reported: awaiting, up to the cap
        b.submit(30 + k, a, V2, 40 + k, msg_id(31, k))
    b.report(60, a, V2, 200, msg_id(30, 0))  # a duplicate of a forgotten report: unmatched
    b.report(61, a, V2, 201, msg_id(30, n - 1))  # a duplicate of a remembered one
    analysis = cmppdissect.analyze(b.write(tmp_path / "c.pcap"), max_awaiting_reports=cap)
    analysis.start(keep_rows=False)
    most = {"awaiting_reports": 0, "reported_ids": 0}
    for _batch in analysis.batches():
        assert analysis.engine is not None
        sizes = analysis.engine.core.table_sizes()
        for key in most:
            most[key] = max(most[key], sizes[key])
    assert most == {"awaiting_reports": cap, "reported_ids": cap}
    rec = analysis.reconciliation()
    assert rec["matched"] == n
    assert rec["never_reported"]["count"] == cap
    assert rec["never_reported"]["forgotten_past_cap"] == n - cap
    assert rec["duplicates"]["count"] == 1 and rec["unmatched"]["count"] == 1
    codes = {e.code for e in analysis.expert}
    assert {"cap-awaiting-reports", "cap-reported-ids"} <= codes


@pytest.mark.parametrize("keys", [2, 4])
def test_report_keys_cap(tmp_path: Path, keys: int) -> None:
    """SPs and Stats past max_report_keys are counted together as '(other)'."""
    b = Builder()
    sps = [f"90{k:04d}" for k in range(6)]
    convs = [conv(40001 + k) for k in range(6)]
    for k, (c, sp) in enumerate(zip(convs, sps, strict=True)):
        b.login(k * 0.1, c, V2, sp)
    for k, c in enumerate(convs):
        b.submit(1 + k, c, V2, 2, msg_id(40, k))
        b.report(10 + k, c, V2, 3, msg_id(40, k), "DELIVRD")
    rec, analysis = run(b.write(tmp_path / "k.pcap"), max_report_keys=keys)
    assert rec["matched"] == 6
    per_sp = rec["per_sp"]
    assert "(other)" in per_sp
    assert sum(f["matched"] for f in per_sp.values()) == 6
    assert len(per_sp) <= keys + 1
    assert analysis.engine is not None
    assert analysis.engine.core.table_sizes()["report_keys"] == keys
    assert "cap-report-keys" in {e.code for e in analysis.expert}


# -- the TUI's Reports tab ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_tui_reports_tab_shows_the_reconciliation(tmp_path: Path) -> None:
    from test_tui import app_for, indexed
    from textual.widgets import DataTable, Static

    from cmppdissect.tui.screens.stats import StatsScreen

    b = Builder()
    a = conv(40001)
    b.login(0, a, V2, "901234")
    m = msg_id(15, 1)
    b.submit(1, a, V2, 2, m, dests=2)
    b.report(2, a, V2, 10, m, "DELIVRD")
    b.report(3, a, V2, 11, m, "DELIVRD")            # a duplicate
    b.report(4, a, V2, 12, msg_id(3, 9))            # matches nothing
    app = app_for(b.write(tmp_path / "t.pcap"))
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, StatsScreen)
        table = screen.query_one("#recon-table", DataTable)
        for _ in range(100):
            if table.row_count:
                break
            await pilot.pause(0.02)
        # SP, awaited, reported, never, other conn, dup, unmatched, near miss, delay p50
        assert [str(c) for c in table.get_row_at(0)[:8]] == [
            "901234", "2", "1", "1", "0", "1", "1", "0"]
        summary = str(screen.query_one("#recon-summary", Static).render())
        assert "Never reported: 1" in summary and "duplicates 1" in summary


def test_a_big_group_send_names_its_first_recipients_and_counts_all(tmp_path: Path) -> None:
    """A request in flight stays small: the first RECIPIENTS_KEPT recipients are named, the
    rest listed by their place; every Msg_Id of the group is counted."""
    from cmppdissect.core._engine import RECIPIENTS_KEPT

    b = Builder()
    a = conv(40001)
    b.login(0, a, V3, "901234")
    dests = RECIPIENTS_KEPT + 4
    frame = b.submit(1, a, V3, 2, msg_id(50, 0), dests=dests, i=100)
    rec, _ = run(b.write(tmp_path / "g.pcap"))
    listed = rec["never_reported"]["listed"]
    assert rec["never_reported"]["count"] == dests == len(listed)
    assert [e["recipient_index"] for e in listed] == list(range(dests))
    assert all(e["recipients"] == dests and e["submit_frame"] == frame for e in listed)
    assert [e["recipient"] for e in listed] == [
        dest_number(100 + k).decode() if k < RECIPIENTS_KEPT else "" for k in range(dests)]
    assert [e["msg_id"] for e in listed] == [str(msg_id(50, 0) + k) for k in range(dests)]


def test_stopped_early_says_so(tmp_path: Path) -> None:
    """With -c the rest of the capture is not read: the SUBMITs are not reported *by then*."""
    b = Builder()
    a = conv(40001)
    b.login(0, a, V2, "901234")
    b.submit(1, a, V2, 2, msg_id(51, 0))
    b.report(2, a, V2, 10, msg_id(51, 0))
    path = b.write(tmp_path / "c.pcap")
    whole, _ = run(path)
    assert whole["stopped_early"] is False and whole["matched"] == 1
    analysis = cmppdissect.analyze(path)
    analysis.start(keep_rows=False, pdu_limit=4)  # CONNECT, its RESP, the SUBMIT, its RESP
    rec = analysis.reconciliation()
    assert rec["stopped_early"] is True
    assert rec["never_reported"]["count"] == 1 and rec["matched"] == 0
    out = io.StringIO()
    write_summary(analysis.report(), out)
    assert "Never reported when reading stopped (-c): 1" in out.getvalue()
