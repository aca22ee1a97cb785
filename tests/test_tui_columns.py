"""Column fitting and sideways scrolling of the TUI's lists (pure layout logic, no app)."""

from __future__ import annotations

from cmppdissect.tui.columns import Column, fit, scroll_limit, scrolled

COLUMNS = [
    Column("no", "No.", 5, 0, frozen=True),
    Column("time", "Time", 10, 5),
    Column("cmd", "Command", 16, 1),
    Column("lat", "Latency", 7, 2),
    Column("result", "Result", 20, 2),
    Column("pair", "Pair", 6, 6),
    Column("info", "Info", 0, 0, fill=True),
    Column("len", "Len", 5, 7),
]


def keys(layout: list[tuple[Column, int]]) -> list[str]:
    return [c.key for c, _w in layout]


def test_fit_drops_the_highest_priority_number_first_and_keeps_what_it_is_told() -> None:
    assert keys(fit(COLUMNS, 70, min_fill=15)) == ["no", "cmd", "lat", "result", "info"]
    assert keys(fit(COLUMNS, 80, min_fill=15)) == ["no", "time", "cmd", "lat", "result",
                                                   "info"]
    # Kept whatever its priority: another column makes room for it.
    kept = keys(fit(COLUMNS, 70, min_fill=15, keep={"pair"}))
    assert kept == ["no", "cmd", "result", "pair", "info"]
    # The free-text column goes when its priority says so; what it left stays blank.
    server = [Column("id", "Id", 3, 0), Column("server", "Server", 0, 6, fill=True),
              Column("login", "Login", 25, 1)]
    assert keys(fit(server, 40, min_fill=17)) == ["id", "login"]
    assert keys(fit(server, 50, min_fill=17)) == ["id", "server", "login"]
    assert sum(w for _c, w in fit(COLUMNS, 200)) + len(COLUMNS) - 1 == 200


def test_scrolling_reaches_every_column_and_keeps_the_frozen_one() -> None:
    width = 60
    assert scrolled(COLUMNS, width, 0) == fit(COLUMNS, width)
    limit = scroll_limit(COLUMNS, width)
    assert limit > 0
    seen: set[str] = set()
    for offset in range(limit + 1):
        layout = keys(scrolled(COLUMNS, width, offset))
        assert layout[0] == "no"
        seen.update(layout)
        if offset:  # the edge is shown, and nothing left of it
            movable = [c.key for c in COLUMNS if not c.frozen]
            edge = movable[offset - 1]
            assert layout[1] == edge
            assert not set(layout) & set(movable[:offset - 1])
    assert seen == {c.key for c in COLUMNS}
    # At the limit everything from the edge on is shown: further would only hide more.
    last = keys(scrolled(COLUMNS, width, limit))
    movable = [c.key for c in COLUMNS if not c.frozen]
    assert last[1:] == movable[limit - 1:]


def test_nothing_to_scroll_when_everything_fits() -> None:
    assert scroll_limit(COLUMNS, 200) == 0
    assert keys(scrolled(COLUMNS, 200, 0)) == [c.key for c in COLUMNS]
