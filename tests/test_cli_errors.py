"""The command line on inputs it cannot use, and on hostile wire text (issue 6).

Inputs it cannot use (missing, a directory, unreadable, not a capture): exactly one line on
stderr starting with ``cmppdissect:``, exit status 2, nothing on stdout, never a traceback.
Wire text (SMS content, ids, report Stat) holding terminal escapes, C1 controls, BEL, bidi
overrides or Rich markup must reach stdout and stderr inert in every output mode. Everything
runs the real program in a subprocess, as a user would. (Live-capture errors belong to the
live-capture module's tests.)
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pcaputil import Conversation, write_pcap

from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.version import Version

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "cmpp-basic.pcap"
V2, V3 = Version.V2_0, Version.V3_0


def cli(*args: str, stdin: bytes | None = None, timeout: float = 60,
        code: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """The program as a user runs it; raw bytes, so nothing is hidden by a decoder."""
    argv = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m",
                                                               "cmppdissect", *args]
    return subprocess.run(argv, capture_output=True, input=stdin, timeout=timeout, check=False,
                          cwd=ROOT)


def assert_one_line_error(res: subprocess.CompletedProcess[bytes], *words: str) -> str:
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert res.stdout == b""
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.endswith("\n") and err.startswith("cmppdissect: ")
    for word in words:
        assert word in err
    return err


# -- inputs that cannot be used ----------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pcap"
    assert_one_line_error(cli(str(path)), str(path), "no such file")
    assert_one_line_error(cli("-r", str(path)), "no such file")


def test_directory(tmp_path: Path) -> None:
    assert_one_line_error(cli(str(tmp_path)), str(tmp_path), "is a directory")


@contextlib.contextmanager
def unreadable_file() -> Iterator[Path]:
    """A copy of the sample with mode 000, in a directory anyone may enter."""
    with tempfile.TemporaryDirectory() as name:
        os.chmod(name, 0o755)
        path = Path(name) / "secret.pcap"
        path.write_bytes(SAMPLE.read_bytes())
        path.chmod(0)
        try:
            yield path
        finally:
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)


# As root, mode 000 does not stop a read. The program then drops to "nobody" itself, after
# one warm-up run as root: the interpreter lives under /root, which "nobody" may not enter, so
# every module the error path needs must be imported before the switch.
_AS_NOBODY = """
import contextlib, io, os, sys
import cmppdissect.cli as cli
with contextlib.redirect_stdout(io.StringIO()):
    cli.main([sys.argv[1], "-c", "1", "-T", "jsonl"])
os.setgid(65534)
os.setuid(65534)
sys.exit(cli.main([sys.argv[2]]))
"""


def test_file_without_permission() -> None:
    with unreadable_file() as path:
        as_root = os.geteuid() == 0
        res = cli(str(SAMPLE), str(path), code=_AS_NOBODY) if as_root else cli(str(path))
    assert_one_line_error(res, str(path), "permission denied")


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_file_that_fails_to_read() -> None:
    """/proc/self/mem opens but reading offset 0 fails (EIO): said so, not "empty file"."""
    assert_one_line_error(cli("/proc/self/mem"), "/proc/self/mem", "cannot read",
                          "Input/output error")


@pytest.mark.parametrize(("content", "words"), [
    (b"", "empty file"),
    (b"Hello, I am a text file.\n", "not a pcap or pcapng capture (looks like text)"),
    (bytes(range(256)), "not a pcap or pcapng capture"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "pcap file header truncated"),
    (gzip.compress(b"{\"not\": \"a capture\"}", mtime=0), "inside the gzip data"),
])
def test_not_a_capture(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "file.pcap"
    path.write_bytes(content)
    assert_one_line_error(cli(str(path)), str(path), words)
    for fmt in ("jsonl", "text"):
        assert_one_line_error(cli("-T", fmt, str(path)), words)


def test_not_a_capture_on_stdin() -> None:
    res = cli("-", stdin=b"GET / HTTP/1.1\r\n\r\n")
    assert_one_line_error(res, "not a pcap or pcapng")
    # Named as the user typed it, once (issue 13: "cmppdissect: -: <stdin>: ...").
    assert res.stderr.startswith(b"cmppdissect: -: not a pcap or pcapng capture")
    res = cli("-", stdin=b"\xd4\xc3\xb2\xa1\x02\x00")
    assert res.stderr == b"cmppdissect: -: pcap file header truncated\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_fed_with_something_else(tmp_path: Path) -> None:
    """A FIFO is read like a pipe; when what arrives is not a capture, the same one line."""
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as writer:
            writer.write(b"this is not a capture\n" * 100)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    res = cli(str(fifo))
    thread.join(timeout=10)
    assert_one_line_error(res, "not a pcap or pcapng capture")


def test_damaged_capture_is_not_an_error(tmp_path: Path) -> None:
    """A capture cut short is read up to the damage: exit 0, the damage in the findings."""
    path = tmp_path / "cut.pcap"
    path.write_bytes(SAMPLE.read_bytes()[:-100])
    res = cli("--report", "json", str(path))
    assert res.returncode == 0 and res.stderr == b""
    report = json.loads(res.stdout)
    assert any("file is truncated" in e["message"] for e in report["expert"])


# -- hostile wire text -------------------------------------------------------------------------

ESC_TEXT = ("\x1b[31mRED\x1b[0m \x9b2J \x07 \u202eevil\u202c [bold]B[/bold] \u2066x\u2069"
            " \u061c\u200b\u0600\U000110bd\U0001d173")
UNSAFE = ("\x1b", "\x9b", "\x07", "\u202e", "\u202c", "\u2066", "\u2069", "\u061c", "\u200b",
          "\u0600", "\U000110bd", "\U0001d173")
STAT = b"\x1b[5m\x07"  # 7 bytes fill the report's Stat
SP_ID = b"\x1b]0;x"  # 6 bytes: Source_Addr, shown as the session's SP id


def hostile_capture(path: Path) -> Path:
    """One 3.0 session where every text field a user sees carries controls or markup."""
    conv = Conversation()
    frames = conv.handshake()
    ucs2 = ESC_TEXT.encode("utf-16-be")
    pdus_c = [
        encode_pdu(C.CMPP_CONNECT, 1, {"Source_Addr": SP_ID, "Version": 0x30}, V3),
        encode_pdu(C.CMPP_SUBMIT, 2, {
            "Msg_Fmt": 8, "Msg_Content": ucs2, "Registered_Delivery": 1,
            "Src_Id": b"\x1b[2J[bold]1065", "Msg_src": b"\x07[i]", "Service_Id": b"\x1b[1m",
            "Dest_terminal_Id": [b"\x1b[31m138", b"[red]139"]}, V3),
        encode_pdu(C.CMPP_SUBMIT, 3, {"Msg_Fmt": 0, "Msg_Content": b"\x1b[2J\x07 ascii [b]x",
                                      "Dest_terminal_Id": [b"13800138000"]}, V3),
    ]
    pdus_s = [
        encode_pdu(C.CMPP_CONNECT_RESP, 1, {"Status": 0, "Version": 0x30}, V3),
        encode_pdu(C.CMPP_SUBMIT_RESP, 2, {"Msg_Id": 77, "Result": 0}, V3),
        encode_pdu(C.CMPP_DELIVER, 9, {
            "Registered_Delivery": 1, "Src_terminal_Id": b"\x1b[7m[bold]",
            "Msg_Content": {"Msg_Id": 77, "Stat": STAT, "Dest_terminal_Id": b"\x9b[red]",
                            "_size": 71}}, V3),
        encode_pdu(C.CMPP_DELIVER, 10, {
            "Msg_Fmt": 8, "Msg_Content": ucs2, "Src_terminal_Id": b"\x1b[32m[link]",
            "Dest_Id": b"\x07\x07"}, V3),
    ]
    for c, s in zip(pdus_c, [*pdus_s[:2], b""], strict=True):
        frames += conv.send(True, c)
        if s:
            frames += conv.send(False, s)
    frames += conv.send(False, pdus_s[2] + pdus_s[3])
    frames += conv.close()
    return write_pcap(path, frames)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_capture(tmp_path_factory.mktemp("hostile") / "hostile.pcap")


def assert_inert(raw: bytes) -> str:
    text = raw.decode("utf-8")
    for char in UNSAFE:
        assert char not in text, f"raw {char!r} reached the terminal"
    return text


@pytest.mark.parametrize("args", [
    ("-T", "text"), ("-T", "jsonl"), ("-T", "json"), ("-T", "csv"), (), ("--report", "json"),
    ("-T", "text", "-Y", 'command == "CMPP_SUBMIT"'),
], ids=["text", "jsonl", "json", "csv", "summary", "report", "filtered"])
def test_wire_text_never_reaches_the_terminal_raw(hostile: Path, args: tuple[str, ...]) -> None:
    res = cli(*args, str(hostile))
    assert res.returncode == 0, res.stderr.decode()
    out = assert_inert(res.stdout)
    assert_inert(res.stderr)
    assert out.strip()


def test_json_keeps_the_hostile_text_exactly(hostile: Path) -> None:
    """Escaped for the terminal, but nothing lost: a JSON reader gets the original text."""
    recs = [json.loads(line) for line in
            assert_inert(cli("-T", "jsonl", str(hostile)).stdout).splitlines()]
    texts = [r["fields"].get("text") for r in recs if r["command"] in ("CMPP_SUBMIT",
                                                                         "CMPP_DELIVER")]
    assert texts.count(ESC_TEXT) == 2
    connect = next(r for r in recs if r["command"] == "CMPP_CONNECT")
    assert connect["fields"]["Source_Addr"] == SP_ID.decode()
    report = next(r for r in recs if "report" in r["fields"])
    assert report["fields"]["report"]["Stat"] == STAT.decode()
    submit = next(r for r in recs if r["command"] == "CMPP_SUBMIT")
    assert submit["fields"]["Src_Id"] == "\x1b[2J[bold]1065"


def test_summary_shows_hostile_ids_visibly(hostile: Path) -> None:
    """The human summary prints SP id and Stat with visible escapes and markup as literal
    text (it is not a Rich console: "[bold]" must show as typed, not vanish)."""
    out = assert_inert(cli(str(hostile)).stdout)
    assert "\\x1b]0;x" in out  # the SP id
    assert "\\x1b[5m\\x07" in out  # the report Stat
    rep = json.loads(assert_inert(cli("--report", "json", str(hostile)).stdout))
    assert rep["sessions"][0]["sp_id"] == SP_ID.decode()


def test_csv_stays_parseable(hostile: Path) -> None:
    rows = list(csv.reader(io.StringIO(assert_inert(cli("-T", "csv", str(hostile)).stdout))))
    assert rows[0][:2] == ["frame", "time"] and len(rows) == 1 + 7
    assert {len(r) for r in rows} == {len(rows[0])}


def test_a_string_compared_with_a_number_warns_on_stderr() -> None:
    """Issue 14: a numeric field compared with a quoted string is a warning line on stderr;
    the records are what the filter selects, as before."""
    sample = ROOT / "samples" / "cmpp-basic.pcap"
    res = cli("-Y", 'Result == "8"', "-T", "text", str(sample))
    assert res.returncode == 0
    assert res.stderr.decode() == ('cmppdissect: -Y: warning: Result is a number: "8" is '
                                   'compared as text; write 8 without quotes (at column 11)\n')
    assert len(res.stdout.decode().splitlines()) == 2
    quiet = cli("-Y", "Result == 8", "-T", "text", str(sample))
    assert quiet.stderr == b"" and quiet.stdout == res.stdout
