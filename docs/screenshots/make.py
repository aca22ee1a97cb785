"""Write the SVG screenshots of the TUI's main screens into this directory.

    python docs/screenshots/make.py [CAPTURE]

The app runs headless over ``samples/cmpp-basic.pcap`` (or CAPTURE) at 120x40, waits for the
indexer to finish, presses the keys a user would, and saves each screen with Textual's own
``save_screenshot``. Times are shown in UTC so the pictures do not depend on where they were
made.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

SHOTS: dict[str, tuple[str, ...]] = {
    "sessions": (),
    "pdus": ("enter", "down", "down"),
    "filter": ("2", "f", *'command == "SUBMIT" and latency_ms > 4', "enter"),
    "detail": ("2", "down", "down", "enter", *("down",) * 39),
    "ladder": ("l", "down", "down"),
    "stats": ("3",),
    "stats-time": ("3", "right_square_bracket", "right_square_bracket"),
    "help": ("question_mark",),
    "messages": ("4",),
}


async def shoot(capture: Path, name: str, keys: tuple[str, ...]) -> Path:
    from cmppdissect.tui.app import make_app
    from cmppdissect.tui.source import FileSource

    app = make_app(FileSource(str(capture)))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(1000):
            if app.model.progress.done:
                break
            await pilot.pause(0.02)
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.5)  # statistics and filters fill in from workers
        await pilot.pause()
        app.save_screenshot(f"{name}.svg", str(HERE))
    return HERE / f"{name}.svg"


async def shoot_diff(a: Path, b: Path) -> Path:
    """``cmppdissect diff A B`` on a terminal: the whole captures' comparison."""
    from cmppdissect.sources.file import FileSource
    from cmppdissect.tui.diffapp import DiffApp

    app = DiffApp([FileSource(str(a)), FileSource(str(b))],
                  (str(a.relative_to(ROOT)), str(b.relative_to(ROOT))))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(1000):
            if app.result is not None:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.3)
        app.save_screenshot("diff.svg", str(HERE))
    return HERE / "diff.svg"


def main() -> int:
    os.environ["TZ"] = "UTC"
    time.tzset()
    capture = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "samples" / "cmpp-basic.pcap"
    for name, keys in SHOTS.items():
        print(asyncio.run(shoot(capture, name, keys)))
    print(asyncio.run(shoot_diff(ROOT / "samples" / "cmpp-basic.pcap",
                                 ROOT / "samples" / "misbehaving-gateway.pcap")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
