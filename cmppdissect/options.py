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
