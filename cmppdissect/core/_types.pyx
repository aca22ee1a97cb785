"""Shared records and sink interfaces of the compiled stages (see ``_types.pxd``)."""

from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t


cdef class SegmentSink:
    cdef int segment(self, const Segment* seg) except -1:
        return 0


cdef class StreamSink:
    cdef int opened(self, int64_t conn, const Endpoint* client, const Endpoint* server,
                    int64_t frame, int64_t ts, bint saw_syn) except -1:
        return 0

    cdef int data(self, int64_t conn, bint from_client, const uint8_t* p, Py_ssize_t n,
                  int64_t frame, int64_t ts, int64_t offset) except -1:
        return 0

    cdef int gap(self, int64_t conn, bint from_client, int64_t missing, int64_t frame,
                 int64_t ts) except -1:
        return 0

    cdef int closed(self, int64_t conn, int how, int64_t frame, int64_t ts,
                    const ConnStats* stats) except -1:
        return 0

    cdef int capped(self, int what, int64_t frame) except -1:
        """A cap of the TCP stage dropped something (a ``Capped`` kind); ``frame`` 0: none."""
        return 0


cdef object endpoint_address(const Endpoint* ep):
    """The packed address bytes (4 or 16) of an endpoint."""
    return ep.addr[:4] if ep.family == 4 else ep.addr[:16]


cdef int64_t sat_add(int64_t a, int64_t b) noexcept nogil:
    """a + b, saturated to the int64 range (capture times may lie anywhere in it)."""
    if b > 0 and a > INT64_MAX - b:
        return INT64_MAX
    if b < 0 and a < INT64_MIN - b:
        return INT64_MIN
    return a + b


cdef int64_t sat_sub(int64_t a, int64_t b) noexcept nogil:
    """a - b, saturated: a latency between times years apart must not wrap around."""
    if b < 0 and a > INT64_MAX + b:
        return INT64_MAX
    if b > 0 and a < INT64_MIN + b:
        return INT64_MIN
    return a - b
