"""Command-line values shared by ``cmppdissect`` and ``cmppdissect sim`` (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable


class UsageError(Exception):
    """A mistake on the command line or an input that cannot be opened: one line on stderr
    and exit status 2 (both commands), never a traceback."""


def parse_secrets(items: Iterable[str]) -> dict[str, str]:
    """``--secret SP_ID=SECRET`` options as a mapping; ValueError names the bad one.

    The secret may contain ``=`` (only the first one splits), and may be empty: some test
    gateways use no shared secret at all.
    """
    accounts: dict[str, str] = {}
    for item in items:
        sp_id, sep, secret = item.partition("=")
        if not sep or not sp_id:
            raise ValueError(f"--secret wants SP_ID=SECRET, got {item!r}")
        accounts[sp_id] = secret
    return accounts


def split_hostport(text: str) -> tuple[str, str]:
    """``HOST:PORT`` or ``[HOST]:PORT`` as (host, port text), brackets off: the one rule
    for where the host ends. A host with a colon must be in brackets (``::1:9464`` is itself
    an IPv6 address: which part is the port would be a guess), and brackets hold a host.
    ``ValueError`` saying what is wrong."""
    if text.startswith("["):
        host, close, rest = text[1:].partition("]")
        if not close or "[" in host:
            raise ValueError(f"want [IPv6]:PORT, got {text!r}")
        if not rest:
            raise ValueError(f"no port in {text!r}")
        if not rest.startswith(":"):
            raise ValueError(f"want [IPv6]:PORT, got {text!r}")
        if not host:
            raise ValueError(f"no address in the brackets of {text!r}")
        return host, rest[1:]
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"want HOST:PORT, got {text!r}")
    if ":" in host:
        raise ValueError(f"an IPv6 address goes in brackets ([::1]:PORT), got {text!r}")
    if "[" in host or "]" in host:
        raise ValueError(f"want HOST:PORT or [IPv6]:PORT, got {text!r}")
    return host, port_text


def parse_hostport(text: str, *, listening: bool) -> tuple[str, int]:
    """An address typed on the command line: ``HOST:PORT`` or ``[IPv6]:PORT``; to listen on,
    also ``:PORT`` (every IPv4 address, 0.0.0.0) and port 0 (any free port), which mean
    nothing to connect to. The port is decimal digits (``int`` would take ``+80``, `` 80``,
    ``8_0`` or other scripts' digits). ``ValueError`` saying what is wrong."""
    host, port_text = split_hostport(text)
    if not host:
        if not listening:
            raise ValueError(f"no host in {text!r}")
        host = "0.0.0.0"
    if not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"bad port {port_text!r} in {text!r}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} out of range")
    if port == 0 and not listening:
        raise ValueError(f"port 0 in {text!r}: give the port to connect to")
    return host, port


def format_hostport(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets so that the port stays apart from it (the
    text :func:`parse_hostport` takes back)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
