"""Types of the compiled ``-T jsonl`` writer (``_jsonl.pyx``)."""

from collections.abc import Callable

from cmppdissect.store.records import RowSlice

COMMANDS: dict[int, bytes]

def emit(
    sl: RowSlice,
    text: Callable[[bytes, int, int, int | None, int | None], bytes | None],
    tail: Callable[[int, int, int, bytes | None, int, int], bytes | None],
    fallback: Callable[[int, int], bytes],
    limit: int | None = None,
) -> tuple[bytes, int]: ...
