"""The TUI in a real terminal: tmux runs the program as a user would, and the test reads the
screen back with ``capture-pane`` and types with ``send-keys``.

Pilot drives the app inside the test process; what it cannot show is what only a terminal
has: which file descriptor the keys come from, and what is left on the screen at the end.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tmuxutil import ROOT, Terminal

from cmppdissect.protocol.commands import CommandId as C

SAMPLE = ROOT / "samples" / "cmpp-basic.pcap"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed (.ci/run installs it)")


@pytest.fixture
def terminal() -> Iterator[Callable[[str], Terminal]]:
    opened: list[Terminal] = []

    def start(command: str) -> Terminal:
        opened.append(Terminal(command))
        return opened[-1]

    yield start
    for t in opened:
        t.close()


def test_a_capture_piped_in_reads_keys_from_the_terminal(
        terminal: Callable[[str], Terminal]) -> None:
    """Issue 13: ``cat capture.pcap | cmppdissect -`` on a terminal opened the TUI, whose
    keyboard reader then read the capture pipe. Keys come from the terminal: 2 shows the PDU
    list, Enter a PDU's detail, q quits with status 0."""
    python = shlex.quote(sys.executable)
    t = terminal(f"cat {shlex.quote(str(SAMPLE))} | {python} -m cmppdissect -")
    screen = t.wait_for(lambda s: "192.0.2.10:40001" in s and "905678" in s)
    assert "Sessions" in screen and "<stdin>" in screen
    t.keys("2")
    t.wait_for(lambda s: "All PDUs" in s and "SUBMIT_RESP" in s and "indexed  102 PDUs" in s)
    t.keys("Enter")
    t.wait_for(lambda s: "Total_Length" in s)
    t.keys("Escape")
    t.wait_for(lambda s: "All PDUs" in s)
    t.keys("q")
    screen = t.wait_for(lambda s: "EXIT=" in s)
    assert "EXIT=0" in screen and "Traceback" not in screen


def test_dash_on_a_terminal_is_a_clear_error(terminal: Callable[[str], Terminal]) -> None:
    """``cmppdissect -`` typed with nothing piped in: standard input is the keyboard, not a
    capture. One line, status 2, instead of a TUI waiting for a capture that never comes."""
    t = terminal(f"{shlex.quote(sys.executable)} -m cmppdissect -")
    screen = t.wait_for(lambda s: "EXIT=" in s)
    assert "cmppdissect: -: standard input is the terminal, not a capture" in screen
    assert "EXIT=2" in screen and "Traceback" not in screen


def test_the_screen_draws_with_stderr_redirected(terminal: Callable[[str], Terminal],
                                                 tmp_path: Path) -> None:
    """``cmppdissect f.pcap 2>err.log`` on a terminal: the TUI draws on the terminal (Textual
    writes to stderr, which is the log here), and the log gets no screen bytes."""
    log = tmp_path / "err.log"
    t = terminal(f"{shlex.quote(sys.executable)} -m cmppdissect {shlex.quote(str(SAMPLE))} "
                 f"2>{shlex.quote(str(log))}")
    t.wait_for(lambda s: "192.0.2.10:40001" in s and "905678" in s)
    t.keys("q")
    screen = t.wait_for(lambda s: "EXIT=" in s)
    assert "EXIT=0" in screen
    assert b"\x1b[" not in log.read_bytes()


def test_display_filter_on_a_terminal_opens_the_tui_filtered(
        terminal: Callable[[str], Terminal]) -> None:
    """``cmppdissect -Y EXPR f.pcap`` on a terminal opens the TUI on the filtered PDU list
    (it used to print text records)."""
    expr = shlex.quote('command == "CMPP_SUBMIT_RESP"')
    t = terminal(f"{shlex.quote(sys.executable)} -m cmppdissect -Y {expr} "
                 f"{shlex.quote(str(SAMPLE))}")
    screen = t.wait_for(lambda s: "← SUBMIT_RESP" in s and "filter ✓" in s)
    assert 'filter: command == "CMPP_SUBMIT_RESP"' in screen
    rows = [line for line in screen.splitlines() if "→" in line or "←" in line]
    assert len(rows) >= 5 and all("← SUBMIT_RESP" in line for line in rows)
    t.keys("q")
    assert "EXIT=0" in t.wait_for(lambda s: "EXIT=" in s)


def test_the_footer_always_shows_help_and_quit(terminal: Callable[[str], Terminal]) -> None:
    """Issue 14: the footer cut ``? Help`` and ``q Quit`` off on the PDU list at 120 columns.
    They end the footer on every screen, at 120 and at 80 columns, with the palette's key."""
    t = terminal(f"{shlex.quote(sys.executable)} -m cmppdissect {shlex.quote(str(SAMPLE))}")
    t.wait_for(lambda s: "905678" in s)
    for keys in ((), ("2",), ("Enter",), ("Escape", "3")):
        if keys:
            t.keys(*keys)
        screen = t.wait_for(lambda s: s.rstrip().splitlines()[-1].rstrip().endswith(
            "? Help  q Quit  ^p palette"))
        assert "Traceback" not in screen
    t.resize(80, 24)
    t.keys("2")
    t.wait_for(lambda s: len(s.splitlines()[0]) <= 80
               and s.rstrip().splitlines()[-1].rstrip().endswith("? Help  q Quit  ^p palette"))


def test_a_live_capture_follows_the_newest_pdu_until_a_key_moves(
        terminal: Callable[[str], Terminal]) -> None:
    """Issue 14: ``cmppdissect -i lo`` in a real terminal opens following (sngrep's autoscroll):
    while the simulator talks, the PDU list keeps its newest row on screen; Home turns follow
    off and the screen stays at the top while more traffic arrives."""
    from test_live import _free_port, _traffic, _why_not

    if _why_not() is not None:
        pytest.skip(str(_why_not()))
    port = _free_port()
    t = terminal(f"{shlex.quote(sys.executable)} -m cmppdissect -i lo -f 'tcp port {port}' "
                 f"-d {port}")
    t.wait_for(lambda s: "capturing" in s)
    t.keys("2")
    t.wait_for(lambda s: "All PDUs" in s and "following (A)" in s)
    _traffic(port, count=40)  # about a hundred PDUs: more than the 40-line screen holds
    screen = t.wait_for(lambda s: "TERMINATE_RESP" in s)
    assert "CONNECT " not in screen  # scrolled with the traffic, past the login
    t.keys("Home")
    screen = t.wait_for(lambda s: "following" not in s and "CONNECT " in s)
    _traffic(port, count=40)
    time.sleep(1.0)
    screen = t.wait_for(lambda s: "CONNECT " in s)
    assert "following" not in screen and screen.count("TERMINATE") == 0
    t.keys("q")
    screen = t.wait_for(lambda s: "EXIT=" in s)
    assert "EXIT=0" in screen and "Traceback" not in screen


def test_metrics_are_served_while_the_tui_runs(terminal: Callable[[str], Terminal]) -> None:
    """``cmppdissect f.pcap --metrics ADDR:PORT`` on a terminal: the TUI opens and a real HTTP
    scrape reads the same counts as ``--report json`` of the file."""
    import json
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    python = shlex.quote(sys.executable)
    t = terminal(f"{python} -m cmppdissect {shlex.quote(str(SAMPLE))} "
                 f"--metrics 127.0.0.1:{port}")
    t.wait_for(lambda s: "192.0.2.10:40001" in s and "905678" in s)
    report = json.loads(subprocess.run(
        [sys.executable, "-m", "cmppdissect", "--report", "json", str(SAMPLE)],
        capture_output=True, text=True, check=True).stdout)
    deadline = time.monotonic() + 30
    while True:  # the TUI indexes in a worker: scrape until every PDU is counted
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
        pdus = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("cmpp_pdus_total"))
        if pdus == report["pdus"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert pdus == report["pdus"] > 0
    submits = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith('cmpp_requests_total{command="CMPP_SUBMIT"'))
    assert submits == report["commands"]["CMPP_SUBMIT"]["requests"]
    t.keys("q")
    assert "EXIT=0" in t.wait_for(lambda s: "EXIT=" in s)


def test_messages_screen_filters_and_opens_a_request(terminal: Callable[[str], Terminal]) -> None:
    """Issue 16: ``4`` shows one row per request; ``e`` keeps the non-zero Results (the
    sample's two SUBMITs refused with Result 8); Enter opens that request's PDU."""
    t = terminal(f"{shlex.quote(sys.executable)} -m cmppdissect {shlex.quote(str(SAMPLE))}")
    t.wait_for(lambda s: "905678" in s)
    t.keys("4")
    screen = t.wait_for(lambda s: "Messages" in s and " requests" in s and "building" not in s
                        and "SUBMIT" in s)
    assert "Traceback" not in screen
    t.keys("e")
    screen = t.wait_for(lambda s: "Displayed 2 of 52" in s and "filter ✓  result != 0" in s)
    rows = [line for line in screen.splitlines() if "flow control error" in line]
    assert len(rows) == 2 and all("SUBMIT" in line for line in rows)
    frame = rows[0].split()[0]
    t.keys("Enter")
    t.wait_for(lambda s: f"Detail  ·  frame {frame}  ·  CMPP_SUBMIT" in s)
    t.keys("q")
    assert "EXIT=0" in t.wait_for(lambda s: "EXIT=" in s)


def test_diff_on_a_terminal_is_interactive_and_text_when_piped(
        terminal: Callable[[str], Terminal]) -> None:
    """Issue 16: ``cmppdissect diff A B`` on a terminal opens the comparison (``]`` goes to
    the next SP); piped, it prints the text, as the main command does."""
    other = ROOT / "samples" / "misbehaving-gateway.pcap"
    command = (f"{shlex.quote(sys.executable)} -m cmppdissect diff "
               f"{shlex.quote(str(SAMPLE))} {shlex.quote(str(other))}")
    t = terminal(command)
    t.wait_for(lambda s: "Compare two captures" in s and "Whole capture  10 worse" in s)
    for _ in range(40):  # the tables scroll as one pane: down to SUBMIT's response times
        if "SUBMIT latency p99 ms" in t.screen():
            break
        t.keys("Down")
        time.sleep(0.2)
    screen = t.wait_for(lambda s: "SUBMIT latency p99 ms" in s)
    line = next(x for x in screen.splitlines() if "SUBMIT latency p99 ms" in x)
    assert "568.24" in line and "worse" in line
    t.keys("]")
    t.wait_for(lambda s: "Compare two captures  ·  SP 901234  ·  49 metrics" in s)
    t.keys("q")
    screen = t.wait_for(lambda s: "EXIT=" in s)
    assert "EXIT=0" in screen and "Traceback" not in screen
    piped = terminal(f"{command} | head -4")
    screen = piped.wait_for(lambda s: "EXIT=" in s)
    assert "Whole capture" in screen and "Compare two captures" not in screen
    assert "EXIT=0" in screen


def test_a_live_capture_past_max_pdus_says_the_oldest_went(
        terminal: Callable[[str], Terminal]) -> None:
    """Issue 17: ``cmppdissect -i lo --max-pdus 60`` holds at most 60 PDUs (and a tenth more
    while they go): the status line says how many of the oldest went, the Statistics still
    count every PDU, the expert list has the cap's finding."""
    from test_live import _free_port, _traffic, _why_not

    if _why_not() is not None:
        pytest.skip(str(_why_not()))
    port = _free_port()
    t = terminal(f"{shlex.quote(sys.executable)} -m cmppdissect -i lo -f 'tcp port {port}' "
                 f"-d {port} --max-pdus 60")
    t.wait_for(lambda s: "capturing" in s)
    t.keys("2")
    t.wait_for(lambda s: "All PDUs" in s and "following (A)" in s)
    sp, ismg = _traffic(port, count=60)  # SUBMITs, their responses and reports, ...
    sent = sum(sp.sent.values()) + sum(ismg.sent.values())  # every PDU on the wire
    screen = t.wait_for(lambda s: "TERMINATE_RESP" in s and "dropped (cap 60)" in s)
    assert "All PDUs held (the oldest" in screen
    screen = t.wait_for(lambda s: " PDUs dropped (cap 60)" in s and sum(
        int(n) for n in re.findall(r"(?: |oldest )(\d+) PDUs(?: ·| dropped)", s)) == sent)
    held = int(re.findall(r" (\d+) PDUs ·", screen)[-1])
    assert 54 <= held <= 66 < sent
    t.keys("3")  # the engine's statistics: every SUBMIT, not the rows held
    submits = sp.sent[int(C.CMPP_SUBMIT)]
    t.wait_for(lambda s: re.search(rf"SUBMIT\s+{submits}\s+0\s+{submits}\b", s) is not None)
    t.keys("q")
    screen = t.wait_for(lambda s: "EXIT=" in s)
    assert "EXIT=0" in screen and "Traceback" not in screen
