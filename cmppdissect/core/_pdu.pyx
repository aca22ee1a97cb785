"""Stage 4 of the core: the light fields of a PDU, read without decoding it in full.

The statistics need a handful of fields per PDU (the header, Result/Status, Msg_Id,
Registered_Delivery, the recipient count, the status report's Msg_Id and Stat, a long
message's UDH counters) and one fact: whether Python's full decoder would find anything wrong
with it. Both come from here, at C speed, for every PDU of both versions.

The layouts are not restated: at import, every layout of :mod:`cmppdissect.protocol.layouts`
is loaded into C tables (field kinds, sizes, which field holds a count or a length), and the
offsets of fields follow from them exactly as the full decoder's plans walk them
(:func:`cmppdissect.protocol.decode.run_plan`), short bodies included. The version of a PDU is
chosen by the same rules as :func:`cmppdissect.protocol.decode.choose_layout`.
``tests/test_core_light.py`` proves both agree with the full decoder on every PDU type, both
versions, and on damaged bodies.

"Clean" is conservative: a PDU gets a flag (``LF_*``) whenever the full decoder *might* report
a finding of severity warn or worse, and the engine then decodes it in Python. Content is
vouched for only where that is cheap and exact: ASCII without high bytes, UCS2 with paired
surrogates, GB18030 made of ASCII and two-byte characters (every two-byte form decodes, which
the tests check exhaustively), binary; anything else goes to Python.

Every read is bounds-checked against the PDU's length first: the lengths come from the wire.
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from libcpp.vector cimport vector

from cmppdissect.protocol.commands import HEADER_LEN, KNOWN_COMMANDS, MAX_PDU_LEN as _MAX_PDU_LEN
from cmppdissect.protocol.layouts import (
    CONTENT_LIMIT,
    CONTENT_LIMIT_DEFAULT,
    LAYOUTS,
    MO_REPORT,
    RESULT_FIELDS,
    VERSIONED_COMMANDS,
    Kind,
)
from cmppdissect.protocol.msgid import MSG_ID_LAYOUT, PLAUSIBLE, TIME_PARTS
from cmppdissect.protocol.version import Version

cdef enum:
    TABLE_SIZE = 64
    CMD_CONNECT = 0x00000001

cdef uint32_t RESPONSE_BIT = 0x80000000
cdef uint32_t CMD_CONNECT_RESP = 0x80000001

NAMED_FIELDS = ("Msg_Id", None, "Registered_Delivery", "DestUsr_tl", None, "Msg_Fmt", "TP_udhi",
                "Msg_Length", "Msg_Content", "Pk_total", "Pk_number", "Src_Id", "Msg_src",
                "Msg_Fwd_Type", "Src_terminal_Id", "Dest_Id", "Version")

cdef LLayout* TABLE[TABLE_SIZE][2]
cdef bint VERSIONED[TABLE_SIZE]
cdef vector[uint32_t] EXACT[TABLE_SIZE]
cdef uint32_t LEAST[TABLE_SIZE]
cdef bint KNOWN[TABLE_SIZE]
cdef uint32_t MAX_PDU_LEN = _MAX_PDU_LEN
cdef int CONTENT_LIMITS[256]
# The Msg_Id parts the byte-order test reads (protocol.msgid's layout and ranges): the time
# parts first, then the gateway.
cdef int MSGID_PARTS = 0
cdef int MSGID_TIME_PARTS = 0
cdef int MSGID_SHIFT[8]
cdef uint64_t MSGID_MASK[8]
cdef uint64_t MSGID_LOW[8]
cdef uint64_t MSGID_HIGH[8]
cdef int64_t MO_REPORT_SIZE = MO_REPORT.fixed_size


cdef inline int cmd_index(uint32_t cmd) noexcept nogil:
    """Table slot of a Command_Id, -1 for one outside every table."""
    if (cmd & ~RESPONSE_BIT) >= 32:
        return -1
    return <int>(cmd & 0x1F) | (32 if cmd & RESPONSE_BIT else 0)


cdef inline uint32_t be32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint64_t be_uint(const uint8_t* p, int size) noexcept nogil:
    cdef uint64_t v = 0
    for i in range(size):
        v = (v << 8) | p[i]
    return v


cdef LLayout* new_layout(object layout) except NULL:
    """One layout of :mod:`cmppdissect.protocol.layouts` as the C tables hold it (the core's
    stages read these, and so does the compiled ``-T jsonl`` writer)."""
    kinds = {Kind.UINT: K_UINT, Kind.INT: K_INT, Kind.STR: K_STR, Kind.BIN: K_BIN,
             Kind.STR_ARRAY: K_ARRAY, Kind.CONTENT: K_CONTENT}
    cdef LLayout* lay = new LLayout()
    cdef LField f
    names = [fd.name for fd in layout.fields]
    for fd in layout.fields:
        f.kind = kinds[fd.kind]
        f.size = fd.size
        f.tail = fd.tail
        ref = fd.count_from or fd.length_from
        f.count_slot = names.index(ref) if ref else -1
        lay.fields.push_back(f)
    fixed = layout.fixed_size
    lay.fixed = -1 if fixed is None else fixed
    lay.tail = layout.tail_size
    lay.rule = {None: 0, "deliver": 1, "fwd": 2}[layout.content_rule]
    for i in range(N_NAMES):
        lay.named[i] = -1
    for i, name in enumerate(NAMED_FIELDS):
        if name is not None and name in names:
            lay.named[i] = names.index(name)
    for name in RESULT_FIELDS:
        if name in names:
            lay.named[N_RESULT] = names.index(name)
            break
    for i, fd in enumerate(layout.fields):
        if fd.kind is Kind.STR_ARRAY:
            lay.named[N_DEST_TERMINAL_ID] = i
    return lay


def _load():
    """Fill the C tables from protocol.layouts (run once, at import)."""
    loaded = {}
    cdef LLayout* lay
    cdef int idx
    for (cmd, version), layout in LAYOUTS.items():
        idx = cmd_index(cmd)
        if idx < 0:
            raise RuntimeError(f"Command_Id 0x{cmd:08X} does not fit the core's tables")
        if id(layout) in loaded:
            lay = <LLayout*><size_t>loaded[id(layout)]
        else:
            lay = new_layout(layout)
            loaded[id(layout)] = <size_t>lay
        TABLE[idx][0 if version is Version.V2_0 else 1] = lay
        KNOWN[idx] = True
        VERSIONED[idx] = cmd in VERSIONED_COMMANDS
    # Plausible totals: the exact totals of fixed
    # layouts (with and without their optional tail), else the least total of variable ones.
    for cmd in KNOWN_COMMANDS:
        idx = cmd_index(cmd)
        exact = set()
        least = _MAX_PDU_LEN
        for version in Version:
            layout = LAYOUTS[(cmd, version)]
            fixed = layout.fixed_size
            if fixed is not None:
                exact |= {HEADER_LEN + fixed, HEADER_LEN + fixed - layout.tail_size}
            else:
                # No recipients is illegal but still a PDU to show (DestUsr_tl 0): the least
                # total counts no array element and no optional tail.
                minimum = sum(fd.size for fd in layout.fields
                              if fd.kind is not Kind.STR_ARRAY) - layout.tail_size
                least = min(least, HEADER_LEN + minimum)
        EXACT[idx].clear()
        for total in sorted(exact):
            EXACT[idx].push_back(total)
        LEAST[idx] = least
    for fmt in range(256):
        CONTENT_LIMITS[fmt] = CONTENT_LIMIT.get(fmt, CONTENT_LIMIT_DEFAULT)
    global MSGID_PARTS, MSGID_TIME_PARTS
    shifts = {name: (shift, width) for name, shift, width in MSG_ID_LAYOUT}
    order = [*TIME_PARTS, "gateway"]
    for i, name in enumerate(order):
        MSGID_SHIFT[i] = shifts[name][0]
        MSGID_MASK[i] = (1 << shifts[name][1]) - 1
        MSGID_LOW[i], MSGID_HIGH[i] = PLAUSIBLE[name]
    MSGID_TIME_PARTS = len(TIME_PARTS)
    MSGID_PARTS = len(order)


_load()


cdef extern from *:
    uint64_t bswap64 "__builtin_bswap64"(uint64_t) noexcept nogil


cdef bint msgid_byte_order(uint64_t value) noexcept nogil:
    """Whether a Msg_Id reads right only byte-reversed (reference D22): the test of
    :func:`cmppdissect.protocol.msgid.byte_reversed`, proven equal by the tests."""
    cdef int i
    cdef uint64_t part
    cdef bint impossible = False
    for i in range(MSGID_TIME_PARTS):
        part = (value >> MSGID_SHIFT[i]) & MSGID_MASK[i]
        if part < MSGID_LOW[i] or part > MSGID_HIGH[i]:
            impossible = True
            break
    if not impossible:
        return False
    value = bswap64(value)
    for i in range(MSGID_PARTS):
        part = (value >> MSGID_SHIFT[i]) & MSGID_MASK[i]
        if part < MSGID_LOW[i] or part > MSGID_HIGH[i]:
            return False
    return ((value >> MSGID_SHIFT[MSGID_TIME_PARTS]) & MSGID_MASK[MSGID_TIME_PARTS]) != 0


def msgid_byte_order_py(uint64_t value):
    """The compiled byte-order test, for the tests that prove it equal to Python's."""
    return msgid_byte_order(value)


def plausible_header_py(uint32_t total, uint32_t cmd):
    """Could a PDU with this Total_Length and Command_Id exist? (the framer's resync test)"""
    return plausible_header(total, cmd)


def plausible_pdu_py(bytes pdu):
    """A complete candidate PDU whose body one of its layouts explains byte for byte."""
    return plausible_pdu(pdu, len(pdu))


cdef LLayout* layout_of(uint32_t cmd, int version) noexcept nogil:
    cdef int idx = cmd_index(cmd)
    if idx < 0 or not KNOWN[idx]:
        return NULL
    return TABLE[idx][1 if version == V_30 else 0]


cdef bint is_versioned(uint32_t cmd) noexcept nogil:
    cdef int idx = cmd_index(cmd)
    return idx >= 0 and VERSIONED[idx]


cdef int version_of_byte(int value) noexcept nogil:
    """0x2x: 2.0/2.1; 0x3x: 3.0; anything else (0x00, 0x01, 0x7F...) says nothing (D7)."""
    if value >> 4 == 2:
        return V_20
    if value >> 4 == 3:
        return V_30
    return V_NONE


cdef bint plausible_header(uint32_t total, uint32_t cmd) noexcept nogil:
    cdef int idx = cmd_index(cmd)
    if idx < 0 or not KNOWN[idx] or total > MAX_PDU_LEN:
        return False
    if EXACT[idx].size():
        for t in EXACT[idx]:
            if t == total:
                return True
        return False
    return total >= LEAST[idx]


cdef bint plausible_pdu(const uint8_t* p, int64_t n) noexcept nogil:
    if n < 8:
        return False
    cdef uint32_t total = be32(p), cmd = be32(p + 4)
    if not plausible_header(total, cmd) or total > n or total < 12:
        return False
    cdef LLayout* lay = layout_of(cmd, V_20)
    if not is_versioned(cmd) or lay.fixed >= 0:
        return True
    cdef int64_t body = total - 12, need
    cdef int k
    for k in range(2):
        lay = layout_of(cmd, V_20 if k == 0 else V_30)
        need = measure(lay, p + 12, body)
        if need >= 0 and (body == need or body == need - lay.tail):
            return True
    return False


cdef int64_t measure(LLayout* lay, const uint8_t* body, int64_t n) noexcept nogil:
    """Body size the layout implies for these bytes; -1 when a count or length is cut off."""
    if lay.fixed >= 0:
        return lay.fixed
    cdef int64_t off = 0
    cdef int64_t field_off[64]
    cdef Py_ssize_t i, count = lay.fields.size()
    cdef LField* f
    if count > 64:
        return -1
    for i in range(count):
        f = &lay.fields[i]
        field_off[i] = off
        if f.kind == K_ARRAY:
            if field_off[f.count_slot] >= n:
                return -1
            off += <int64_t>f.size * body[field_off[f.count_slot]]
        elif f.kind == K_CONTENT:
            if field_off[f.count_slot] >= n:
                return -1
            off += body[field_off[f.count_slot]]
        else:
            off += f.size
    return off


cdef int _locate(LLayout* lay, const uint8_t* body, int64_t n, int64_t* offs,
                 int64_t* items, int64_t* content_len, int64_t* end) noexcept nogil:
    """Where each field starts, as far as the body goes (the full decoder's run_plan).

    ``offs[i]`` is -1 for a field the body ends before or inside; ``items`` the complete
    elements of the (one) array; ``content_len`` the bytes of Msg_Content present. Returns the
    index of the field the body ended in, or -1 when every field was there; ``end`` is where
    decoding stopped.
    """
    cdef int64_t off = 0, length, k
    cdef Py_ssize_t i, count = lay.fields.size()
    cdef LField* f
    for i in range(count):
        offs[i] = -1
    items[0] = 0
    content_len[0] = 0
    for i in range(count):
        f = &lay.fields[i]
        if f.kind == K_ARRAY:
            length = body[offs[f.count_slot]]  # the count precedes the array, so it was read
            offs[i] = off
            for k in range(length):
                if off + f.size > n:
                    items[0] = k
                    end[0] = off
                    return i
                off += f.size
            items[0] = length
        elif f.kind == K_CONTENT:
            length = body[offs[f.count_slot]]
            offs[i] = off
            if off + length > n:
                content_len[0] = n - off
                end[0] = n
                return i
            content_len[0] = length
            off += length
        else:
            if off + f.size > n:
                end[0] = off
                return i
            offs[i] = off
            off += f.size
    end[0] = off
    return -1


cdef int choose_version(uint32_t cmd, const uint8_t* body, int64_t n, int hint,
                        int* flags) noexcept nogil:
    """The version whose layout explains the body, preferring ``hint`` (decode.choose_layout)."""
    if not is_versioned(cmd):
        return hint
    cdef LLayout* lay
    if hint != V_NONE and measure(layout_of(cmd, hint), body, n) == n:
        return hint
    cdef int first = hint if hint != V_NONE else V_20
    cdef int second = (V_30 if hint == V_20 else V_20) if hint != V_NONE else V_30
    cdef int64_t need1 = measure(layout_of(cmd, first), body, n)
    cdef int64_t need2 = measure(layout_of(cmd, second), body, n)
    cdef int chosen
    cdef int64_t d1, d2
    if need1 == n or need2 == n:
        chosen = first if need1 == n else second
        if need1 == n and need2 == n and hint == V_NONE:
            flags[0] |= LF_AMBIGUOUS
    elif need1 >= 0 and need1 - layout_of(cmd, first).tail == n:
        chosen = first
    elif need2 >= 0 and need2 - layout_of(cmd, second).tail == n:
        chosen = second
    elif hint != V_NONE:
        chosen = hint
    elif need1 < 0 and need2 < 0:
        chosen = V_20
    else:
        # The nearest size wins; a tie goes to 2.0 ("2.0" < "3.0").
        d1 = need1 - n if need1 >= n else n - need1
        d2 = need2 - n if need2 >= n else n - need2
        if need1 < 0:
            chosen = second
        elif need2 < 0:
            chosen = first
        elif d1 < d2 or (d1 == d2 and first == V_20):
            chosen = first
        else:
            chosen = second
    if hint != V_NONE and chosen != hint:
        flags[0] |= LF_MISMATCH
    return chosen


cdef bint _ascii(const uint8_t* p, int64_t n) noexcept nogil:
    for i in range(n):
        if p[i] >= 0x80:
            return False
    return True


cdef bint _ucs2(const uint8_t* p, int64_t n) noexcept nogil:
    """Strict UTF-16BE: an even length, and every surrogate in a high-low pair."""
    cdef uint16_t u
    cdef int64_t i = 0
    if n % 2:
        return False
    while i < n:
        u = (p[i] << 8) | p[i + 1]
        if 0xD800 <= u <= 0xDBFF:
            if i + 3 >= n:
                return False
            u = (p[i + 2] << 8) | p[i + 3]
            if not 0xDC00 <= u <= 0xDFFF:
                return False
            i += 4
        elif 0xDC00 <= u <= 0xDFFF:
            return False
        else:
            i += 2
    return True


cdef bint _gb18030(const uint8_t* p, int64_t n) noexcept nogil:
    """ASCII and two-byte GB18030 characters only (four-byte forms are left to Python)."""
    cdef int64_t i = 0
    cdef uint8_t b, t
    while i < n:
        b = p[i]
        if b < 0x80:
            i += 1
        elif 0x81 <= b <= 0xFE and i + 1 < n:
            t = p[i + 1]
            if (0x40 <= t <= 0x7E) or (0x80 <= t <= 0xFE):
                i += 2
            else:
                return False
        else:
            return False
    return True


cdef bint _udh(const uint8_t* c, int64_t n, Light* out, int64_t* payload) noexcept nogil:
    """Parse a UDH as content.parse_udh does: its concatenation counters (last IE wins) and
    whether it is free of findings. ``payload`` is where the text after it starts."""
    cdef int64_t end, pos = 1, iedl_at
    cdef int iei, iedl, expected
    cdef bint ok = True
    if n == 0:
        payload[0] = 0
        return False  # TP_udhi set but no content at all
    end = 1 + c[0]
    if end > n:
        ok = False
        end = n
    while pos < end:
        iei = c[pos]
        iedl = c[pos + 1] if pos + 1 < end else 0
        if pos + 2 + iedl > end:
            ok = False
            break
        expected = (3 if iei == 0x00 else 2 if iei == 0x04 else 4 if iei == 0x05 or iei == 0x08
                    else -1)
        if expected >= 0 and expected != iedl:
            ok = False
        elif iei == 0x00:
            out.has_concat = True
            out.concat_ref = c[pos + 2]
            out.concat_total = c[pos + 3]
            out.concat_part = c[pos + 4]
        elif iei == 0x08:
            out.has_concat = True
            out.concat_ref = (c[pos + 2] << 8) | c[pos + 3]
            out.concat_total = c[pos + 4]
            out.concat_part = c[pos + 5]
        pos += 2 + iedl
    payload[0] = end
    if out.has_concat:
        if not 1 <= out.concat_part <= out.concat_total:
            ok = False
        else:
            out.long_part = out.concat_total >= 2
    return ok


cdef int light_decode(const uint8_t* p, int64_t n, int hint, Light* out) noexcept nogil:
    """Fill ``out`` for the PDU at p[:n] (a whole PDU as the framer cut it, n >= 12).

    ``hint`` is the session's version. Returns 0; a PDU whose Command_Id no table knows gets
    ``LF_INEXACT`` and no fields (the framer never passes one on).
    """
    memset(out, 0, sizeof(Light))
    cdef int i
    for i in range(N_NAMES):
        out.offsets[i] = -1
    out.result = -1
    out.registered_delivery = -1
    out.msg_fmt = -1
    out.tp_udhi = -1
    out.version_byte = -1
    out.total = be32(p)
    out.cmd = be32(p + 4)
    out.seq = be32(p + 8)
    cdef uint32_t cmd = out.cmd
    if out.total < 12 or out.total > n or layout_of(cmd, V_20) == NULL:
        out.flags = LF_INEXACT
        return 0
    cdef const uint8_t* body = p + 12
    cdef int64_t blen = out.total - 12
    if cmd == CMD_CONNECT and blen > 22:
        # The Version byte outranks the session for the CONNECT that carries it.
        if version_of_byte(body[22]) != V_NONE:
            hint = version_of_byte(body[22])
    if cmd == CMD_CONNECT or cmd == CMD_CONNECT_RESP:
        out.flags |= LF_LOGIN
    cdef int version = choose_version(cmd, body, blen, hint, &out.flags)
    out.version = version
    cdef LLayout* lay = layout_of(cmd, version)
    cdef int64_t offs[64]
    cdef int64_t items, content_len, end
    if lay.fields.size() > 64:
        out.flags |= LF_INEXACT
        return 0
    cdef int stopped = _locate(lay, body, blen, offs, &items, &content_len, &end)
    out.exact = stopped < 0 and end == blen
    if not out.exact:
        out.flags |= LF_INEXACT
    cdef int fi
    for i in range(N_NAMES):
        fi = lay.named[i]
        if fi >= 0 and offs[fi] >= 0:
            out.offsets[i] = 12 + offs[fi]
            out.sizes[i] = lay.fields[fi].size
    # Integers the accounting reads (each only if the body reached it).
    if out.offsets[N_MSG_ID] >= 0:
        out.has_msg_id = True
        out.msg_id = be_uint(p + out.offsets[N_MSG_ID], 8)
        if msgid_byte_order(out.msg_id):
            out.flags |= LF_MSGID_ORDER
    if out.offsets[N_RESULT] >= 0:
        out.result = <int64_t>be_uint(p + out.offsets[N_RESULT], out.sizes[N_RESULT])
    if out.offsets[N_REGISTERED_DELIVERY] >= 0:
        out.registered_delivery = p[out.offsets[N_REGISTERED_DELIVERY]]
    if out.offsets[N_MSG_FMT] >= 0:
        out.msg_fmt = p[out.offsets[N_MSG_FMT]]
    if out.offsets[N_TP_UDHI] >= 0:
        out.tp_udhi = p[out.offsets[N_TP_UDHI]]
    if out.offsets[N_VERSION] >= 0:
        out.version_byte = p[out.offsets[N_VERSION]]
    if out.offsets[N_DEST_TERMINAL_ID] >= 0:
        out.recipients = items
        fi = lay.named[N_DEST_TERMINAL_ID]
        for i in range(items):
            if has_stray(body + offs[fi] + i * lay.fields[fi].size, lay.fields[fi].size):
                out.flags |= LF_STRAY  # the decoder warns: bytes after a recipient's NUL
                break
    if out.offsets[N_MSG_CONTENT] < 0:
        return 0
    out.has_content = True
    out.content_off = out.offsets[N_MSG_CONTENT]
    out.content_len = content_len
    cdef const uint8_t* content = p + out.content_off
    # A status report, chosen by its size (D3) where the header says one is there.
    cdef int kind
    if lay.rule == 1 and out.registered_delivery == 1:
        if content_len == 60 or content_len == 71:
            out.is_report = True
        else:
            out.flags |= LF_REPORT_SIZE
        return _report(content, out)
    if lay.rule == 2 and out.offsets[N_MSG_FWD_TYPE] >= 0:
        kind = p[out.offsets[N_MSG_FWD_TYPE]]
        if kind == 2 or kind == 3:
            if (kind == 2 and (content_len == 60 or content_len == 71)) or (
                    kind == 3 and content_len == MO_REPORT_SIZE):
                out.is_report = True
            else:
                out.flags |= LF_REPORT_SIZE
            return _report(content, out)
    # Text: the checks of decode._check_fields and content.decode_content that can warn.
    cdef int fmt = out.msg_fmt if out.msg_fmt >= 0 else 0
    cdef int64_t length = p[out.offsets[N_MSG_LENGTH]] if out.offsets[N_MSG_LENGTH] >= 0 else 0
    if length > CONTENT_LIMITS[fmt]:
        out.flags |= LF_MSG_LENGTH
    cdef int64_t start = 0
    cdef int udhi = out.tp_udhi if out.tp_udhi >= 0 else 0
    if udhi & 0x41:
        if not _udh(content, content_len, out, &start):
            out.flags |= LF_UDH
        if out.has_concat:
            if out.offsets[N_PK_TOTAL] >= 0 and p[out.offsets[N_PK_TOTAL]] != out.concat_total:
                out.flags |= LF_UDH
            if out.offsets[N_PK_NUMBER] >= 0 and p[out.offsets[N_PK_NUMBER]] != out.concat_part:
                out.flags |= LF_UDH
    cdef const uint8_t* payload = content + start
    cdef int64_t plen = content_len - start
    if fmt == 0:
        if not _ascii(payload, plen):
            out.flags |= LF_TEXT
    elif fmt == 8:
        if not _ucs2(payload, plen):
            out.flags |= LF_TEXT
    elif fmt == 15:
        if not _gb18030(payload, plen):
            out.flags |= LF_TEXT
    return 0


cdef bint has_stray(const uint8_t* p, int size) noexcept nogil:
    """Whether an Octet String holds bytes after its first NUL (the decoder's cut_at_nul)."""
    cdef int k = 0
    while k < size and p[k] != 0:
        k += 1
    while k < size:
        if p[k] != 0:
            return True
        k += 1
    return False


cdef int _report(const uint8_t* content, Light* out) noexcept nogil:
    """The report's Msg_Id and Stat (at the same offsets in all three report layouts)."""
    cdef int k
    if not out.is_report:
        return 0
    out.report_msg_id = be_uint(content, 8)
    if msgid_byte_order(out.report_msg_id):
        out.flags |= LF_MSGID_ORDER
    k = 0
    while k < 7 and content[8 + k] != 0:  # a string ends at its first NUL (D21)
        k += 1
    out.stat_len = k
    memcpy(out.stat, content + 8, 7)
    return 0


def light(bytes pdu, version=None):
    """The light fields of one PDU as a dict: the tests prove them equal to the full decoder's
    fields, and the statistics of a scope (output/scoped.py) count Results and report Stats
    with them, as the core counted the whole capture. ``version`` is the session's: None,
    "2.0" or "3.0" (a Version works too)."""
    cdef Light lt
    cdef int hint = V_NONE if version is None else (V_20 if str(version) == "2.0" else V_30)
    if len(pdu) < 12:
        raise ValueError("a PDU has at least 12 bytes")
    light_decode(pdu, len(pdu), hint, &lt)
    names = ("Msg_Id", "Result", "Registered_Delivery", "DestUsr_tl", "Dest_terminal_Id",
             "Msg_Fmt", "TP_udhi", "Msg_Length", "Msg_Content", "Pk_total", "Pk_number",
             "Src_Id", "Msg_src", "Msg_Fwd_Type", "Src_terminal_Id", "Dest_Id", "Version")
    return {
        "total": lt.total, "command_id": lt.cmd, "sequence_id": lt.seq,
        "version": {V_NONE: None, V_20: "2.0", V_30: "3.0"}[lt.version],
        "flags": lt.flags, "exact": lt.exact,
        "result": None if lt.result < 0 else lt.result,
        "msg_id": lt.msg_id if lt.has_msg_id else None,
        "registered_delivery": None if lt.registered_delivery < 0 else lt.registered_delivery,
        "recipients": lt.recipients,
        "msg_fmt": None if lt.msg_fmt < 0 else lt.msg_fmt,
        "tp_udhi": None if lt.tp_udhi < 0 else lt.tp_udhi,
        "version_byte": None if lt.version_byte < 0 else lt.version_byte,
        "content": pdu[lt.content_off:lt.content_off + lt.content_len] if lt.has_content
        else None,
        "report": ({"Msg_Id": lt.report_msg_id, "Stat": (<char*>lt.stat)[:lt.stat_len]}
                   if lt.is_report else None),
        "concat": ((lt.concat_ref, lt.concat_total, lt.concat_part)
                   if lt.has_concat else None),
        "long_part": lt.long_part,
        "offsets": {name: (lt.offsets[i], lt.sizes[i]) for i, name in enumerate(names)
                    if lt.offsets[i] >= 0},
    }


LF_NAMES = {LF_INEXACT: "inexact", LF_MISMATCH: "mismatch", LF_AMBIGUOUS: "ambiguous",
            LF_REPORT_SIZE: "report-size", LF_MSG_LENGTH: "msg-length", LF_UDH: "udh",
            LF_TEXT: "text", LF_LOGIN: "login", LF_STRAY: "stray",
            LF_MSGID_ORDER: "msgid-order"}
