"""The store's one writer and its readers on other threads (the TUI's filters and searches).

A TUI filter on ``latency_ms`` takes a request whose pair is set as settled and reads its
latency next, while the indexer thread applies the links of a later batch: a link must write
the latency before the pair, or the filter sees the request paired in 0 ms and drops it (the
flaky ``test_filters_searches_the_cursor_and_marks_across_releases`` was this).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cmppdissect.engine import ROW_DTYPE, Batch
from cmppdissect.protocol.commands import CommandId
from cmppdissect.store.records import RecordView
from cmppdissect.store.store import NO_PAIR, PduStore

_HEADER = 12


def _rows(first_row: int, commands: list[int]) -> Batch:
    rows = np.zeros(len(commands), ROW_DTYPE)
    rows["frame"] = np.arange(first_row + 1, first_row + 1 + len(commands))
    rows["ts"] = 1_000_000_000 + rows["frame"].astype(np.int64) * 1_000_000
    rows["command_id"] = commands
    rows["sequence_id"] = 7
    rows["length"] = _HEADER
    rows["pair"] = NO_PAIR
    rows["version"] = 30
    raw = b"".join(len_cmd_seq(c) for c in commands)
    return Batch(first_row=first_row, rows=rows, raw=raw)


def len_cmd_seq(command: int) -> bytes:
    return _HEADER.to_bytes(4, "big") + command.to_bytes(4, "big") + (7).to_bytes(4, "big")


class Traced(np.ndarray):
    """A column that notes, in a shared list, each write to it."""

    log: list[str]
    label: str

    def __setitem__(self, key: Any, value: Any) -> None:
        self.log.append(self.label)
        super().__setitem__(key, value)


def test_a_link_writes_the_latency_before_the_pair() -> None:
    store = PduStore()
    store.append(_rows(0, [int(CommandId.CMPP_SUBMIT)]))
    assert store.settled == 0  # the request waits for its response
    log: list[str] = []
    for name in ("pair", "latency_ns"):
        traced = getattr(store, name).view(Traced)
        traced.log, traced.label = log, name
        setattr(store, name, traced)
    links = np.array([[0, 1, 25_000_000]], np.int64)  # answered in 25 ms, by row 1
    batch = _rows(1, [int(CommandId.CMPP_SUBMIT_RESP)])
    batch.rows["pair"], batch.rows["latency"] = 0, 25_000_000  # the response's own link
    batch.links = links
    store.append(batch)
    # The link's two writes: the latency first (the new row's columns come before both).
    assert log[-2:] == ["latency_ns", "pair"]
    assert store.settled == 2
    assert RecordView(store, 0)["latency_ms"] == 25.0
    assert RecordView(store, 1)["request_frame"] == 1
