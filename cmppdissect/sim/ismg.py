"""The ISMG (gateway) side of a session, sans-IO.

It checks CONNECT against its accounts with the real MD5 authenticators, answers SUBMIT with
Msg_Ids (a range for a group send), delivers a status report per recipient for every SUBMIT
that asked for one (Registered_Delivery = 1), sends MO messages if asked, answers QUERY from
its own counters and CANCEL for messages it has not delivered yet. DELIVERs go through the
same window of 16 as the SP's SUBMITs.
"""

from __future__ import annotations

import functools
import random
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cmppdissect.protocol.auth import authenticator_ismg, check_connect
from cmppdissect.protocol.commands import CommandId
from cmppdissect.protocol.decode import DecodedPdu
from cmppdissect.protocol.encode import encode_fields
from cmppdissect.protocol.expert import Severity
from cmppdissect.protocol.layouts import REPORT_60, REPORT_71
from cmppdissect.protocol.version import Version
from cmppdissect.sim.behaviour import Behaviour
from cmppdissect.sim.connection import Outstanding
from cmppdissect.sim.endpoint import Clock, Endpoint, State
from cmppdissect.sim.log import ConnectionLog
from cmppdissect.sim.messages import MessageFactory, MessageMix, Part, random_msisdn
from cmppdissect.sim.msgids import GATEWAY_MAX, MsgIdAllocator, query_date, report_time

C = CommandId

# CONNECT_RESP Status values (reference §8.1).
STATUS_OK = 0
STATUS_STRUCTURE = 1
STATUS_BAD_SOURCE = 2
STATUS_AUTH = 3
STATUS_VERSION = 4

_VERSION_BYTE = {Version.V2_0: 0x20, Version.V3_0: 0x30}
_UNDELIVERED_CAP = 100_000  # accepted messages remembered for CANCEL at most
_FAILED_STATS = ("UNDELIV", "EXPIRED", "REJECTD", "MB:0013")

DEFAULT_ACCOUNTS: Mapping[str, str] = {"901234": "123456"}


@dataclass(frozen=True, slots=True)
class IsmgConfig:
    """How the simulated gateway behaves. ``version`` is the highest version it speaks."""

    version: Version = Version.V3_0
    accounts: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ACCOUNTS))
    gateway: int = 1001  # ISMG code stamped into Msg_Ids (001001: Beijing #1)
    behaviour: Behaviour = field(default_factory=lambda: Behaviour(error_codes=(8, 7, 5)))
    report_delay: float = 0.5  # mean seconds from SUBMIT_RESP to the status report
    report_fail: float = 0.0  # share of reports that say the message was not delivered
    mo_rate: float = 0.0  # MO messages per second per session
    mo_mix: MessageMix = field(
        default_factory=lambda: MessageMix(group_ratio=0.0, report_ratio=0.0))
    mo_dest: str = "10690000"  # Dest_Id of MO messages until the SP's own Src_Id is known
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.report_delay < 0 or self.mo_rate < 0:
            raise ValueError("report_delay and mo_rate must not be negative")
        if not 0.0 <= self.report_fail <= 1.0:
            raise ValueError(f"report_fail must be between 0 and 1, not {self.report_fail}")
        if not 0 <= self.gateway <= GATEWAY_MAX:
            raise ValueError(f"gateway code {self.gateway} does not fit in 22 bits")
        for sp_id in self.accounts:
            if not sp_id or len(sp_id.encode()) > 6:
                raise ValueError(f"SP_Id {sp_id!r} must be 1 to 6 bytes")


@dataclass(slots=True)
class Counters:
    """What QUERY_RESP reports (reference §5.9)."""

    MT_TLMsg: int = 0
    MT_Tlusr: int = 0
    MT_Scs: int = 0
    MT_WT: int = 0
    MT_FL: int = 0
    MO_Scs: int = 0
    MO_WT: int = 0
    MO_FL: int = 0

    def as_fields(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class IsmgState:
    """What one gateway shares across its connections: accounts, Msg_Ids, counters, RNG."""

    def __init__(self, config: IsmgConfig, *, clock: Clock = datetime.now) -> None:
        self.config = config
        self.clock = clock
        self.rng = random.Random(config.seed)
        self.msg_ids = MsgIdAllocator(config.gateway, first_sequence=self.rng.randrange(1 << 16))
        self.counters: dict[tuple[str, str], Counters] = {}  # (sp_id, Service_Id or "")
        self.smsc_sequence = 0

    def counters_for(self, sp_id: str, service_id: str) -> list[Counters]:
        """The SP's total counters and its per-service ones, created on first use."""
        out = []
        for key in ((sp_id, ""), (sp_id, service_id)):
            c = self.counters.get(key)
            if c is None:
                c = self.counters[key] = Counters()
            out.append(c)
        return out

    def session_rng(self) -> random.Random:
        return random.Random(self.rng.getrandbits(64))


@dataclass(slots=True, eq=False)
class _Accepted:
    """A recipient of an accepted SUBMIT, until the ISMG "delivers" it."""

    msg_id: int
    dest: bytes
    submitted: datetime
    src_id: bytes
    service_id: bytes
    report: bool
    counters: list[Counters]
    cancelled: bool = False


@dataclass(slots=True, eq=False)
class _Deliver:
    """A DELIVER waiting for room in the window: a status report or an MO part."""

    fields: dict[str, Any]
    report_stat: str | None = None
    counters: list[Counters] = field(default_factory=list)


def _text(value: object) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else ""


def _client_version(byte: int) -> Version | None:
    """The layout a CONNECT's Version byte asks for; 0x00/0x01 are 2.0 as SMSGate reads them."""
    if byte in (0x00, 0x01) or byte >> 4 == 2:
        return Version.V2_0
    if byte >> 4 == 3:
        return Version.V3_0
    return None


class IsmgSession(Endpoint):
    """The gateway's end of one SP connection."""

    def __init__(self, state: IsmgState, log: ConnectionLog) -> None:
        config = state.config
        super().__init__(log, version=None, behaviour=config.behaviour,
                         rng=state.session_rng(), clock=state.clock)
        self.shared = state
        self.config = config
        self.sp_id: str | None = None
        self._sp_number = config.mo_dest.encode()
        self._service_id = b""
        self._undelivered: OrderedDict[int, _Accepted] = OrderedDict()
        self._queue: deque[_Deliver] = deque()
        self._mo = MessageFactory(config.mo_mix, self.rng)

    # -- login ----------------------------------------------------------------------------------

    def _on_request(self, pdu: DecodedPdu, now: float) -> None:
        cmd = pdu.Command_Id
        if self.state is State.CONNECTING:
            if cmd == C.CMPP_CONNECT:
                self._login(pdu, now)
            else:
                self._close(f"{pdu.command} before CONNECT", now)
            return
        if cmd == C.CMPP_SUBMIT:
            self._submit(pdu, now)
        elif cmd == C.CMPP_QUERY:
            self._query(pdu, now)
        elif cmd == C.CMPP_CANCEL:
            self._cancel(pdu, now)
        elif cmd == C.CMPP_CONNECT:
            self._respond(pdu, self._connect_resp(STATUS_STRUCTURE, b"", ""), now)
        else:
            self.conn.answered(pdu)  # not an SP's request (DELIVER, FWD, ...): ignored

    def _login(self, pdu: DecodedPdu, now: float) -> None:
        f = pdu.fields
        raw_source = f.get("Source_Addr", b"")
        sp_id = _text(raw_source)
        requested = f.get("Version", 0)
        wanted = _client_version(requested)
        highest = self.config.version
        secret = self.config.accounts.get(sp_id)
        status = STATUS_OK
        if any(x.severity is Severity.ERROR for x in pdu.findings):
            status = STATUS_STRUCTURE
        elif wanted is None or (wanted is Version.V3_0 and highest is Version.V2_0):
            status = STATUS_VERSION if requested > _VERSION_BYTE[highest] else STATUS_STRUCTURE
        elif secret is None:
            status = STATUS_BAD_SOURCE
        elif not check_connect(raw_source, f.get("AuthenticatorSource", b""),
                               f.get("Timestamp", 0), secret).ok:
            status = STATUS_AUTH
        # Answer in the layout the SP asked for when we speak it, else in our own.
        self.conn.version = wanted if wanted is not None and status != STATUS_VERSION else highest
        self.log.sp_id = sp_id
        self.log.version = self.conn.version
        self.log.login_status = status
        auth = f.get("AuthenticatorSource", b"") if status == STATUS_OK else b""
        self._respond(pdu, self._connect_resp(status, auth, secret or ""), now)
        if status != STATUS_OK:
            self._close(f"login rejected: Status {status}", now)
            return
        self.sp_id = sp_id
        self.state = State.OPEN
        if self.config.mo_rate:
            self.timeline.call_at(now + self.rng.expovariate(self.config.mo_rate), self._mo_tick)

    def _connect_resp(self, status: int, auth_source: bytes, secret: str) -> dict[str, Any]:
        width = 1 if self.conn.version is Version.V2_0 else 4
        auth = (authenticator_ismg(status, auth_source, secret, status_width=width)
                if status == STATUS_OK else bytes(16))
        return {"Status": status, "AuthenticatorISMG": auth,
                "Version": _VERSION_BYTE[self.config.version]}

    # -- MT: SUBMIT, QUERY, CANCEL --------------------------------------------------------------

    def _submit(self, pdu: DecodedPdu, now: float) -> None:
        f = pdu.fields
        dests: list[bytes] = f.get("Dest_terminal_Id", [])
        service_id = f.get("Service_Id", b"")
        counters = self.shared.counters_for(self.sp_id or "", _text(service_id))
        if any(x.severity is Severity.ERROR for x in pdu.findings) or not dests:
            result = 1  # message structure error
        else:
            result = self._result()
        for c in counters:
            c.MT_TLMsg += 1
            c.MT_Tlusr += len(dests)
            if result:
                c.MT_FL += len(dests)
        if result:
            self._respond(pdu, {"Msg_Id": 0, "Result": result}, now)
            return
        when = self.clock()
        first = self.shared.msg_ids.take(when, len(dests))
        delay = self._respond(pdu, {"Msg_Id": first, "Result": 0}, now) or 0.0
        src_id = f.get("Src_Id", b"")
        if src_id:
            self._sp_number, self._service_id = src_id, service_id
        report = f.get("Registered_Delivery") == 1
        for i, dest in enumerate(dests):
            item = _Accepted((first + i) & 0xFFFFFFFFFFFFFFFF, dest, when, src_id, service_id,
                             report, counters)
            for c in counters:
                c.MT_WT += 1
            self._remember(item)
            done = now + delay + self.config.report_delay * (0.5 + self.rng.random())
            self.timeline.call_at(done, functools.partial(self._delivered, item))

    def _remember(self, item: _Accepted) -> None:
        self._undelivered[item.msg_id] = item
        while len(self._undelivered) > _UNDELIVERED_CAP:
            self._undelivered.popitem(last=False)

    def _delivered(self, item: _Accepted, now: float) -> None:
        """The handset got it (or not): count it, and queue its report if one was asked for."""
        self._undelivered.pop(item.msg_id, None)
        if item.cancelled:
            return
        failed = bool(self.config.report_fail) and self.rng.random() < self.config.report_fail
        stat = self.rng.choice(_FAILED_STATS) if failed else "DELIVRD"
        for c in item.counters:
            c.MT_WT -= 1
            if failed:
                c.MT_FL += 1
            else:
                c.MT_Scs += 1
        if not item.report:
            return
        self.shared.smsc_sequence = (self.shared.smsc_sequence + 1) & 0xFFFFFFFF
        v3 = self.conn.version is Version.V3_0
        report = encode_fields(REPORT_71 if v3 else REPORT_60, {
            "Msg_Id": item.msg_id, "Stat": stat, "Submit_time": report_time(item.submitted),
            "Done_time": report_time(self.clock()), "Dest_terminal_Id": item.dest,
            "SMSC_sequence": self.shared.smsc_sequence})
        self._queue.append(_Deliver({
            "Dest_Id": item.src_id, "Service_Id": item.service_id, "Msg_Fmt": 0,
            "Src_terminal_Id": item.dest, "Registered_Delivery": 1, "Msg_Content": report,
        }, report_stat=stat))

    def _query(self, pdu: DecodedPdu, now: float) -> None:
        f = pdu.fields
        day = f.get("Time", b"")
        query_type = f.get("Query_Type", 0)
        code = f.get("Query_Code", b"") if query_type == 1 else b""
        counters = Counters()
        if day == query_date(self.clock()).encode():
            counters = self.shared.counters.get((self.sp_id or "", _text(code)), counters)
        self._respond(pdu, {"Time": day, "Query_Type": query_type,
                            "Query_Code": f.get("Query_Code", b""), **counters.as_fields()}, now)

    def _cancel(self, pdu: DecodedPdu, now: float) -> None:
        item = self._undelivered.pop(pdu.fields.get("Msg_Id", 0), None)
        if item is not None:
            item.cancelled = True
            for c in item.counters:
                c.MT_WT -= 1
        self._respond(pdu, {"Success_Id": 0 if item is not None else 1}, now)

    # -- MO and DELIVER -------------------------------------------------------------------------

    def _mo_tick(self, now: float) -> None:
        if self.state is not State.OPEN:
            return
        message = self._mo.next()
        sender = random_msisdn(self.rng).encode()
        counters = self.shared.counters_for(self.sp_id or "", _text(self._service_id))
        for part in message.parts:
            self._queue.append(_Deliver(self._mo_fields(part, sender), counters=counters))
            for c in counters:
                c.MO_WT += 1
        self.timeline.call_at(now + self.rng.expovariate(self.config.mo_rate), self._mo_tick)

    def _mo_fields(self, part: Part, sender: bytes) -> dict[str, Any]:
        return {"Dest_Id": self._sp_number, "Service_Id": self._service_id,
                "TP_udhi": part.TP_udhi, "Msg_Fmt": part.Msg_Fmt, "Src_terminal_Id": sender,
                "Registered_Delivery": 0, "Msg_Content": part.Msg_Content}

    def _on_idle(self, now: float) -> None:
        queue = self._queue
        while queue and self.conn.window_free > 0:
            job = queue.popleft()
            job.fields["Msg_Id"] = self.shared.msg_ids.take(self.clock())
            self._request(C.CMPP_DELIVER, job.fields, now, context=job)
            if job.report_stat is None:
                self.log.mo_sent += 1
            else:
                self.log.reports_sent[job.report_stat] += 1

    def _on_response(self, pdu: DecodedPdu, request: Outstanding, now: float) -> None:
        job = request.context
        if pdu.Command_Id == C.CMPP_DELIVER_RESP and isinstance(job, _Deliver):
            ok = pdu.fields.get("Result") == 0
            for c in job.counters:
                c.MO_WT -= 1
                if ok:
                    c.MO_Scs += 1
                else:
                    c.MO_FL += 1

    def _on_abandoned(self, request: Outstanding, now: float) -> None:
        job = request.context
        if isinstance(job, _Deliver):
            for c in job.counters:
                c.MO_WT -= 1
                c.MO_FL += 1
