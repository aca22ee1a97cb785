"""The one exception the simulator raises to its callers."""

from __future__ import annotations


class SimError(Exception):
    """A failure the user can act on (port in use, connection refused): one line, no trace."""
