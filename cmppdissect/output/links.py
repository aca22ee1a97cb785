"""Link lifecycle: logins, heartbeats, idle gaps, who closed and how, reconnects (issue 16,
part 5).

Per session: the login's result and reason (and, with ``--secret``, which form of
AuthenticatorSource and of AuthenticatorISMG matched), the heartbeats (already in each
session's ``heartbeats``), idle gaps longer than a heartbeat interval and its answer (C + T),
the first TERMINATE and its side, and how the TCP connection ended and which side ended it
(its RST, or its FIN first). Per SP: sessions, logins by result, CONNECTs, the most within a
minute, and reconnect storms (``STORM_CONNECTS`` CONNECTs within a minute: one is a finding).
"""

from __future__ import annotations

from typing import Any

from cmppdissect.core._engine import STORM_CONNECTS
from cmppdissect.engine import Engine
from cmppdissect.output.reconcile import sp_name

__all__ = ["lifecycle_dict", "links"]

_SIDE = (None, "client", "server")


def lifecycle_dict(engine: Engine, session: dict[str, Any]) -> dict[str, Any]:
    """A session's ``lifecycle`` (of the core's ``session()`` dict)."""
    life = session["lifecycle"]
    names = engine.sessions.get(session["id"])
    return {
        "auth_source": names.auth_source if names is not None else None,
        "auth_ismg": names.auth_ismg if names is not None else None,
        "idle_gaps": life["idle_gaps"],
        "max_idle_s": life["max_idle_ns"] / 1e9,
        "max_idle_frame": life["max_idle_frame"] or None,
        "terminated_by": _SIDE[life["terminate_by"]],
        "terminate_frame": life["terminate_frame"] or None,
        "closed": session["ended"],
        "closed_by": _SIDE[life["closed_by"]],
    }


def _sp_entry(per_sp: dict[str, dict[str, Any]], sp: str,
              connects: tuple[int, int, int]) -> dict[str, Any]:
    """The SP's entry, made with its (CONNECTs, most in a minute, storms) the first time."""
    if sp not in per_sp:
        per_sp[sp] = {"sessions": 0, "logins": {}, "connects": connects[0],
                      "max_connects_per_minute": connects[1], "storms": connects[2],
                      "closed": {}, "idle_gaps": 0}
    return per_sp[sp]


def links(engine: Engine, sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's ``links`` section: per SP, its sessions and how they went."""
    logins = engine.core.links()
    per_sp: dict[str, dict[str, Any]] = {}
    for raw in logins:
        _sp_entry(per_sp, sp_name(raw), logins[raw])
    for s in sessions:
        entry = _sp_entry(per_sp, s["sp_id"] or sp_name(b""), (0, 0, 0))
        entry["sessions"] += 1
        login = s["login"] or "not seen"
        entry["logins"][login] = entry["logins"].get(login, 0) + 1
        life = s["lifecycle"]
        how = life["closed"] or "open"
        who = life["terminated_by"] and f"TERMINATE by {life['terminated_by']}"
        key = f"{how} by {life['closed_by']}" if life["closed_by"] else how
        if who:
            key = f"{who}, {key}"
        entry["closed"][key] = entry["closed"].get(key, 0) + 1
        entry["idle_gaps"] += life["idle_gaps"]
    return {"storm_connects_per_minute": STORM_CONNECTS,
            "idle_after_s": engine.core.idle_ns / 1e9,
            "per_sp": dict(sorted(per_sp.items()))}
