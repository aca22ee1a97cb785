"""Stage 3: CMPP framing with resynchronisation."""



from cmppdissect.core.records import FramerEvent, Skipped

WHY_MIDSTREAM: int
WHY_NO_HEADER: int
WHY_GAP_RESYNC: int
WHY_GAP_PARTIAL: int
WHY_STREAM_END: int

def reason_text(why: int, a: int = 0, b: int = 0,
                after: tuple[int, int, int] | None = None) -> str: ...

class PduSink:
    """Receives the framer's output (a C interface; no Python methods)."""

class PduFramer:
    @property
    def synced(self) -> bool: ...
    @property
    def buffered(self) -> int: ...
    @property
    def skipped_bytes(self) -> int: ...
    def __init__(self, *, synced: bool = True) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview, frame: int,
             ts_ns: int) -> list[FramerEvent]: ...
    def gap(self, missing: int, frame: int, ts_ns: int) -> list[Skipped]: ...
    def close(self, frame: int, ts_ns: int) -> list[Skipped]: ...
