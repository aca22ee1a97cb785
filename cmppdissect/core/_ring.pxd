from libc.stdint cimport int64_t, uint8_t


cdef class BlockWalk:
    cdef readonly int64_t frames
    cdef readonly int64_t captured    # bytes of packet data walked
    cdef readonly int64_t blocks
    cdef readonly int64_t damaged

    cdef bytes walk_c(self, const uint8_t* p, Py_ssize_t n)


cdef class RxRing:
    cdef uint8_t[::1] mem
    cdef readonly Py_ssize_t block_size
    cdef readonly Py_ssize_t block_count
    cdef Py_ssize_t current           # the next block to take
    cdef readonly BlockWalk walker
