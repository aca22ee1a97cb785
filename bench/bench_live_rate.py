"""Live capture at 100,000 PDUs/s and beyond: captures replayed onto ``lo`` while it captures.

    sudo python bench/bench_live_rate.py [--rates 50000,100000,150000,200000,top]
                                         [--seconds 3] [--repeat 3] [--python PY]
                                         [--args '-B 64'] [--sessions 8] [--records jsonl]
    sudo python bench/bench_live_rate.py --suite [DIR] [--frames 300000] [--only NAME,...]
                                         [--rates 100000,top] [--repeat 3] ...

The simulator tops out near 8,000 SUBMIT/s (``bench/bench_live.py``), so here the traffic is a
capture written by ``bench/gen_capture.py`` (a busy SP link: SUBMIT bursts, status reports,
long SMS, group sends; 18% of the data segments carry two PDUs or more, 3% of the PDUs are
split over two segments, a quarter of the frames are bare ACKs) and sent onto the loopback
interface by tcpreplay (Debian's package) at a target rate in PDUs/s (tcpreplay ``--pps``, the
capture's frames per PDU applied; ``top`` is ``--topspeed``). For each target and
``--repeat`` times, the real command line captures while tcpreplay sends:

    cmppdissect -i lo -f 'host 198.51.100.7 and tcp port 7890' --report json -q

(``--records FMT``: ``-T FMT`` to ``/dev/null`` instead of ``-q``, the report to a file) and
the report is compared with the same file analysed offline, ``cmppdissect -r FILE
--report json`` (PDUs in all and requests/responses per command must be equal: no PDU lost
inside the analyzer). Printed as medians over the runs: tcpreplay's own achieved packet rate
and the PDU rate it means, PDUs in the capture against PDUs analysed, the kernel's counters
(``PACKET_STATISTICS``: packets received, dropped because the capture fell behind, and the
times the ring was full), the loopback backlog's drops (``/proc/net/softnet_stat``: packets the
kernel lost before any capture point), the analyzer's CPU time from "Capturing on" to its exit
(its start-up left out) and that over the replay's duration, and how long after the replay the
report came out (the drain). The reference runs, medians of ``--repeat``: the offline analysis
(wall and CPU) and ``cat FILE > /dev/null`` (wall).

The frames' MAC addresses are not lo's, so the kernel's IP stack drops them after the capture
point: the replay talks to nobody. On lo each frame passes the capture point leaving and
arriving; the capture keeps one copy (its BPF prologue drops ``PACKET_OUTGOING``), so the
kernel's received count equals the frames of the capture when nothing was lost.

``--suite [DIR]``: the same measure over every capture of ``bench/suite.py`` (built into DIR,
default ``$TMPDIR/cmppdissect-bench/suite-FRAMES``, ``--frames`` each, default 300,000: a few
seconds at 100,000 PDUs/s), captured with ``-f 'tcp port 7890'`` (IPv4 and IPv6 alike) and
compared with ``cmppdissect -r`` on the suite's own file. tcpreplay sends Ethernet frames, so:

* clean, irregular, jitter, ipv6, mixed-versions are replayed as they are, onto ``lo``;
* loopback (Linux cooked, each packet twice) is replayed with each SLL frame rebuilt as an
  Ethernet frame (gen_capture's MACs, which are not lo's: see above; the same ethertype),
  both copies kept: the capture sees every packet twice, exact duplicates, as the file has it;
* multi-if (pcapng, an Ethernet and an SLL2 interface, two sections) is split by interface
  into two Ethernet pcaps (SLL2 rebuilt as Ethernet), one replayed onto ``lo`` and the other,
  at the same time, onto ``cmppbench0``, an interface made for the run that drops whatever is
  sent to it (``dummy``; ``ifb``, which does the same with what no tc rule redirected to it,
  where the kernel has no dummy driver), deleted at the end; the rate is shared by the two
  tcpreplays in proportion to their frames, and the capture is ``-i any``. There the kernel
  hands over lo's frames once (the prologue drops lo's outgoing copies, by interface index)
  and cmppbench0's once (only their outgoing copy exists: the interface receives nothing), so
  its received count is again the frames of the capture.

The live report must have every PDU, and requests and responses per command, as the offline
one; everything else in it is compared too, with the offline run of ``--timeout 86400`` (a live
run of seconds sees none of the analyzer's timeouts fire: neither does that run). What differs
is listed by where it is in the report, split into what replaying at another speed changes
(times, durations, rates, latencies, time buckets, and the flow-control verdicts made from
rates), frame and session numbers (two interfaces interleave otherwise live than in the file),
and the rest: a value that differs there is a finding, and the run fails.

``--python`` runs another checkout's interpreter (its venv, with the package installed in
development mode) to compare versions on the same captures in the same script; the commands
run in the scratch directory, so that ``python -m`` does not pick up the checkout it is run
from. Needs root and tcpreplay.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import suite
from bench_live import _wait_line
from gen_capture import SERVER_IP, SERVER_PORT, Tally, generate

from cmppdissect.core import FrameReader

FILTER = f"host {SERVER_IP} and tcp port {SERVER_PORT}"
# The suite's captures have other servers (2001:db8::7, 127.0.0.1): the port is theirs.
SUITE_FILTER = f"tcp port {SERVER_PORT}"
SECOND_INTERFACE = "cmppbench0"
# gen_capture's MAC addresses (destination, source): not lo's 00:00:00:00:00:00, so lo's
# receive path marks the frames PACKET_OTHERHOST and the IP stack never sees them.
_MACS = bytes.fromhex("020000000002" "020000000001")


def _softnet_dropped() -> int:
    """Packets the kernel's per-CPU input queues dropped (loopback delivers through them)."""
    with open("/proc/net/softnet_stat") as fh:
        return sum(int(line.split()[1], 16) for line in fh)


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


# -- sending ---------------------------------------------------------------------------------


_ACTUAL = re.compile(r"Actual: (\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds")
_RATED = re.compile(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps")
_FAILED = re.compile(r"Failed packets:\s+(\d+)")


@dataclass(frozen=True)
class Part:
    """A pcap of Ethernet frames, and the interface tcpreplay sends it onto."""

    interface: str
    path: Path
    frames: int


def _start_replay(part: Part, pps: float | None) -> subprocess.Popen[str]:
    speed = ["--topspeed"] if pps is None else [f"--pps={pps:.0f}"]
    return subprocess.Popen(["tcpreplay", "-i", part.interface, "-K", *speed, str(part.path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _replayed(proc: subprocess.Popen[str]) -> dict[str, float]:
    """What a tcpreplay says it achieved, once it is done."""
    out, err = proc.communicate(timeout=600)
    actual, rated = _ACTUAL.search(out), _RATED.search(out)
    if proc.returncode != 0 or actual is None or rated is None:
        raise SystemExit(f"tcpreplay failed ({proc.returncode}): {out}{err}")
    failed = _FAILED.search(out)
    return {"sent": int(actual.group(1)), "seconds": float(actual.group(3)),
            "pps": float(rated.group(1)), "failed": int(failed.group(1)) if failed else 0}


def replay(parts: list[Part], pps: float | None) -> dict[str, float]:
    """tcpreplay every part at once (each preloaded in memory), ``pps`` (None: top speed)
    shared in proportion to their frames; what they say they achieved together: packets sent
    and failed, the longest sending time, and the sum of their rates."""
    total = sum(p.frames for p in parts)
    procs = [_start_replay(p, None if pps is None else pps * p.frames / total) for p in parts]
    try:
        done = [_replayed(proc) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return {"sent": sum(d["sent"] for d in done), "failed": sum(d["failed"] for d in done),
            "seconds": max(d["seconds"] for d in done), "pps": sum(d["pps"] for d in done)}


# -- capturing -------------------------------------------------------------------------------


def capture_command(py: str, extra: list[str], records: str | None, work: Path,
                    interface: str = "lo", bpf: str = FILTER) -> list[str]:
    """The command line measured: statistics only (``-q``), or records to stdout (``-T``)
    with the report in a file."""
    shown = ["-q"] if records is None else ["-T", records, "--report-file",
                                             str(work / "report.json")]
    return [py, "-m", "cmppdissect", "-i", interface, "-f", bpf, "--report", "json", *shown,
            *extra]


def _commands(report: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {name: (c["requests"], c["responses"]) for name, c in report["commands"].items()}


def one_run(command: list[str], parts: list[Part], pps: float | None,
            expected: dict[str, Any], cwd: Path) -> dict[str, Any]:
    """One capture while the parts are replayed; its figures, and how its report compares
    with the offline one (``expected``, from :func:`reference`)."""
    renumbered = len(parts) > 1
    report_file = Path(command[command.index("--report-file") + 1]) \
        if "--report-file" in command else None
    analyzer = subprocess.Popen(
        command, stdout=subprocess.PIPE if report_file is None else subprocess.DEVNULL,
        stderr=subprocess.PIPE, cwd=cwd)
    try:
        _wait_line(analyzer, "Capturing on")
        startup = _process_cpu(analyzer.pid)  # the interpreter and imports: not the capture's
        softnet = _softnet_dropped()
        sent = replay(parts, pps)
        ended = time.monotonic()
        time.sleep(0.2)  # the last frames reach the capture point; then stop as an operator would
        analyzer.send_signal(signal.SIGINT)
        before = _children_cpu()
        out, err = analyzer.communicate(timeout=600)  # reaps it: its CPU joins the children's
    finally:
        if analyzer.poll() is None:
            analyzer.kill()
            analyzer.wait()
    cpu = _children_cpu() - before - startup
    if analyzer.returncode != 0:
        raise SystemExit(f"the capture failed: {err.decode(errors='replace')}")
    report = json.loads(out if report_file is None else report_file.read_bytes())
    cap = report["capture"]
    differs = compare(report, expected["report"], renumbered)
    return {
        "pps": sent["pps"], "replay_s": sent["seconds"], "sent": sent["sent"] - sent["failed"],
        "pdus_per_s": expected["pdus"] / sent["seconds"],
        "analysed": report["pdus"], "same_commands": _commands(report) == expected["commands"],
        "frames": cap["frames"], "received": cap["kernel_received"],
        "dropped": cap["kernel_dropped"], "ring_full": cap.get("kernel_ring_full", 0),
        "softnet": _softnet_dropped() - softnet,
        "cpu": cpu, "cpu_per_s": cpu / sent["seconds"], "drain_s": time.monotonic() - ended,
        "differs": differs,
    }


# -- the live report against the offline one -------------------------------------------------


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


# What depends on when frames arrived, not on what they hold. Replayed at another speed, the
# live timestamps are the kernel's (the file's own, its jitter included, are gone): minutes of
# traffic go by in seconds. So times, durations, rates, latencies and the time buckets differ
# by design, and so does what is decided from them: the flow-control verdicts (sends per second
# against the window) and a session's longest silence (its frame). The analyzer's timeouts
# (60 s for an answer; 60 + 180 s of a session's silence for an idle gap) never fire in a
# live run of seconds: the reference it is compared with is the offline run with ``--timeout``
# longer than the capture (:data:`NO_TIMEOUT`), where none fires either.
_TIMED = re.compile(
    r"(^|\.)(start|end|time|hour|duration_s|tps|bucket_s|capture_start|capture_end|"
    r"max_idle_frame)(\.|\[|$)|[a-z]_(ms|s|minute)(\.|\[|$)|"
    r"^over_time\.|^flow_control\.|^sessions\[\]\.flow\.")
NO_TIMEOUT = 86_400
# With --records the live run holds rows for the records it writes (the reference writes
# none), and with no timeout to let unanswered requests go, its cap on them says so.
_RECORDS_NOTES = frozenset({"cap-held-rows"})
# Numbers given in arrival order: frames, and sessions by their first frame. Captured on two
# interfaces at once, the frames of the two arrive interleaved otherwise than in the file.
_NUMBERING = frozenset({"id", "session", "frame", "request_frame", "terminate_frame"})
_NUMBERED = re.compile(r"\b(frame|session) \d+")  # the same, in a finding's words


def _shape(path: str) -> str:
    """A leaf's place, list positions and names taken from the traffic (commands, SP IDs,
    status words) left out: ``sessions[].commands.*.requests``."""
    return ".".join(part if re.fullmatch(r"[a-z][a-z0-9_]*(\[\])*", part) else
                    re.sub(r"^[^\[]*", "*", part)
                    for part in re.sub(r"\[\d+\]", "[]", path).split("."))


def _untimed(value: Any, path: str, renumbered: bool) -> Any:
    """``value`` without what time decides (:data:`_TIMED`) and the notes of
    :data:`_RECORDS_NOTES`; with ``renumbered``, also without the numbering and with every
    list in a fixed order (by content), as two interfaces interleave otherwise."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            at = f"{path}.{key}" if path else str(key)
            if (renumbered and key in _NUMBERING) or _TIMED.search(_shape(at)):
                continue  # a timed leaf, or all of a timed list or table
            out[key] = _untimed(item, at, renumbered)
        return out
    if isinstance(value, list):
        items = [_untimed(item, f"{path}[]", renumbered) for item in value
                 if not (isinstance(item, dict) and item.get("code") in _RECORDS_NOTES)]
        if renumbered:
            items.sort(key=lambda i: json.dumps(i, sort_keys=True))
        return items
    if renumbered and isinstance(value, str):
        return _NUMBERED.sub(r"\1 N", value)
    return value


def _differ(mine: dict[str, Any], theirs: dict[str, Any]) -> Counter[str]:
    """How many leaves differ, per place (a leaf only one side has differs)."""
    a, b = dict(_leaves(mine)), dict(_leaves(theirs))
    missing = object()
    return Counter(_shape(p) for p in a.keys() | b.keys() if a.get(p, missing) != b.get(p, missing))


def compare(live: dict[str, Any], offline: dict[str, Any],
            renumbered: bool = False) -> dict[str, Counter[str]]:
    """Where the live report differs from the offline one (the live run's ``capture`` section
    left out), with how many values differ there. ``counts``: what time does not decide, per
    place (it must be empty); ``timed``: what it does, per section of the report (the values
    in report order); with ``renumbered`` (two interfaces) ``numbering``, frame and session
    numbers per place, and ``counts`` is then taken with every list in a fixed order."""
    live = {k: v for k, v in live.items() if k != "capture"}
    raw = _differ(live, offline)
    timed: Counter[str] = Counter()
    numbering: Counter[str] = Counter()
    for shape, n in raw.items():
        if renumbered and shape.rsplit(".", 1)[-1] in _NUMBERING:
            numbering[shape] += n
        elif _TIMED.search(shape):
            timed[re.split(r"[.\[]", shape, maxsplit=1)[0]] += n
    return {"counts": _differ(_untimed(live, "", renumbered),
                              _untimed(offline, "", renumbered)),
            "numbering": numbering, "timed": timed}


def reference(py: str, path: Path, repeat: int) -> dict[str, Any]:
    """The same file analysed offline, and ``cat``: medians of their times, and the report
    the live runs must match (offline with no timeout firing, as in a live run of seconds)."""
    walls, cpus, cats = [], [], []
    command = [py, "-m", "cmppdissect", "-r", str(path), "--report", "json"]
    for _ in range(repeat):
        before, start = _children_cpu(), time.perf_counter()
        subprocess.run(command, capture_output=True, check=True, timeout=600, cwd=path.parent)
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - before)
        start = time.perf_counter()
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
        cats.append(time.perf_counter() - start)
    res = subprocess.run([*command, "--timeout", str(NO_TIMEOUT)], capture_output=True,
                         check=True, timeout=600, cwd=path.parent)
    report = json.loads(res.stdout)
    return {"pdus": report["pdus"], "commands": _commands(report), "report": report,
            "wall": statistics.median(walls), "cpu": statistics.median(cpus),
            "cat": statistics.median(cats)}


def _describe_reference(ref: dict[str, Any]) -> str:
    return (f"offline -r --report json: {ref['wall']:.2f} s wall, {ref['cpu']:.2f} s CPU "
            f"({ref['pdus'] / ref['cpu']:,.0f} PDUs per CPU-second); "
            f"cat: {ref['cat'] * 1000:.1f} ms")


# -- printing --------------------------------------------------------------------------------


_HEAD = (f"{'target':>8} {'pps':>9} {'PDUs/s':>9} {'PDUs capture/analysed':>22} "
         f"{'kernel rcvd/drop/full':>23} {'softnet':>7} {'CPU s':>6} {'CPU/s':>6} {'drain':>6}")


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def _print_row(rate: int | None, pdus: int, runs: list[dict[str, Any]]) -> bool:
    """The medians of the runs at one rate, and whether no PDU went missing that the kernel
    did not say it dropped (``pdus``: what the capture holds)."""
    def med(key: str) -> float:
        return _median(runs, key)

    print(_HEAD)
    print(f"{rate if rate else 'top':>8} {med('pps'):>9,.0f} {med('pdus_per_s'):>9,.0f} "
          f"{pdus:>10,}/{med('analysed'):<11,.0f} "
          f"{med('received'):>9,.0f}/{med('dropped'):,.0f}/{med('ring_full'):<6,.0f} "
          f"{med('softnet'):>7,.0f} {med('cpu'):>6.2f} {med('cpu_per_s'):>6.2f} "
          f"{med('drain_s'):>6.2f}")
    whole = all(r["analysed"] == pdus and r["same_commands"] for r in runs)
    # What the kernel handed over and the analyzer did not read: loss inside the analyzer.
    inside = [r["received"] - r["dropped"] - r["frames"] for r in runs]
    if not whole or any(inside):
        print(f"         per run: analysed {[r['analysed'] for r in runs]}, same commands "
              f"{[r['same_commands'] for r in runs]}, kernel drops "
              f"{[r['dropped'] for r in runs]}, softnet drops {[r['softnet'] for r in runs]}, "
              f"handed over but not read {inside}")
    # A PDU may be missing only where the kernel says it lost packets.
    return not any(inside) and all(
        (r["analysed"] == pdus and r["same_commands"]) or r["dropped"] or r["softnet"]
        for r in runs)


# -- one generated capture at several rates --------------------------------------------------


def _capture_for(work: Path, frames: int, sessions: int,
                 cache: dict[int, tuple[Path, Tally]]) -> tuple[Path, Tally]:
    if frames not in cache:
        path = work / f"replay-{frames}.pcap"
        cache[frames] = (path, generate(path, frames=frames, seed=1, sessions=sessions))
    return cache[frames]


def generated_main(args: argparse.Namespace, extra: list[str],
                   rates: list[int | None]) -> bool:
    top = max((r for r in rates if r is not None), default=100_000)
    cache: dict[int, tuple[Path, Tally]] = {}
    refs: dict[Path, dict[str, Any]] = {}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        command = capture_command(args.python, extra, args.records, Path(tmp))
        print(f"capture: {shlex.join(command)}")
        for rate in rates:
            # About 1.13 frames per PDU in this mix (bare ACKs, and PDUs that share a segment).
            want = int((rate or top) * args.seconds * 1.13)
            path, tally = _capture_for(Path(tmp), want, args.sessions, cache)
            if path not in refs:
                refs[path] = ref = reference(args.python, path, args.repeat)
                print(f"\n{path.name}: {tally.frames:,} frames, {tally.pdus:,} PDUs "
                      f"({tally.data_segments:,} data segments, {tally.multi_pdu_segments:,} "
                      f"with several PDUs, {tally.split_pdus:,} PDUs split, "
                      f"{tally.bare_acks:,} bare ACKs); {_describe_reference(ref)}")
                if ref["pdus"] != tally.pdus:
                    print(f"  offline analysis found {ref['pdus']} PDUs, the generator wrote "
                          f"{tally.pdus}")
                    ok = False
            ref = refs[path]
            pps = None if rate is None else rate * tally.frames / tally.pdus
            parts = [Part("lo", path, tally.frames)]
            runs = [one_run(command, parts, pps, ref, path.parent) for _ in range(args.repeat)]
            ok &= _print_row(rate, tally.pdus, runs)
    return ok


# -- the suite -------------------------------------------------------------------------------


def _as_ethernet(linktype: int, data: bytes) -> bytes:
    """A frame of the suite rebuilt as Ethernet: the link header replaced, the packet and its
    ethertype kept."""
    if linktype == suite.LINKTYPE_ETHERNET:
        return data
    if linktype == suite.LINKTYPE_LINUX_SLL:  # protocol at 14, the packet from 16
        return _MACS + data[14:16] + data[16:]
    if linktype == suite.LINKTYPE_LINUX_SLL2:  # protocol at 0, the packet from 20
        return _MACS + data[:2] + data[20:]
    raise ValueError(f"link type {linktype}: not in the suite")


def ethernet_by_interface(path: Path) -> list[list[suite.Frame]]:
    """A capture's frames as Ethernet frames, one list per interface in order of first use.

    Read by the package's own container walk (``FrameReader``: pcap, and pcapng with several
    sections of either byte order, which dpkt's pcapng reader does not follow). It gives each
    frame's interface as its layout (link type, snapshot length, timestamp resolution), not
    its number: the suite's interfaces differ by link type, so that tells them apart, and an
    interface described again by a later section is the same one.
    """
    reader = FrameReader()
    reader.feed(path.read_bytes())
    out: dict[int, list[suite.Frame]] = {}
    while True:
        frame = reader.frame()
        if frame is None:
            break
        _at, iface, ts_ns, _raw, wire, data = frame
        if wire != len(data):
            raise ValueError(f"{path.name}: a frame cut to {len(data)} of {wire} bytes")
        out.setdefault(iface.linktype, []).append((ts_ns // 1000,
                                                   _as_ethernet(iface.linktype, data)))
        reader.next()
    reader.finish()
    return list(out.values())


def suite_parts(name: str, path: Path, work: Path) -> tuple[str, list[Part]]:
    """The interface to capture on and what to replay for the suite capture ``name``."""
    if name not in ("loopback", "multi-if"):
        meta = json.loads(path.with_name(f"{name}.json").read_text())
        return "lo", [Part("lo", path, int(meta["frames"]))]
    interfaces = ("lo",) if name == "loopback" else ("lo", SECOND_INTERFACE)
    lists = ethernet_by_interface(path)
    if len(lists) != len(interfaces):
        raise ValueError(f"{path.name}: {len(lists)} interfaces, {len(interfaces)} expected")
    parts = []
    for i, (interface, frames) in enumerate(zip(interfaces, lists, strict=True)):
        out = work / f"{name}-{i}.pcap"
        suite.write_pcap(out, frames)
        parts.append(Part(interface, out, len(frames)))
    return ("lo" if name == "loopback" else "any"), parts


@contextlib.contextmanager
def second_interface(name: str) -> Iterator[str]:
    """An interface that drops what is sent to it, made for the run and deleted after it
    (also when the run fails); yields its kind."""
    if Path("/sys/class/net", name).exists():
        raise SystemExit(f"bench_live_rate: {name} already exists (another run? "
                         f"'ip link del {name}' removes it)")
    why = ""
    for kind in ("dummy", "ifb"):  # ifb drops what no tc rule redirected to it
        res = subprocess.run(["ip", "link", "add", name, "type", kind],
                             capture_output=True, text=True, check=False)
        if res.returncode == 0:
            break
        why += f"{kind}: {res.stderr.strip()}; "
    else:
        raise SystemExit(f"bench_live_rate: cannot make {name} ({why.rstrip('; ')})")
    try:
        # As large as lo's, so no frame of the suite is too long for it; no queue, as lo (a
        # dummy has none; ifb's 32 packets would drop a burst before the capture point).
        subprocess.run(["ip", "link", "set", name, "mtu", "65536", "up"], check=True)
        subprocess.run(["tc", "qdisc", "replace", "dev", name, "root", "noqueue"], check=True)
        yield kind
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


def suite_main(args: argparse.Namespace, extra: list[str], rates: list[int | None]) -> bool:
    directory = Path(args.suite) if args.suite else (
        Path(tempfile.gettempdir()) / "cmppdissect-bench" / f"suite-{args.frames}")
    paths = suite.build_suite(directory, args.frames, 1, args.only,
                              log=lambda msg: print(f"  {msg}", flush=True))
    print(f"captures: {directory} ({args.frames:,} frames each)")
    ok = True
    rows: list[tuple[str, int | None, int, list[dict[str, Any]]]] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if "multi-if" in paths:
            kind = stack.enter_context(second_interface(SECOND_INTERFACE))
            print(f"second interface: {SECOND_INTERFACE} ({kind})")
        for name, path in paths.items():
            interface, parts = suite_parts(name, path, tmp)
            ref = reference(args.python, path, args.repeat)
            frames = sum(p.frames for p in parts)
            command = capture_command(args.python, extra, args.records, tmp, interface,
                                      SUITE_FILTER)
            sent = ", ".join(f"{p.frames:,} frames onto {p.interface}" for p in parts)
            print(f"\n{path.name}: {ref['pdus']:,} PDUs; replayed {sent}; "
                  f"{_describe_reference(ref)}\ncapture: {shlex.join(command)}")
            for rate in rates:
                pps = None if rate is None else rate * frames / ref["pdus"]
                runs = [one_run(command, parts, pps, ref, tmp) for _ in range(args.repeat)]
                ok &= _print_row(rate, ref["pdus"], runs)
                if any(r["received"] != frames for r in runs):
                    print(f"         kernel received {[r['received'] for r in runs]} of "
                          f"{frames:,} frames replayed")
                # A count that differs where no PDU went missing: not time, a finding.
                ok &= _print_differences(runs) or any(r["dropped"] or r["softnet"]
                                                       for r in runs)
                rows.append((name, rate, ref["pdus"], runs))
    _print_table(rows)
    return ok


def _print_differences(runs: list[dict[str, Any]]) -> bool:
    """What differs from the offline report (per place or section, the most of any run);
    whether nothing but what time decides, and numbering, did."""
    def most(kind: str) -> str:
        found: Counter[str] = Counter()
        for r in runs:
            found |= r["differs"][kind]
        return "; ".join(f"{place} {n:,}" for place, n in sorted(found.items()))

    counts = most("counts")
    print(f"         live against offline, not decided by time: {counts or 'the same'}")
    for kind, what in (("numbering", "frame and session numbers"),
                       ("timed", "decided by time, values per section")):
        if most(kind):
            print(f"         live against offline, {what}: {most(kind)}")
    return not counts


def _print_table(rows: list[tuple[str, int | None, int, list[dict[str, Any]]]]) -> None:
    """All of it again as one Markdown table (medians of the runs)."""
    print("\n| capture | target PDUs/s | tcpreplay pps | PDUs/s sent | PDUs in capture / "
          "analysed | kernel received / dropped / ring full | softnet | CPU | CPU/s | drain |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, rate, pdus, runs in rows:
        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return _median(runs, key)
        print(f"| {name} | {f'{rate:,}' if rate else 'top'} | {med('pps'):,.0f} | "
              f"{med('pdus_per_s'):,.0f} | {pdus:,} / {med('analysed'):,.0f} | "
              f"{med('received'):,.0f} / {med('dropped'):,.0f} / {med('ring_full'):,.0f} | "
              f"{med('softnet'):,.0f} | {med('cpu'):.2f} s | {med('cpu_per_s'):.2f} | "
              f"{med('drain_s'):.2f} s |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default=None,
                    help="target PDUs/s, comma separated; top: tcpreplay --topspeed (default "
                         "50000,100000,150000,200000,top; with --suite 100000)")
    ap.add_argument("--seconds", type=float, default=3.0, help="replay length at the target")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=8, help="concurrent links in the capture")
    ap.add_argument("--python", default=sys.executable,
                    help="the interpreter whose cmppdissect captures (another checkout's venv)")
    ap.add_argument("--args", default="", help="more options for the capture, e.g. '-B 64'")
    ap.add_argument("--records", metavar="FORMAT",
                    help="-T FORMAT records to stdout (/dev/null) instead of -q, the report "
                         "to a file")
    ap.add_argument("--suite", nargs="?", const="", metavar="DIR",
                    help="replay bench/suite.py's captures instead (built into DIR, default "
                         "$TMPDIR/cmppdissect-bench/suite-FRAMES)")
    ap.add_argument("--frames", type=int, default=300_000,
                    help="with --suite: frames per capture (default 300,000)")
    ap.add_argument("--only", metavar="NAME,...",
                    help=f"with --suite: only these captures ({', '.join(suite.NAMES)})")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_live_rate: needs root (AF_PACKET capture, tcpreplay)", file=sys.stderr)
        return 2
    if args.repeat < 1 or args.frames < 1:
        ap.error("--repeat and --frames must be at least 1")
    extra = shlex.split(args.args)
    default = "100000" if args.suite is not None else "50000,100000,150000,200000,top"
    rates = [None if r == "top" else int(r) for r in (args.rates or default).split(",")]
    # A kill ends the run as Ctrl-C does: the interface made for it is deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    try:
        ok = (suite_main(args, extra, rates) if args.suite is not None
              else generated_main(args, extra, rates))
    except ValueError as exc:
        print(f"bench_live_rate: {exc}", file=sys.stderr)
        return 2
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
