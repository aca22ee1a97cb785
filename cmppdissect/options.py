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


def parse_hostport(text: str, *, default_host: str | None) -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT`` or ``:PORT`` (only where ``default_host`` is given);
    ``ValueError`` saying what is wrong."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"want HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if "[" in host or "]" in host:
        raise ValueError(f"want HOST:PORT or [IPv6]:PORT, got {text!r}")
    if not host:
        if default_host is None:
            raise ValueError(f"no host in {text!r}")
        host = default_host
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"bad port in {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} out of range")
    return host, port


def format_hostport(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets so that the port stays apart from it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
