"""A real terminal for tests: tmux runs a command as a user would, and the test reads the
screen back with ``capture-pane`` and types with ``send-keys``."""

from __future__ import annotations

import shlex
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Terminal:
    """One tmux server of its own, running one shell command in a 120x40 terminal.

    Each terminal has its own server (``-L``): on a shared default server, one test's
    ``kill-session`` of the last session stops the server while another test (pytest-xdist
    runs two at once) is attaching to it, and that test's ``new-session`` fails with "server
    exited unexpectedly" (it did, once, in CI).
    """

    def __init__(self, command: str) -> None:
        self.name = f"cmpp-{uuid.uuid4().hex[:8]}"
        self._tmux(["new-session", "-d", "-s", self.name, "-x", "120", "-y", "40",
                    f"cd {shlex.quote(str(ROOT))} && {command}; echo EXIT=$?; sleep 60"])

    def _tmux(self, args: list[str], check: bool = True) -> str:
        return subprocess.run(["tmux", "-L", self.name, "-f", "/dev/null", *args],
                              capture_output=True, text=True, check=check, timeout=30).stdout

    def screen(self) -> str:
        return self._tmux(["capture-pane", "-p", "-t", self.name])

    def keys(self, *keys: str) -> None:
        self._tmux(["send-keys", "-t", self.name, *keys])

    def wait_for(self, test: Callable[[str], bool], timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if test(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed it:\n{screen}")
            time.sleep(0.1)

    def resize(self, width: int, height: int) -> None:
        self._tmux(["resize-window", "-t", self.name, "-x", str(width), "-y", str(height)])

    def close(self) -> None:
        self._tmux(["kill-server"], check=False)
