"""``cmppdissect sim server|client|demo``: the simulator from the command line.

Bad usage is one line on stderr and exit status 2 (as for ``cmppdissect`` itself). Ctrl-C or
SIGTERM ends a run politely (TERMINATE to the peer) and still prints the summary; a second
Ctrl-C stops at once. The live status goes to stderr and the final summary to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from cmppdissect.options import UsageError, format_hostport, parse_hostport, parse_secrets
from cmppdissect.protocol.version import Version, parse_version
from cmppdissect.sim.behaviour import Behaviour, Faults
from cmppdissect.sim.client import SpClient
from cmppdissect.sim.errors import SimError
from cmppdissect.sim.ismg import DEFAULT_ACCOUNTS, IsmgConfig
from cmppdissect.sim.log import SimLog
from cmppdissect.sim.messages import MessageMix
from cmppdissect.sim.server import IsmgServer
from cmppdissect.sim.sp import SpConfig
from cmppdissect.sim.summary import LiveSummary, final_summary

PROG = "cmppdissect sim"
_CLI_EVENTS = 0  # the command line keeps counters only, no per-PDU events


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as one line instead of usage plus message."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


# -- argument types -----------------------------------------------------------------------------


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text}")
    return value


def _nonnegative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _version(text: str) -> Version:
    try:
        version = parse_version(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if version is None:
        raise argparse.ArgumentTypeError("choose 2.0 or 3.0")
    return version


def _secrets(items: Sequence[str]) -> dict[str, str]:
    try:
        return parse_secrets(items)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# -- the parser ---------------------------------------------------------------------------------


def _knobs(p: argparse.ArgumentParser, *, heartbeat: float = 180.0) -> None:
    g = p.add_argument_group("timing and misbehaviour (this side's responses)")
    g.add_argument("--latency", type=_nonnegative, default=0.0, metavar="S",
                   help="delay every response by S seconds")
    g.add_argument("--jitter", type=_nonnegative, default=0.0, metavar="S",
                   help="plus a random 0..S seconds")
    g.add_argument("--error-rate", type=_ratio, default=0.0, metavar="R",
                   help="share of responses with a non-zero Result")
    g.add_argument("--error-code", type=_count, action="append", metavar="N",
                   help="Result to use for errors (repeatable)")
    g.add_argument("--lost", type=_ratio, default=0.0, metavar="R",
                   help="share of responses never sent")
    g.add_argument("--duplicate", type=_ratio, default=0.0, metavar="R",
                   help="share of responses sent twice")
    g.add_argument("--wrong-seq", type=_ratio, default=0.0, metavar="R",
                   help="share of responses with a wrong Sequence_Id")
    g.add_argument("--slow", type=_ratio, default=0.0, metavar="R",
                   help="share of responses delayed by --slow-delay")
    g.add_argument("--slow-delay", type=_nonnegative, default=2.0, metavar="S")
    g.add_argument("--bad-active-test-resp", type=_ratio, default=0.0, metavar="R",
                   help="share of ACTIVE_TEST_RESPs written pycmpp style (wrong length)")
    g.add_argument("--chunk", type=_count, default=0, metavar="N",
                   help="write every PDU in pieces of at most N bytes")
    g.add_argument("--chunk-gap", type=_nonnegative, default=0.001, metavar="S",
                   help="pause between pieces (default 0.001)")
    g.add_argument("--heartbeat", type=_nonnegative, default=heartbeat, metavar="S",
                   help=f"ACTIVE_TEST after S idle seconds, 0 = never (default {heartbeat:g})")
    g.add_argument("--timeout", type=_nonnegative, default=60.0, metavar="S",
                   help="resend a request unanswered for S seconds (default 60)")
    g.add_argument("--retries", type=_count, default=2, metavar="N",
                   help="resends before giving up (default 2)")
    g.add_argument("--window", type=_count, default=16, metavar="N",
                   help="most requests in flight (default 16)")
    g.add_argument("--seed", type=_count, metavar="N", help="random seed, for repeatable runs")


def _output(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--quiet", action="store_true", help="no live status line")
    g.add_argument("--interval", type=_nonnegative, default=0.0, metavar="S",
                   help="status every S seconds (default 0.5 on a terminal, else 5)")
    g.add_argument("--log-json", metavar="FILE", help="write the final log as JSON to FILE")


def _server_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("gateway")
    g.add_argument("--secret", action="append", default=[], metavar="SP_ID=SECRET",
                   help="an SP account (repeatable; default 901234=123456)")
    g.add_argument("--gateway", type=_count, default=1001, metavar="CODE",
                   help="ISMG code stamped into Msg_Ids (default 1001)")
    g.add_argument("--report-delay", type=_nonnegative, default=0.5, metavar="S",
                   help="mean delay of status reports (default 0.5)")
    g.add_argument("--report-fail", type=_ratio, default=0.0, metavar="R",
                   help="share of reports saying UNDELIV/EXPIRED/...")
    g.add_argument("--mo-rate", type=_nonnegative, default=0.0, metavar="N",
                   help="MO messages per second per connection")
    g.add_argument("--mo-dest", default="10690000", metavar="NUMBER",
                   help="Dest_Id of MO messages before the SP has sent a Src_Id")


def _client_options(p: argparse.ArgumentParser, *, demo: bool = False) -> None:
    g = p.add_argument_group("messages")
    g.add_argument("--rate", type=_nonnegative, default=50.0 if demo else 10.0, metavar="N",
                   help="SUBMIT PDUs per second, 0 = as fast as the window allows")
    if not demo:
        stop = g.add_mutually_exclusive_group()
        stop.add_argument("--count", type=_count, metavar="N", help="send N messages")
        stop.add_argument("--duration", type=_nonnegative, metavar="S", help="send for S seconds")
    g.add_argument("--long-ratio", type=_ratio, default=0.2 if demo else 0.1, metavar="R",
                   help="share of long (multi-part, UDH) messages")
    g.add_argument("--group-ratio", type=_ratio, default=0.1, metavar="R",
                   help="share of group sends")
    g.add_argument("--group-size", type=_count, default=3, metavar="N",
                   help="recipients of a group send (default 3)")
    g.add_argument("--report-ratio", type=_ratio, default=0.5, metavar="R",
                   help="share of messages asking for a status report")
    g.add_argument("--ascii-ratio", type=_ratio, default=0.3, metavar="R",
                   help="share of English messages (Msg_Fmt 0)")
    g.add_argument("--gbk-ratio", type=_ratio, default=0.3, metavar="R",
                   help="share of Chinese messages sent as GBK (15) rather than UCS2 (8)")
    g.add_argument("--query-interval", type=_nonnegative, default=1.0 if demo else 0.0,
                   metavar="S", help="send a QUERY every S seconds")
    g.add_argument("--cancel-ratio", type=_ratio, default=0.05 if demo else 0.0, metavar="R",
                   help="share of accepted messages followed by a CANCEL")
    if demo:
        return
    g.add_argument("--text", action="append", default=[], metavar="TEXT",
                   help="send this text instead of the built-in ones (repeatable)")
    g.add_argument("--dest", action="append", default=[], metavar="NUMBER",
                   help="recipient number (repeatable; default random 86138...)")
    g.add_argument("--service-id", default="MSIM", help="Service_Id (default MSIM)")
    g.add_argument("--src-id", default="", help="Src_Id (default 1069 + SP_Id)")
    g.add_argument("--linger", type=_nonnegative, default=2.0, metavar="S",
                   help="wait up to S seconds for outstanding reports at the end")
    g.add_argument("--version-byte", type=_count, metavar="N",
                   help="send this CONNECT Version byte (e.g. 0x21)")


def _parser() -> _Parser:
    p = _Parser(prog=PROG, description="Simulate a CMPP gateway (ISMG) or an SP over TCP.")
    sub = p.add_subparsers(dest="command", metavar="{server,client,demo}",
                           parser_class=_Parser)
    sub.required = True
    server = sub.add_parser("server", help="run an ISMG that SPs can log in to")
    server.add_argument("--listen", default="127.0.0.1:7890", metavar="HOST:PORT",
                        help="address to listen on (default 127.0.0.1:7890; port 0 = any)")
    server.add_argument("--version", type=_version, default=Version.V3_0,
                        help="highest CMPP version spoken: 2.0 or 3.0 (default 3.0)")
    server.add_argument("--duration", type=_nonnegative, metavar="S",
                        help="stop after S seconds (default: at Ctrl-C)")
    _server_options(server)
    _knobs(server)
    _output(server)

    client = sub.add_parser("client", help="run an SP that connects to an ISMG")
    client.add_argument("--connect", required=True, metavar="HOST:PORT")
    client.add_argument("--sp-id", required=True, metavar="ID", help="SP_Id (Source_Addr)")
    client.add_argument("--secret", required=True, metavar="S", help="shared secret")
    client.add_argument("--version", type=_version, default=Version.V3_0,
                        help="CMPP version: 2.0 or 3.0 (default 3.0)")
    _client_options(client)
    _knobs(client)
    _output(client)

    demo = sub.add_parser("demo", help="run an ISMG and an SP on loopback for a few seconds")
    demo.add_argument("--version", type=_version, default=Version.V3_0)
    demo.add_argument("--duration", type=_nonnegative, default=3.0, metavar="S",
                      help="seconds of traffic (default 3)")
    _client_options(demo, demo=True)
    _server_options(demo)
    _knobs(demo, heartbeat=1.0)
    _output(demo)
    return p


# -- from arguments to configurations -----------------------------------------------------------


def _behaviour(args: argparse.Namespace, default_codes: tuple[int, ...]) -> Behaviour:
    codes = tuple(args.error_code) if args.error_code else default_codes
    try:
        return Behaviour(
            latency=args.latency, jitter=args.jitter, heartbeat=args.heartbeat,
            timeout=args.timeout, retries=args.retries, window=args.window, chunk=args.chunk,
            chunk_gap=args.chunk_gap, error_rate=args.error_rate, error_codes=codes,
            faults=Faults(lost=args.lost, duplicate=args.duplicate, wrong_seq=args.wrong_seq,
                          slow=args.slow, slow_delay=args.slow_delay,
                          bad_active_test_resp=args.bad_active_test_resp))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _ismg_config(args: argparse.Namespace, behaviour: Behaviour) -> IsmgConfig:
    accounts = _secrets(args.secret) or dict(DEFAULT_ACCOUNTS)
    try:
        return IsmgConfig(version=args.version, accounts=accounts, gateway=args.gateway,
                          behaviour=behaviour, report_delay=args.report_delay,
                          report_fail=args.report_fail, mo_rate=args.mo_rate,
                          mo_dest=args.mo_dest, seed=args.seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _mix(args: argparse.Namespace) -> MessageMix:
    try:
        return MessageMix(long_ratio=args.long_ratio, group_ratio=args.group_ratio,
                          group_size=args.group_size, report_ratio=args.report_ratio,
                          ascii_ratio=args.ascii_ratio, gbk_ratio=args.gbk_ratio,
                          texts=tuple(getattr(args, "text", ())),
                          dests=tuple(getattr(args, "dest", ())))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _sp_config(args: argparse.Namespace, behaviour: Behaviour) -> SpConfig:
    try:
        return SpConfig(
            sp_id=args.sp_id, secret=args.secret, version=args.version, behaviour=behaviour,
            rate=args.rate, count=args.count, duration=args.duration, mix=_mix(args),
            service_id=args.service_id, src_id=args.src_id, query_interval=args.query_interval,
            cancel_ratio=args.cancel_ratio, linger=args.linger, version_byte=args.version_byte,
            seed=args.seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# -- running ------------------------------------------------------------------------------------


def _stop_on_signals(stop: asyncio.Event) -> None:
    """First SIGINT/SIGTERM: stop politely. The handler then removes itself, so a second
    Ctrl-C raises KeyboardInterrupt as usual."""
    loop = asyncio.get_running_loop()

    def first(sig: signal.Signals) -> None:
        stop.set()
        loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not the main thread, or a platform without signals in asyncio: no polite stop.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, first, sig)


def _finish(args: argparse.Namespace, *logs: tuple[SimLog, str]) -> None:
    for log, label in logs:
        print(final_summary(log, label=label), flush=True)
    if args.log_json:
        doc = {label: log.as_dict() for log, label in logs}
        try:
            Path(args.log_json).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise SimError(f"{args.log_json}: {exc.strerror or exc}") from None


def _say(text: str) -> None:
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


async def _server(args: argparse.Namespace) -> int:
    config = _ismg_config(args, _behaviour(args, (8, 7, 5)))
    try:
        host, port = parse_hostport(args.listen, listening=True)
    except ValueError as exc:
        raise UsageError(f"--listen: {exc}") from None
    server = IsmgServer(config, max_events=_CLI_EVENTS)
    bound = await server.start(host, port)
    _say(f"ISMG (CMPP up to {config.version}) listening on "
         f"{format_hostport(bound[0], bound[1])}, "
         f"SP accounts: {', '.join(sorted(config.accounts))}")
    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with LiveSummary(server.log, sys.stderr, interval=args.interval,
                           enabled=not args.quiet):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.duration)
        await server.stop()
    _finish(args, (server.log, "ISMG server"))
    return 0


async def _client(args: argparse.Namespace) -> int:
    config = _sp_config(args, _behaviour(args, (8,)))
    try:
        host, port = parse_hostport(args.connect, listening=False)
    except ValueError as exc:
        raise UsageError(f"--connect: {exc}") from None
    client = SpClient(config, max_events=_CLI_EVENTS)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with LiveSummary(client.log, sys.stderr, interval=args.interval,
                           enabled=not args.quiet):
        log = await client.run(host, port, stop=stop)
    _finish(args, (client.log, "SP client"))
    if not log.logged_in:
        _say(f"login failed: {log.close_reason}")
        return 1
    return 0


async def _demo(args: argparse.Namespace) -> int:
    server_config = _ismg_config(args, _behaviour(args, (8, 7, 5)))
    server_config = replace(server_config, mo_rate=args.mo_rate or 2.0,
                            report_delay=min(args.report_delay, 0.3))
    sp_id, secret = next(iter(server_config.accounts.items()))
    sp_config = SpConfig(
        sp_id=sp_id, secret=secret, version=args.version,
        behaviour=Behaviour(heartbeat=1.0, timeout=max(1.0, args.slow_delay + 0.5),
                            retries=1),
        rate=args.rate, duration=args.duration, mix=_mix(args),
        query_interval=args.query_interval, cancel_ratio=args.cancel_ratio, linger=1.0,
        seed=None if args.seed is None else args.seed + 1)
    server = IsmgServer(server_config, max_events=_CLI_EVENTS)
    host, port = await server.start("127.0.0.1", 0)
    _say(f"demo: ISMG on {format_hostport(host, port)}, SP {sp_id} sending for {args.duration:g} s")
    stop = asyncio.Event()
    _stop_on_signals(stop)
    client = SpClient(sp_config, max_events=_CLI_EVENTS)
    async with LiveSummary(client.log, sys.stderr, interval=args.interval,
                           enabled=not args.quiet):
        try:
            log = await client.run(host, port, stop=stop)
        finally:
            await server.stop()
    _finish(args, (client.log, "SP client"), (server.log, "ISMG server"))
    return 0 if log.logged_in else 1


_COMMANDS = {"server": _server, "client": _client, "demo": _demo}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; ``argv`` excludes the program name (``["server", "--listen", ...]``)."""
    try:
        args = _parser().parse_args(argv)
        return asyncio.run(_COMMANDS[args.command](args))
    except UsageError as exc:
        _say(str(exc))
        return 2
    except SimError as exc:
        _say(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
