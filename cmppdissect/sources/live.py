"""Live capture on a Linux interface: the same capture bytes as a file.

This is the one source that does I/O on the network. It opens an ``AF_PACKET`` socket on the
interface with a memory-mapped TPACKET_V3 receive ring: the kernel writes packets into blocks
of memory shared with this process and hands over a block at a time (when it is full, or after
``RETIRE_MS`` of quiet), so nothing is copied by a system call and nothing is done per packet
in Python. The compiled core's block walk (:class:`cmppdissect.core.RxRing`) turns each block
into the records of a nanosecond pcap stream, which the core then reads exactly as it reads a
file. So there is one link/IP/TCP decoder for files and for the wire (IPv4 fragment reassembly
and malformed-frame notes included), frame numbers and timestamps are the same whether a
capture is analysed live or written with ``-w`` and read back. ``-w`` writes that stream
through a :class:`~cmppdissect.sources.ring.CaptureRing`: as it is (pcap), or as pcapng blocks,
to one file or, with ``-b``, to a ring of files each whole and readable alone.

The ring is the only way packets are read: it needs the same privilege as the socket itself
(``CAP_NET_RAW``) and every kernel since 3.2 has it, so a per-packet ``recv`` fallback would be
a second path doing the same job that no supported system takes. If the kernel cannot give the
ring its memory, opening says so in one line (a smaller ``buffer_bytes``, ``-B``, may do).

Kernel-side work, so that Python sees as few packets as possible:

* ``-f EXPR`` is compiled by libpcap (``pcap_compile`` through :mod:`ctypes`, loaded only when a
  filter is given) and attached with ``SO_ATTACH_FILTER``; the filter is in place before the
  socket is bound, so no unfiltered packet is ever queued (``any`` is bound to every
  interface at once, interface index 0).
* On the loopback interface every packet passes the capture point twice, once leaving and once
  arriving. A short classic-BPF prologue drops the ``PACKET_OUTGOING`` copy in the kernel, so each
  PDU is counted once (on ``any``, only loopback's outgoing copies are dropped).
* ``PACKET_STATISTICS`` (``tpacket_stats_v3``) gives the packets the kernel passed to the
  socket, those it dropped because every block of the ring was full (we read too slowly), and
  how many times the ring filled up; they are reported apart from anything the analyzer says.

Use from Python, e.g. for a TUI that reads in a worker thread::

    capture = LiveCapture("lo", bpf="tcp port 7890")   # LiveCaptureError: one line to show
    for chunk in capture.chunks():   # blocks while the wire is quiet; ends after stop()
        batch = engine.feed(chunk)
    capture.stop()                   # from any thread or a signal handler
    capture.refresh_stats()          # LiveStats: frames, bytes, kernel received/dropped
    capture.counters()               # (("frames", n), ("dropped", d)) for a status line

:class:`LiveCapture` has the shape of a capture source (``name``, ``live``, ``notes``,
``chunks()``, ``progress``, ``counters()``, ``stop()``, ``close()``), so
``analyze(LiveCapture("lo"))`` works as for a file, and so does the TUI.
``stop()`` ends the iteration once the packets already in the ring are read (no new ones are
accepted from that moment: the kernel's counters say how many were taken, and the reading goes
on until that many are read), so a test that stops after its traffic ended sees all of it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import mmap
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from cmppdissect.core import LINKTYPE_NAMES, RxRing
from cmppdissect.core.records import CaptureNote
from cmppdissect.sources.ring import CaptureRing, Ring, RingError, RingSpec

__all__ = ["LiveCapture", "LiveCaptureError", "LiveStats", "compile_bpf"]

ETH_P_ALL: Final = 0x0003
SOL_PACKET: Final = 263
PACKET_RX_RING: Final = 5
PACKET_STATISTICS: Final = 6
PACKET_VERSION: Final = 10
TPACKET_V3: Final = 2
PACKET_OUTGOING: Final = 4
SO_ATTACH_FILTER: Final = 26
SIOCGIFHWADDR: Final = 0x8927
ARPHRD_ETHER: Final = 1
ARPHRD_LOOPBACK: Final = 772
# Ancillary loads of classic BPF (linux/filter.h): SKF_AD_OFF + SKF_AD_PKTTYPE / IFINDEX.
_SKF_PKTTYPE: Final = 0xFFFFF000 + 4
_SKF_IFINDEX: Final = 0xFFFFF000 + 8
_BPF_LD_W_ABS: Final = 0x20
_BPF_JEQ_K: Final = 0x15
_BPF_RET_K: Final = 0x06
_DLT_RAW_LINUX: Final = 12  # libpcap's DLT_RAW on Linux (LINKTYPE_RAW, 101, in files)

DEFAULT_SNAPLEN: Final = 262_144
# The ring absorbs bursts while the analyzer is busy: 64 MiB is over half a second of a
# saturated gigabit link (libpcap's default is 2 MiB). Blocks of 1 MiB hold sixteen of the
# largest loopback packets (64 KiB) and are handed over often enough to keep the analysis live.
DEFAULT_BUFFER: Final = 64 << 20
DEFAULT_BLOCK: Final = 1 << 20
MIN_BLOCKS: Final = 2  # the kernel fills one block while the reader walks another
# A block that is not full is handed over after this long, so a quiet link is still analysed
# within a twentieth of a second.
RETIRE_MS: Final = 50
# After a stop, the longest wait for a block the counters say holds packets not read yet.
_DRAIN_WAIT: Final = 4 * RETIRE_MS / 1000 + 1.0
_FRAME_SIZE: Final = 2048  # TPACKET_V3 packs packets by their size; the kernel checks this only
_PCAP_NS_MAGIC: Final = 0xA1B23C4D
_REQ3 = struct.Struct("7I")  # struct tpacket_req3
_STATS_V3 = struct.Struct("III").unpack  # struct tpacket_stats_v3
_STATS_V3_SIZE: Final = 12
# struct sockaddr_ll: family, protocol (network order), ifindex, hatype, pkttype, halen, addr.
_SOCKADDR_LL = struct.Struct("=HHiHBB8s")

LINKTYPE_ETHERNET: Final = 1
LINKTYPE_RAW: Final = 101

Insn = tuple[int, int, int, int]  # classic BPF: code, jt, jf, k


class LiveCaptureError(Exception):
    """The capture cannot start (no such interface, no permission, bad filter): one line."""


@dataclass(slots=True)
class LiveStats:
    """Counters of a live capture.

    ``frames``/``bytes`` are what this process read; ``kernel_received`` is what the kernel
    passed the filter and tried to queue for us, ``kernel_dropped`` the part of it lost because
    the ring was full (tcpdump's "received by filter" and "dropped by kernel"), and
    ``kernel_ring_full`` how many times the ring filled up (``tp_freeze_q_cnt``).
    """

    interface: str
    link_type: str
    filter: str | None
    frames: int = 0
    bytes: int = 0
    kernel_received: int = 0
    kernel_dropped: int = 0
    kernel_ring_full: int = 0
    started: float = 0.0
    stopped: float | None = None
    written: str | None = None

    @property
    def duration_s(self) -> float:
        end = self.stopped if self.stopped is not None else time.time()
        return max(0.0, end - self.started)

    def as_dict(self) -> dict[str, Any]:
        return {"interface": self.interface, "link_type": self.link_type,
                "filter": self.filter, "frames": self.frames, "bytes": self.bytes,
                "kernel_received": self.kernel_received,
                "kernel_dropped": self.kernel_dropped,
                "kernel_ring_full": self.kernel_ring_full,
                "duration_s": round(self.duration_s, 6), "written": self.written}

    def describe(self) -> str:
        """The one-line account printed after a capture."""
        full = f", ring full {self.kernel_ring_full} times" if self.kernel_ring_full else ""
        return (f"Capture on {self.interface}: {self.frames} frames ({self.bytes} bytes) in "
                f"{self.duration_s:.1f} s; kernel: {self.kernel_received} received, "
                f"{self.kernel_dropped} dropped{full}")


# -- BPF ----------------------------------------------------------------------------------------


class _BpfInsn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_BpfInsn))]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_BpfInsn))]


def _libpcap() -> Any:
    names = [ctypes.util.find_library("pcap"), "libpcap.so.1", "libpcap.so.0.8", "libpcap.so"]
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.pcap_open_dead.restype = ctypes.c_void_p
        lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.pcap_compile.restype = ctypes.c_int
        lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_BpfProgram),
                                     ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        return lib
    raise LiveCaptureError("-f needs libpcap to compile the filter (install libpcap0.8)")


def compile_bpf(expr: str, linktype: int = LINKTYPE_ETHERNET,
                snaplen: int = DEFAULT_SNAPLEN) -> list[Insn]:
    """Compile a tcpdump filter expression with libpcap, for frames of ``linktype``."""
    lib = _libpcap()
    dlt = _DLT_RAW_LINUX if linktype == LINKTYPE_RAW else linktype
    handle = lib.pcap_open_dead(dlt, snaplen)
    if not handle:
        raise LiveCaptureError("-f: libpcap could not prepare a filter compiler")
    prog = _BpfProgram()
    try:
        if lib.pcap_compile(handle, ctypes.byref(prog), expr.encode(), 1, 0xFFFFFFFF) != 0:
            why = (lib.pcap_geterr(handle) or b"cannot compile").decode("utf-8", "replace")
            raise LiveCaptureError(f"-f {expr!r}: {why}")
        insns = [(i.code, i.jt, i.jf, i.k) for i in prog.bf_insns[: prog.bf_len]]
        lib.pcap_freecode(ctypes.byref(prog))
    finally:
        lib.pcap_close(handle)
    return insns


def skip_outgoing(program: list[Insn] | None, snaplen: int, *, ifindex: int = 0) -> list[Insn]:
    """Prefix ``program`` (``None``: accept all) with a drop of outgoing copies.

    With ``ifindex`` 0 every ``PACKET_OUTGOING`` packet is dropped (the socket is bound to the
    loopback interface); otherwise only those of interface ``ifindex`` (the ``any`` device).
    Classic BPF jumps are relative and the programs libpcap emits start with a load, so the
    user's program runs unchanged after the prologue.
    """
    body = program or [(_BPF_RET_K, 0, 0, snaplen)]
    if ifindex:
        head = [(_BPF_LD_W_ABS, 0, 0, _SKF_PKTTYPE), (_BPF_JEQ_K, 0, 3, PACKET_OUTGOING),
                (_BPF_LD_W_ABS, 0, 0, _SKF_IFINDEX), (_BPF_JEQ_K, 0, 1, ifindex),
                (_BPF_RET_K, 0, 0, 0)]
    else:
        head = [(_BPF_LD_W_ABS, 0, 0, _SKF_PKTTYPE), (_BPF_JEQ_K, 0, 1, PACKET_OUTGOING),
                (_BPF_RET_K, 0, 0, 0)]
    return head + body


def _attach(sock: socket.socket, program: list[Insn]) -> None:
    insns = (_BpfInsn * len(program))(*(_BpfInsn(*insn) for insn in program))
    fprog = _SockFprog(len(program), ctypes.cast(insns, ctypes.POINTER(_BpfInsn)))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))  # the kernel copies it


# -- the socket as a pcap byte stream -----------------------------------------------------------


def _bind(sock: socket.socket, interface: str) -> None:
    """Start taking packets of every protocol on ``interface``, or on every interface for
    ``any`` (interface index 0, which Python's ``bind()`` cannot name: it takes a name and
    looks its index up)."""
    if interface != "any":
        sock.bind((interface, ETH_P_ALL))
        return
    addr = _SOCKADDR_LL.pack(socket.AF_PACKET, socket.htons(ETH_P_ALL), 0, 0, 0, 0, b"")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.bind(sock.fileno(), addr, len(addr)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _hardware_type(name: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        req = struct.pack("16s16x", name.encode())
        res = fcntl.ioctl(probe.fileno(), SIOCGIFHWADDR, req)
    return int(struct.unpack_from("H", res, 16)[0])


# A packet socket whose interface goes down or away polls with an error (sk_err ENETDOWN).
_POLL_FAILED = select.POLLERR | select.POLLHUP | select.POLLNVAL

class _RingStream:
    """``read1()`` gives pcap bytes: the file header, then the records of one ring block.

    It blocks while the kernel has handed no block over, and returns ``b""`` (end of file) once
    stopped and drained, or when the duration is over. Everything it returns is also written to
    ``tee``. ``delivered`` refreshes the kernel's counters and says how many packets it put in
    the ring so far: after a stop, reading goes on until that many were read.
    """

    def __init__(self, sock: socket.socket, rx: RxRing, linktype: int, snaplen: int,
                 stats: LiveStats, tee: CaptureRing | None, deadline: float | None, name: str,
                 delivered: Callable[[], int]) -> None:
        self.name = name
        self._sock = sock
        self._rx = rx
        self._walker = rx.walker
        self._stats = stats
        self._delivered = delivered
        self._tee = tee
        self._tee_started = False
        self._deadline = deadline
        self._header: bytes | None = struct.pack("<IHHiIII", _PCAP_NS_MAGIC, 2, 4, 0, 0,
                                                 snaplen, linktype)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)
        self._poll.register(self._wake_r, select.POLLIN)
        self.stopping = False
        self._sealed = False  # no new packet is taken (after stop)
        self._drain_until = 0.0
        self.eof = False
        self.write_error: str | None = None  # why writing the -w file stopped
        self.error: str | None = None  # why capturing stopped by itself (the interface went)

    def wake(self) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):  # pipe full (already woken) or closed
            os.write(self._wake_w, b"x")

    def read1(self, size: int = -1) -> bytes:
        if self._header is not None:
            data, self._header = self._header, None
            return self._out(data)
        rx = self._rx
        while not self.eof:
            if self.stopping and not self._sealed:
                self._seal()
            while rx.ready():
                data = rx.take()
                self._stats.frames = self._walker.frames
                self._stats.bytes = self._walker.captured
                if self._sealed:
                    self._drain_until = time.monotonic() + _DRAIN_WAIT
                if data:
                    return self._out(data)
            if self.stopping:
                # Done once every packet the kernel put in the ring was read; the wait is a
                # safety net only (the kernel hands the last block over within RETIRE_MS).
                if (self._walker.frames >= self._delivered()
                        or time.monotonic() > self._drain_until):
                    self.eof = True
                    break
                timeout_ms = 10
            else:
                timeout_ms = -1
                if self._deadline is not None:
                    left = self._deadline - time.monotonic()
                    if left <= 0:
                        self.stopping = True
                        continue
                    timeout_ms = max(1, int(left * 1000))
            for fd, event in self._poll.poll(timeout_ms):
                if fd == self._sock.fileno() and event & _POLL_FAILED:
                    self._failed()
        return b""

    def _failed(self) -> None:
        """The socket reports an error: the interface went down or away (ENETDOWN). What the
        ring holds is still read, then the capture ends, saying why (a socket in error polls
        ready at once: it is polled no more)."""
        err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        name = self.name.removeprefix("live:")
        why = os.strerror(err) if err else "the socket closed"
        self.error = f"{name}: {why}: the interface went down or away; the capture stopped"
        with contextlib.suppress(KeyError):
            self._poll.unregister(self._sock.fileno())
        self.wake()

    read = read1

    def _seal(self) -> None:
        """After stop: the kernel takes no new packet; what it took is still read."""
        self._sealed = True
        with contextlib.suppress(OSError):
            _attach(self._sock, [(_BPF_RET_K, 0, 0, 0)])
        with contextlib.suppress(KeyError):  # the wake-up was seen: poll the ring alone
            self._poll.unregister(self._wake_r)
        self._drain_until = time.monotonic() + _DRAIN_WAIT

    def _out(self, data: bytes) -> bytes:
        if self._tee is not None and data:
            self._write_tee(data)
        return data

    def _write_tee(self, data: bytes) -> None:
        """Append whole records to the ``-w`` file(s). When a write fails (a full disk), the
        file ends with its last whole record, writing stops, the capture stops, and
        ``write_error`` says why; the analysis of what was read goes on to its summary."""
        assert self._tee is not None
        try:
            if self._tee_started:
                self._tee.write(data)
            else:  # the first batch is the stream's file header
                self._tee_started = True
                self._tee.start(data)
        except RingError as exc:
            self.write_error = str(exc)
            self._tee.close()
            self._tee = None
            self.wake()

    def close(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


def _ring_blocks(buffer_bytes: int, block_bytes: int) -> int:
    """How many blocks of ``block_bytes`` make a ring of ``buffer_bytes`` (checked)."""
    if block_bytes < mmap.PAGESIZE or block_bytes % mmap.PAGESIZE or block_bytes % _FRAME_SIZE:
        raise LiveCaptureError(f"ring blocks of {block_bytes} bytes: not a whole number of "
                               f"pages of {mmap.PAGESIZE} bytes")
    blocks = buffer_bytes // block_bytes
    if blocks < MIN_BLOCKS:
        raise LiveCaptureError(f"a capture ring of {buffer_bytes} bytes: it needs at least "
                               f"{MIN_BLOCKS} blocks of {block_bytes >> 10} KiB")
    # The kernel allocates the whole ring at once, and under memory pressure it calls the
    # OOM killer rather than fail: a ring past half of the memory available is refused here.
    available = _memory_available()
    if available is not None and blocks * block_bytes > available // 2:
        raise LiveCaptureError(f"a capture ring of {blocks * block_bytes >> 20} MiB: only "
                               f"{available >> 20} MiB of memory is available (-B sets it)")
    return blocks


def _memory_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes, or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


# -- the public source --------------------------------------------------------------------------


class LiveCapture:
    """Packets captured live on ``interface`` (``"any"`` for every interface), as pcap bytes.

    Opening checks everything that can fail (interface, permission, filter, ring, output file)
    and raises :class:`LiveCaptureError` with a one-line message; the capture starts right
    then, and packets wait in the kernel's ring (``buffer_bytes``, in blocks of
    ``block_bytes``) until they are read. ``write`` names a capture file that receives every
    captured frame: ``write_format`` ``"pcap"`` or ``"pcapng"`` (default: pcap for a name
    ending in ``.pcap``, else pcapng); with ``ring`` (``-b``) the frames go to a ring of such
    files (:mod:`.ring`). ``duration`` (seconds) ends the iteration by itself.
    """

    live = True

    def __init__(self, interface: str, *, bpf: str | None = None,
                 write: str | os.PathLike[str] | None = None, duration: float | None = None,
                 snaplen: int = DEFAULT_SNAPLEN, buffer_bytes: int = DEFAULT_BUFFER,
                 block_bytes: int = DEFAULT_BLOCK,
                 notes: list[CaptureNote] | None = None, ring: RingSpec | None = None,
                 write_format: str | None = None) -> None:
        self.notes: list[CaptureNote] = notes if notes is not None else []
        self.name = interface
        self._started = False
        self._reader: threading.Thread | None = None  # the thread iterating, while it does
        self._lock = threading.Lock()
        self._closed = False
        self._tee: CaptureRing | None = None
        self._map: mmap.mmap | None = None
        self._rx: RxRing | None = None
        blocks = _ring_blocks(buffer_bytes, block_bytes)
        sock, linktype, is_loopback, lo_index = self._open_socket(interface)
        self._sock = sock
        self.stats = LiveStats(interface, LINKTYPE_NAMES[linktype], bpf, started=time.time())
        try:
            program = compile_bpf(bpf, linktype, snaplen) if bpf else None
            if interface == "any" and lo_index:
                program = skip_outgoing(program, snaplen, ifindex=lo_index)
            elif is_loopback:
                program = skip_outgoing(program, snaplen)
            if program is not None:
                _attach(sock, program)
            # Only packets that passed the filter reach the ring from here on.
            rx = self._rx = self._map_ring(interface, block_bytes, blocks)
            # The socket takes packets from here on, each into the ring and each counted, so
            # the kernel's counters are the ring's own from the first packet: "frames" ends
            # equal to received less dropped. (The counters were zeroed after packets had
            # started to come, which left the ones in between read but never counted.)
            _bind(sock, interface)
            if write is not None:
                self.stats.written = os.fspath(write)
                self._tee = self._open_output(write, ring, write_format)
        except OSError as exc:
            self._release()
            if exc.errno == errno.ENODEV:
                raise LiveCaptureError(f"{interface}: no such interface") from None
            raise LiveCaptureError(f"{interface}: {exc.strerror or exc}") from None
        except BaseException:
            self._release()
            raise
        deadline = None if duration is None else time.monotonic() + duration
        self._stream = _RingStream(sock, rx, linktype, snaplen, self.stats, self._tee,
                                   deadline, f"live:{interface}", self._delivered)

    # -- opening ------------------------------------------------------------------------------

    @staticmethod
    def _open_socket(interface: str) -> tuple[socket.socket, int, bool, int]:
        """The socket (not yet bound), its link type, whether it is loopback, lo's index."""
        lo_index = 0
        if interface == "any":
            # No link header is common to all interfaces: ask the kernel for IP packets only.
            kind, linktype, is_loopback = socket.SOCK_DGRAM, LINKTYPE_RAW, False
            for _index, name in socket.if_nameindex():
                try:
                    if _hardware_type(name) == ARPHRD_LOOPBACK:
                        lo_index = _index
                except OSError:
                    continue
        else:
            if not interface or "/" in interface or len(interface.encode()) >= 16:
                raise LiveCaptureError(f"{interface!r}: no such interface")
            try:
                socket.if_nametoindex(interface)
                hwtype = _hardware_type(interface)
            except OSError:
                raise LiveCaptureError(f"{interface}: no such interface") from None
            is_loopback = hwtype == ARPHRD_LOOPBACK
            if hwtype in (ARPHRD_ETHER, ARPHRD_LOOPBACK):
                kind, linktype = socket.SOCK_RAW, LINKTYPE_ETHERNET
            else:  # tunnels, PPP, ...: their link header (if any) is left to the kernel
                kind, linktype = socket.SOCK_DGRAM, LINKTYPE_RAW
        try:  # protocol 0: nothing is received (or counted) until bind(), after filter and ring
            sock = socket.socket(socket.AF_PACKET, kind, 0)
        except PermissionError:
            raise LiveCaptureError(
                f"{interface}: no permission to capture (run as root, or give the Python "
                "interpreter CAP_NET_RAW: see docs/live.md)") from None
        except OSError as exc:
            raise LiveCaptureError(f"{interface}: cannot open a packet socket: "
                                   f"{exc.strerror or exc}") from None
        return sock, linktype, is_loopback, lo_index

    def _map_ring(self, interface: str, block_bytes: int, blocks: int) -> RxRing:
        """Turn the socket's receive queue into a TPACKET_V3 ring and map it."""
        sock = self._sock
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        size = block_bytes * blocks
        req = _REQ3.pack(block_bytes, blocks, _FRAME_SIZE, block_bytes // _FRAME_SIZE * blocks,
                         RETIRE_MS, 0, 0)
        try:
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
            self._map = mmap.mmap(sock.fileno(), size, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as exc:
            raise LiveCaptureError(
                f"{interface}: cannot set up a capture ring of {size >> 20} MiB: "
                f"{exc.strerror or exc} (a smaller -B may do)") from None
        return RxRing(self._map, block_bytes, blocks)

    def _release(self) -> None:
        """Let go of the ring, unmap it and close the socket (also undoes a half-done opening)."""
        if self._rx is not None:
            self._rx.close()  # its view of the mapping goes first: the mapping can then close
            self._rx = None
        if self._map is not None:
            self._map.close()
            self._map = None
        self._sock.close()

    @staticmethod
    def _open_output(path: str | os.PathLike[str], ring: RingSpec | None,
                     fmt: str | None) -> CaptureRing:
        """The ``-w`` output, its first file made now (named with the time the capture
        starts, as dumpcap's)."""
        name = os.fspath(path)
        fmt = fmt or ("pcap" if name.lower().endswith(".pcap") else "pcapng")
        tee = CaptureRing(Ring(name, ring), fmt)
        try:
            tee.open(time.time_ns())
        except RingError as exc:
            raise LiveCaptureError(f"-w {exc}") from None
        return tee

    # -- reading ------------------------------------------------------------------------------

    def chunks(self) -> Iterator[bytes]:
        """The capture's bytes as they arrive: the pcap header, then batches of records. The
        first chunk after the header waits for the first packet; the iteration ends once the
        capture is stopped (and what was queued is read) or its duration is over."""
        if self._started:
            raise RuntimeError("a LiveCapture can be read only once")
        self._started = True
        self._reader = threading.current_thread()
        try:
            while True:
                data = self._stream.read1()
                if not data:
                    return
                yield data
        finally:
            self._reader = None
            self.close()

    @property
    def progress(self) -> float | None:
        """A live capture has no end to measure against."""
        return None

    def counters(self) -> tuple[tuple[str, int], ...]:
        st = self.refresh_stats()
        return (("frames", st.frames), ("dropped", st.kernel_dropped))

    def refresh_stats(self) -> LiveStats:
        """Fold the kernel's latest counters into :attr:`stats` and return it (thread-safe)."""
        if not self._closed:
            self._kernel_counters()
        return self.stats

    def _kernel_counters(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                received, dropped, full = _STATS_V3(
                    self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS_V3_SIZE))
            except OSError:
                return
            # The kernel resets its counters on each read and counts drops in both.
            self.stats.kernel_received += received
            self.stats.kernel_dropped += dropped
            self.stats.kernel_ring_full += full

    def _delivered(self) -> int:
        """Packets the kernel put in the ring so far (the counters refreshed)."""
        self._kernel_counters()
        return self.stats.kernel_received - self.stats.kernel_dropped

    @property
    def error(self) -> str | None:
        """Why the capture stopped by itself (the interface went down or away), or None; what
        was captured until then is analysed."""
        return self._stream.error

    @property
    def write_error(self) -> str | None:
        """Why writing the ``write`` file stopped (a full disk), naming the file, or None: the
        capture then stopped, and the file ends with its last whole record."""
        return self._stream.write_error

    # -- stopping -----------------------------------------------------------------------------

    def stop(self) -> None:
        """End the capture: packets already queued are still read, no new ones are taken.

        Safe from any thread and from a signal handler.
        """
        self._stream.wake()

    @property
    def stopping(self) -> bool:
        return self._stream.stopping

    def close(self) -> None:
        """Stop, release the socket and finish the ``-w`` file (the stats stay readable).

        Called from another thread while one iterates, it only stops: the iterating thread
        closes when its loop ends, so the socket is never closed under a blocked read.
        """
        if self._closed:
            return
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            self.stop()
            return
        self._kernel_counters()
        with self._lock:
            self._closed = True
        self.stats.stopped = time.time()
        self._stream.wake()
        self._stream.close()
        self._release()
        if self._tee is not None:
            self._tee.close()
            self._tee = None

    def __enter__(self) -> LiveCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
