"""The one PDU store, and the records read from it (see :mod:`.store`)."""

from __future__ import annotations

from cmppdissect.store.records import LongSms, PduRecord, RecordColumns, RecordView, record_at
from cmppdissect.store.store import FROM_CLIENT, NO_PAIR, RESEND, UNANSWERED, PduStore

__all__ = ["FROM_CLIENT", "NO_PAIR", "RESEND", "UNANSWERED", "LongSms", "PduRecord", "PduStore",
           "RecordColumns", "RecordView", "record_at"]
