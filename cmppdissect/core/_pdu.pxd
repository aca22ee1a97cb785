from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libcpp.vector cimport vector

# Field kinds, as protocol.layouts.Kind.
cdef enum:
    K_UINT = 0
    K_INT = 1
    K_STR = 2
    K_BIN = 3
    K_ARRAY = 4
    K_CONTENT = 5

# The fields the core reads by name (indices into LLayout.named).
cdef enum:
    N_MSG_ID = 0
    N_RESULT = 1            # the response's outcome: Result, Status or Success_Id
    N_REGISTERED_DELIVERY = 2
    N_DESTUSR_TL = 3
    N_DEST_TERMINAL_ID = 4  # the recipients array of SUBMIT (FWD: Dest_Id)
    N_MSG_FMT = 5
    N_TP_UDHI = 6
    N_MSG_LENGTH = 7
    N_MSG_CONTENT = 8
    N_PK_TOTAL = 9
    N_PK_NUMBER = 10
    N_SRC_ID = 11
    N_MSG_SRC = 12
    N_MSG_FWD_TYPE = 13
    N_SRC_TERMINAL_ID = 14
    N_DEST_ID = 15
    N_VERSION = 16
    N_NAMES = 17

# PDU versions as the core stores them (0: not known).
cdef enum:
    V_NONE = 0
    V_20 = 20
    V_30 = 30

# Flags of Light.flags: why a PDU needs Python's full decoder to be accounted exactly.
cdef enum:
    LF_INEXACT = 1          # the layout does not explain every byte (short, long, no tail)
    LF_MISMATCH = 2         # decoded with the other version's layout than the session's
    LF_AMBIGUOUS = 4        # fits both layouts and no version was known
    LF_REPORT_SIZE = 8      # a status report of a size no report layout has
    LF_MSG_LENGTH = 16      # Msg_Length over the limit of its Msg_Fmt
    LF_UDH = 32             # a UDH that does not parse cleanly (or disagrees with Pk_*)
    LF_TEXT = 64            # content that may not decode cleanly by its Msg_Fmt
    LF_LOGIN = 128          # CONNECT / CONNECT_RESP: logins and authenticators are Python's
    LF_STRAY = 256          # a recipient with bytes after its NUL (D21): maybe another number
    LF_MSGID_ORDER = 512    # a Msg_Id that reads right only byte-reversed (D22)

cdef struct LField:
    int kind
    int size
    int count_slot          # ARRAY: the count field's index; CONTENT: the length field's
    bint tail


cdef cppclass LLayout:
    vector[LField] fields
    int fixed               # body size when nothing varies, else -1
    int tail                # bytes of the optional trailing fields
    int rule                # Msg_Content may be a report: 0 never, 1 DELIVER rule, 2 FWD rule
    int named[17]           # N_* -> field index, -1 where the layout has no such field


# What the core knows about one PDU without decoding it in full.
cdef struct Light:
    uint32_t total
    uint32_t cmd
    uint32_t seq
    int version             # V_*: the layout the PDU was read with
    int flags               # LF_*
    bint exact
    int64_t result          # -1: the PDU has no outcome field (or it was cut off)
    bint has_msg_id
    uint64_t msg_id
    int registered_delivery  # -1: absent
    int64_t recipients      # recipients decoded (complete array elements)
    int msg_fmt             # -1: absent
    int tp_udhi             # -1: absent
    int version_byte        # CONNECT's Version byte, -1: absent
    bint has_content
    int64_t content_off     # offset in the PDU
    int64_t content_len     # bytes of Msg_Content present
    bint is_report
    uint64_t report_msg_id
    int stat_len
    uint8_t stat[7]
    bint has_concat         # the UDH has a concatenation IE (counters below)
    bint long_part          # a part of a concatenated message (UDH with valid counters)
    int concat_ref
    int concat_total
    int concat_part
    int64_t offsets[17]     # N_* -> offset in the PDU of the field, -1: absent or cut off
    int64_t sizes[17]       # N_* -> field size (arrays: element size)


cdef LLayout* new_layout(object layout) except NULL
cdef LLayout* layout_of(uint32_t cmd, int version) noexcept nogil
cdef int64_t measure(LLayout* lay, const uint8_t* body, int64_t n) noexcept nogil
cdef bint plausible_header(uint32_t total, uint32_t cmd) noexcept nogil
cdef bint plausible_pdu(const uint8_t* p, int64_t n) noexcept nogil
cdef int light_decode(const uint8_t* p, int64_t n, int hint, Light* out) noexcept nogil
cdef bint is_versioned(uint32_t cmd) noexcept nogil
cdef int version_of_byte(int value) noexcept nogil
cdef bint has_stray(const uint8_t* p, int size) noexcept nogil
cdef bint msgid_byte_order(uint64_t value) noexcept nogil
