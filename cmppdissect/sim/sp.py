"""The SP (service provider) side of a session, sans-IO.

It logs in with a real AuthenticatorSource and checks the gateway's AuthenticatorISMG, sends
messages at the configured rate without ever having more than the window of traffic requests
unanswered, follows each accepted SUBMIT's Msg_Id range to match the status reports that come
back, answers DELIVERs, and sends QUERY and CANCEL when asked to. When it has sent what it was
asked to, it waits for the last responses (and reports, up to ``linger``) and TERMINATEs.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cmppdissect.protocol.auth import authenticator_source, check_connect_resp
from cmppdissect.protocol.commands import CommandId
from cmppdissect.protocol.decode import DecodedPdu
from cmppdissect.protocol.msgid import msg_id_range
from cmppdissect.protocol.version import Version
from cmppdissect.sim.behaviour import Behaviour
from cmppdissect.sim.connection import Outstanding
from cmppdissect.sim.endpoint import Clock, Endpoint, State
from cmppdissect.sim.log import ConnectionLog
from cmppdissect.sim.messages import Message, MessageFactory, MessageMix, Part
from cmppdissect.sim.msgids import connect_timestamp, query_date

C = CommandId

_VERSION_BYTE = {Version.V2_0: 0x20, Version.V3_0: 0x30}
_AWAITING_CAP = 100_000  # Msg_Ids remembered for report matching at most
_CATCH_UP = 0.02  # seconds of sending a late sender may make up at once (timers are coarse)


@dataclass(frozen=True, slots=True)
class SpConfig:
    """What the simulated SP sends. ``count`` counts messages (a long one is several SUBMITs)
    and ``rate`` counts SUBMIT PDUs per second (0: as fast as the window allows). Without
    ``count`` or ``duration`` it sends until stopped."""

    sp_id: str
    secret: str
    version: Version = Version.V3_0
    behaviour: Behaviour = field(default_factory=Behaviour)
    rate: float = 10.0
    count: int | None = None
    duration: float | None = None
    mix: MessageMix = field(default_factory=MessageMix)
    service_id: str = "MSIM"
    src_id: str = ""  # the number shown on handsets; default "1069" + SP_Id
    fee_user_type: int = 2
    fee_type: str = "01"
    fee_code: str = "000000"
    query_interval: float = 0.0  # seconds between QUERYs; 0 = none
    cancel_ratio: float = 0.0  # share of accepted SUBMITs followed by a CANCEL of their Msg_Id
    linger: float = 2.0  # seconds to keep waiting for reports after the last response
    version_byte: int | None = None  # send this Version byte instead of 0x20/0x30
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.sp_id or len(self.sp_id.encode()) > 6:
            raise ValueError(f"SP_Id {self.sp_id!r} must be 1 to 6 bytes")
        if self.rate < 0 or self.query_interval < 0 or self.linger < 0:
            raise ValueError("rate, query_interval and linger must not be negative")
        if self.count is not None and self.count < 0:
            raise ValueError(f"count must not be negative, not {self.count}")
        if self.duration is not None and self.duration < 0:
            raise ValueError(f"duration must not be negative, not {self.duration}")
        if not 0.0 <= self.cancel_ratio <= 1.0:
            raise ValueError(f"cancel_ratio must be between 0 and 1, not {self.cancel_ratio}")
        if self.version_byte is not None and not 0 <= self.version_byte <= 0xFF:
            raise ValueError(f"version byte {self.version_byte} does not fit in one byte")
        if len(self.effective_src_id.encode()) > 21:
            raise ValueError("src_id must be at most 21 bytes")

    @property
    def effective_src_id(self) -> str:
        return self.src_id or f"1069{self.sp_id}"


@dataclass(frozen=True, slots=True)
class _Submit:
    """What a SUBMIT carried, kept with the request to read its SUBMIT_RESP."""

    message: Message
    part: Part


class SpSession(Endpoint):
    """The SP's end of its connection to an ISMG."""

    def __init__(self, config: SpConfig, log: ConnectionLog, *,
                 clock: Clock = datetime.now) -> None:
        rng = random.Random(config.seed)
        super().__init__(log, version=config.version, behaviour=config.behaviour, rng=rng,
                         clock=clock)
        self.config = config
        self._factory = MessageFactory(config.mix, rng)
        self._parts: deque[_Submit] = deque()
        self._cancels: deque[int] = deque()
        self._awaiting: OrderedDict[int, float] = OrderedDict()  # Msg_Id -> SUBMIT_RESP time
        self._auth_source = b""
        self._opened = 0.0
        self._next_submit = 0.0
        self._last_answer = 0.0
        self._out_of_time = False
        self._query_due = False
        self.messages_started = 0
        self.submits_sent = 0
        log.sp_id = config.sp_id
        log.version = config.version

    # -- login ----------------------------------------------------------------------------------

    def _on_start(self, now: float) -> None:
        cfg = self.config
        timestamp = connect_timestamp(self.clock())
        self._auth_source = authenticator_source(cfg.sp_id, cfg.secret, timestamp)
        version_byte = cfg.version_byte
        if version_byte is None:
            version_byte = _VERSION_BYTE[cfg.version]
        self._request(C.CMPP_CONNECT, {
            "Source_Addr": cfg.sp_id, "AuthenticatorSource": self._auth_source,
            "Version": version_byte, "Timestamp": timestamp}, now)

    def _logged_in(self, pdu: DecodedPdu, now: float) -> None:
        f = pdu.fields
        status = f.get("Status", -1)
        self.log.login_status = status
        if status != 0:
            self._close(f"login rejected: Status {status}", now)
            return
        check = check_connect_resp(status, f.get("AuthenticatorISMG", b""), self._auth_source,
                                   self.config.secret, self.version)
        self.log.auth_check = check.message
        self.state = State.OPEN
        self._opened = self._next_submit = self._last_answer = now
        if self.config.query_interval:
            self.timeline.call_at(now + self.config.query_interval, self._query_tick)

    # -- sending --------------------------------------------------------------------------------

    @property
    def exhausted(self) -> bool:
        """No more messages to start (parts of a started long message still go out)."""
        count = self.config.count
        return self._out_of_time or (count is not None and self.messages_started >= count)

    def _next_part(self) -> _Submit | None:
        if not self._parts:
            if self.exhausted:
                return None
            message = self._factory.next()
            self.messages_started += 1
            self._parts.extend(_Submit(message, part) for part in message.parts)
        return self._parts.popleft()

    def _submit_fields(self, item: _Submit) -> dict[str, Any]:
        cfg, message, part = self.config, item.message, item.part
        return {
            "Pk_total": part.Pk_total, "Pk_number": part.Pk_number,
            "Registered_Delivery": 1 if message.registered else 0, "Msg_level": 1,
            "Service_Id": cfg.service_id, "Fee_UserType": cfg.fee_user_type,
            "TP_udhi": part.TP_udhi, "Msg_Fmt": part.Msg_Fmt, "Msg_src": cfg.sp_id,
            "FeeType": cfg.fee_type, "FeeCode": cfg.fee_code, "Src_Id": cfg.effective_src_id,
            "Dest_terminal_Id": list(message.dests), "Msg_Content": part.Msg_Content,
        }

    def _on_idle(self, now: float) -> None:
        conn, rate, duration = self.conn, self.config.rate, self.config.duration
        if duration is not None and now >= self._opened + duration:
            self._out_of_time = True
        if self._query_due and conn.window_free > 0:
            self._query_due = False
            self._request(C.CMPP_QUERY, {"Time": query_date(self.clock()), "Query_Type": 0},
                          now)
        while conn.window_free > 0 and self._cancels:
            msg_id = self._cancels.popleft()
            self._request(C.CMPP_CANCEL, {"Msg_Id": msg_id}, now, context=msg_id)
        while conn.window_free > 0 and (not rate or now >= self._next_submit):
            item = self._next_part()
            if item is None:
                break
            self._request(C.CMPP_SUBMIT, self._submit_fields(item), now, context=item)
            self.submits_sent += 1
            if rate:
                self._next_submit = max(self._next_submit + 1 / rate, now - _CATCH_UP)
        if self._finished(now):
            self._terminate(now)

    @property
    def _winding_down(self) -> bool:
        """Nothing left to send: what remains is waiting for answers, then TERMINATE."""
        if self._parts or not self.exhausted:
            return False
        # a session with a duration stays up for all of it
        return self.config.duration is None or self._out_of_time

    def _traffic_in_flight(self) -> bool:
        """SUBMITs or CANCELs unanswered. QUERYs do not hold up the end: with an interval
        shorter than the gateway's latency one would always be in flight. One still open at
        TERMINATE is answered before TERMINATE_RESP, as the gateway answers in order."""
        return any(o.windowed and o.command_id != C.CMPP_QUERY for o in self.conn.outstanding())

    def _finished(self, now: float) -> bool:
        if not self._winding_down or self._cancels or self._traffic_in_flight():
            return False
        return not self._awaiting or now >= self._last_answer + self.config.linger

    def _role_deadline(self) -> float | None:
        if self.state is not State.OPEN:
            return None
        cfg = self.config
        times: list[float] = []
        if cfg.duration is not None and not self._out_of_time:
            times.append(self._opened + cfg.duration)
        if cfg.rate and self.conn.window_free > 0 and (self._parts or not self.exhausted):
            times.append(self._next_submit)
        elif self._awaiting and self._winding_down and not self._traffic_in_flight():
            times.append(self._last_answer + cfg.linger)
        return min(times) if times else None

    def _query_tick(self, now: float) -> None:
        """Time for a QUERY; it goes out when the window has room (one waits at most)."""
        if self.state is not State.OPEN:
            return
        self._query_due = True
        self.timeline.call_at(now + self.config.query_interval, self._query_tick)

    # -- what comes back ------------------------------------------------------------------------

    def _on_response(self, pdu: DecodedPdu, request: Outstanding, now: float) -> None:
        cmd = pdu.Command_Id
        if cmd == C.CMPP_CONNECT_RESP:
            self._logged_in(pdu, now)
            return
        item = request.context
        if cmd == C.CMPP_CANCEL_RESP and pdu.fields.get("Success_Id") == 0:
            self._awaiting.pop(item, None)  # a cancelled message gets no report
            return
        if cmd != C.CMPP_SUBMIT_RESP or not isinstance(item, _Submit):
            return
        self._last_answer = now
        f = pdu.fields
        if f.get("Result") != 0:
            return
        first = f.get("Msg_Id", 0)
        if item.message.registered:
            for msg_id in msg_id_range(first, len(item.message.dests)):
                self._awaiting[msg_id] = now
            while len(self._awaiting) > _AWAITING_CAP:
                self._awaiting.popitem(last=False)
        if self.config.cancel_ratio and self.rng.random() < self.config.cancel_ratio:
            self._cancels.append(first)

    def _on_request(self, pdu: DecodedPdu, now: float) -> None:
        if self.state is State.CONNECTING or pdu.Command_Id != C.CMPP_DELIVER:
            self.conn.answered(pdu)  # nothing an SP answers: ignored
            return
        f = pdu.fields
        report = pdu.report
        if f.get("Registered_Delivery") == 1 and report is not None:
            stat = report.get("Stat", b"").decode("ascii", "backslashreplace")
            self.log.reports_received[stat] += 1
            if self._awaiting.pop(report.get("Msg_Id", -1), None) is None:
                self.log.reports_unmatched += 1
            else:
                self._last_answer = now
        else:
            self.log.mo_received += 1
        self._respond(pdu, {"Msg_Id": f.get("Msg_Id", 0), "Result": self._result()}, now)

    @property
    def reports_outstanding(self) -> int:
        """Status reports asked for and not (yet) received."""
        return len(self._awaiting)
