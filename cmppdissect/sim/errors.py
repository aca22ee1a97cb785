"""The one exception the simulator raises to its callers."""

from __future__ import annotations

import os
import socket


class SimError(Exception):
    """A failure the user can act on (port in use, connection refused): one line, no trace."""


def os_reason(exc: OSError) -> str:
    """What went wrong, in the system's words: asyncio wraps a refused connection or a failed
    bind in its own text with the socket address as a tuple (``Connect call failed ('::1',
    1, 0, 0)``), which says less than the errno's own message and shows the address in a form
    that cannot be typed back. A resolver's error keeps its text (its codes are not errnos)."""
    if exc.errno and exc.errno > 0 and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)
