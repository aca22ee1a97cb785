"""``-T jsonl`` lines written in C for the PDUs whose record needs no rich decoding.

A record made in Python costs about twenty microseconds (the PDU decoded into objects, its
dict built, encoded), several times what tshark spends on a PDU. Most PDUs of a capture are
plain: their session's layout explains every byte, and nothing in them calls for a finding.
For those the line is written here straight from the bytes, field by field, in the exact
text :func:`cmppdissect.store.schema.record_dict` encoded by
:func:`cmppdissect.output.records.dumps_line` gives; ``tests/test_jsonl_compiled.py`` proves
the two byte-equal on every PDU type of both versions, the samples and hostile captures.

What is rich stays Python's, asked for through three callbacks: the text of Msg_Content
(``text``), the engine's findings and a completed long message (``tail``), and the whole
line of any PDU that is not plain (``fallback``). So the record schema, content decoding and
findings keep one source each; this module only knows how JSON spells a layout's fields.

The layouts are not restated: their kinds, sizes, counts and the fields read by name are the
core's own C tables of :mod:`cmppdissect.protocol.layouts` (``new_layout``), to which this
module adds only each field's JSON key, its NUL rule and whether JSON writes it as a string
(a 64-bit value: :func:`cmppdissect.store.schema.json_string` decides, for both writers); a
body's size is measured by the core's :func:`measure`. Every read is inside a body whose size
that measure has matched.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Contains
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memchr
from libcpp.string cimport string
from libcpp.unordered_map cimport unordered_map
from libcpp.vector cimport vector

from cmppdissect.core._pdu cimport (
    K_ARRAY,
    K_BIN,
    K_CONTENT,
    K_INT,
    K_STR,
    K_UINT,
    V_20,
    N_DESTUSR_TL,
    N_MSG_CONTENT,
    N_MSG_FMT,
    N_MSG_FWD_TYPE,
    N_MSG_ID,
    N_MSG_LENGTH,
    N_PK_NUMBER,
    N_PK_TOTAL,
    N_REGISTERED_DELIVERY,
    N_TP_UDHI,
    V_30,
    LField,
    LLayout,
    has_stray,
    layout_of,
    measure,
    msgid_byte_order,
    new_layout,
)

import orjson

from cmppdissect.protocol.commands import CommandId, command_name
from cmppdissect.protocol.layouts import (
    CONTENT_LIMIT,
    CONTENT_LIMIT_DEFAULT,
    LAYOUTS,
    MO_REPORT,
    REPORT_60,
    REPORT_71,
)
from cmppdissect.protocol.msgid import MSG_ID_LAYOUT
from cmppdissect.output.records import safe_json
from cmppdissect.protocol.version import Version
from cmppdissect.store.schema import json_string
from cmppdissect.store.store import FROM_CLIENT as _FROM_CLIENT

cdef extern from *:
    """
    #include <charconv>
    /* The shortest digits that read back as x, in fixed notation; -1 if they do not fit. */
    static inline int cmppdissect_shortest_fixed(double x, char* buf, int size) {
        std::to_chars_result r = std::to_chars(buf, buf + size, x, std::chars_format::fixed);
        return r.ec == std::errc() ? (int)(r.ptr - buf) : -1;
    }
    """
    int shortest_fixed "cmppdissect_shortest_fixed" (double x, char* buf, int size) noexcept nogil

cdef enum:
    RULE_DELIVER = 1    # LLayout.rule: Msg_Content may be a report (DELIVER's rule, FWD's)
    RULE_FWD = 2
    MAX_FIELDS = 64

cdef uint32_t RESPONSE_BIT = 0x80000000
cdef int64_t FROM_CLIENT = _FROM_CLIENT
cdef uint32_t CMD_CONNECT = int(CommandId.CMPP_CONNECT)
cdef uint32_t CMD_CONNECT_RESP = int(CommandId.CMPP_CONNECT_RESP)
cdef uint32_t CMD_SUBMIT = int(CommandId.CMPP_SUBMIT)


cdef struct EField:
    bint nul_expected   # a number whose senders NUL-terminate it: full means a finding
    bint quoted         # a 64-bit value: written as a decimal string, as the record schema's
    string key          # '"Name":'


cdef cppclass ELayout:
    LLayout* core       # kinds, sizes, counts, the fields the core reads by name (N_*)
    vector[EField] fields  # what JSON needs besides, field by field
    int stat            # in a report layout: index of Stat, else -1


cdef unordered_map[size_t, ELayout*] BY_CORE   # the core's LLayout* -> its ELayout
cdef ELayout* REPORT60
cdef ELayout* REPORT71
cdef ELayout* MOREPORT
cdef int64_t MO_REPORT_SIZE = MO_REPORT.fixed_size
cdef int CONTENT_LIMITS[256]
cdef vector[string] PART_KEYS
cdef vector[int] PART_SHIFTS
cdef vector[uint64_t] PART_MASKS
COMMANDS = {}  # Command_Id -> '"command":"NAME","command_id":N,'


cdef ELayout* _load_layout(layout, LLayout* core) except NULL:
    """A layout's JSON keys beside the core's own tables of it (``core``; made here for the
    report layouts, which the core reads by offset only)."""
    names = [fd.name for fd in layout.fields]
    if len(names) > MAX_FIELDS:
        raise RuntimeError(f"{layout.name} has more than {MAX_FIELDS} fields")
    cdef ELayout* lay = new ELayout()
    cdef EField f
    lay.core = core if core != NULL else new_layout(layout)
    for fd in layout.fields:
        f.nul_expected = fd.nul_expected
        f.quoted = json_string(fd)
        f.key = orjson.dumps(fd.name) + b":"
        lay.fields.push_back(f)
    lay.stat = names.index("Stat") if "Stat" in names else -1
    return lay


def _load():
    """Fill the tables from protocol.layouts (once, at import)."""
    global REPORT60, REPORT71, MOREPORT
    cdef LLayout* core
    loaded = {}
    for (cmd, version), layout in LAYOUTS.items():
        core = layout_of(cmd, V_20 if version is Version.V2_0 else V_30)
        if core == NULL:
            raise RuntimeError(f"the core has no layout for 0x{cmd:08X} {version}")
        if id(layout) not in loaded:
            loaded[id(layout)] = <size_t>_load_layout(layout, core)
        BY_CORE[<size_t>core] = <ELayout*><size_t>loaded[id(layout)]
        COMMANDS[cmd] = (b'"command":' + orjson.dumps(command_name(cmd))
                         + b',"command_id":' + str(cmd).encode() + b",")
    REPORT60 = _load_layout(REPORT_60, NULL)
    REPORT71 = _load_layout(REPORT_71, NULL)
    MOREPORT = _load_layout(MO_REPORT, NULL)
    for fmt in range(256):
        CONTENT_LIMITS[fmt] = CONTENT_LIMIT.get(fmt, CONTENT_LIMIT_DEFAULT)
    for name, shift, width in MSG_ID_LAYOUT:
        PART_KEYS.push_back(orjson.dumps(name) + b":")
        PART_SHIFTS.push_back(shift)
        PART_MASKS.push_back((1 << width) - 1)


_load()

cdef const char* HEX = b"0123456789abcdef"


cdef inline uint64_t be_uint(const uint8_t* p, int size) noexcept nogil:
    cdef uint64_t v = 0
    cdef int i
    for i in range(size):
        v = (v << 8) | p[i]
    return v


cdef inline void put_uint(string& out, uint64_t v) noexcept nogil:
    cdef char buf[24]
    cdef int i = 24
    while True:
        i -= 1
        buf[i] = <char>(48 + v % 10)
        v //= 10
        if v == 0:
            break
    out.append(&buf[i], 24 - i)


cdef inline void put_int(string& out, int64_t v) noexcept nogil:
    if v < 0:
        out.push_back(b'-')
        put_uint(out, <uint64_t>0 - <uint64_t>v)
    else:
        put_uint(out, <uint64_t>v)


cdef inline void put_hex(string& out, const uint8_t* p, int64_t n) noexcept nogil:
    cdef int64_t i
    out.push_back(b'"')
    for i in range(n):
        out.push_back(HEX[p[i] >> 4])
        out.push_back(HEX[p[i] & 15])
    out.push_back(b'"')


cdef inline void put_text(string& out, const uint8_t* p, int64_t n) noexcept nogil:
    """An Octet String's value as the record shows it: decoded as ASCII with undecodable bytes
    as ``\\xNN`` (backslashreplace), in JSON as orjson spells it, with DEL escaped as
    :func:`cmppdissect.output.records.dumps_line` escapes it."""
    cdef int64_t i
    cdef uint8_t c
    out.push_back(b'"')
    for i in range(n):
        c = p[i]
        if c >= 0x80:
            out.append(b"\\\\x")
            out.push_back(HEX[c >> 4])
            out.push_back(HEX[c & 15])
        elif c == 0x22:
            out.append(b'\\"')
        elif c == 0x5C:
            out.append(b"\\\\")
        elif c >= 0x20 and c != 0x7F:
            out.push_back(<char>c)
        elif c == 0x08:
            out.append(b"\\b")
        elif c == 0x09:
            out.append(b"\\t")
        elif c == 0x0A:
            out.append(b"\\n")
        elif c == 0x0C:
            out.append(b"\\f")
        elif c == 0x0D:
            out.append(b"\\r")
        else:
            out.append(b"\\u00")
            out.push_back(HEX[c >> 4])
            out.push_back(HEX[c & 15])
    out.push_back(b'"')


cdef int put_float(string& out, double x) except -1:
    """A float as orjson writes it. Both write the shortest digits that read back as the same
    double, without an exponent from 1e-4 up to 1e16 (C++17's ``to_chars`` in fixed notation
    gives those digits); outside that range, and for NaN, orjson itself is asked."""
    cdef char buf[40]
    cdef int used
    cdef double mag = -x if x < 0 else x
    cdef bytes other
    if mag == 0 or (1e-4 <= mag < 1e16):
        used = shortest_fixed(x, buf, 40)
        if used > 0:
            out.append(buf, used)
            if memchr(buf, b'.', used) == NULL:
                out.append(b".0")
            return 0
    other = orjson.dumps(x)
    out.append(PyBytes_AS_STRING(other), PyBytes_GET_SIZE(other))
    return 0


cdef inline int put_bytes(string& out, bytes b) except -1:
    if b is None:
        raise TypeError("a callback of the jsonl writer returned None where bytes were due")
    out.append(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
    return 0


cdef inline int64_t string_end(const uint8_t* p, int size, bint nul_expected) noexcept nogil:
    """Where an Octet String's value ends (its first NUL, D21), or -1 where the decoder has
    something to say about it: bytes after that NUL, or a number with no NUL at all."""
    cdef const uint8_t* cut = <const uint8_t*>memchr(p, 0, size)
    if cut == NULL:
        return -1 if nul_expected else size
    return -1 if has_stray(p, size) else cut - p


cdef bint put_fields(string& out, ELayout* lay, const uint8_t* body, int64_t n,
                     int64_t* offs, uint64_t* vals, bint check_nul) noexcept nogil:
    """The layout's fields as a record shows them; False where the full decoder would find
    something (a number without its NUL), and nothing is then worth keeping of ``out``."""
    cdef int64_t off = 0, k, count, end
    cdef Py_ssize_t i, nf = lay.fields.size()
    cdef LField* f
    cdef EField* e
    for i in range(nf):
        f = &lay.core.fields[i]
        e = &lay.fields[i]
        offs[i] = off
        vals[i] = 0
        if i:
            out.push_back(b',')
        out.append(e.key)
        if f.kind == K_UINT:
            if off + f.size > n:
                return False
            vals[i] = be_uint(body + off, f.size)
            if e.quoted:
                out.push_back(b'"')
                put_uint(out, vals[i])
                out.push_back(b'"')
            else:
                put_uint(out, vals[i])
            off += f.size
        elif f.kind == K_INT:
            if off + f.size > n:
                return False
            put_int(out, <int64_t>(<int>(<uint32_t>be_uint(body + off, 4))))
            off += f.size
        elif f.kind == K_STR:
            if off + f.size > n:
                return False
            end = string_end(body + off, f.size, check_nul and e.nul_expected)
            if end < 0:
                return False
            put_text(out, body + off, end)
            off += f.size
        elif f.kind == K_BIN:
            if off + f.size > n:
                return False
            put_hex(out, body + off, f.size)
            off += f.size
        elif f.kind == K_ARRAY:
            count = <int64_t>vals[f.count_slot]
            if off + count * f.size > n:
                return False
            out.push_back(b'[')
            for k in range(count):
                end = string_end(body + off, f.size, check_nul and e.nul_expected)
                if end < 0:
                    return False
                if k:
                    out.push_back(b',')
                put_text(out, body + off, end)
                off += f.size
            out.push_back(b']')
        else:  # K_CONTENT
            count = <int64_t>vals[f.count_slot]
            if off + count > n:
                return False
            put_hex(out, body + off, count)
            off += count
    return off == n


cdef int put_msg_id_parts(string& out, uint64_t value) except -1:
    cdef size_t i
    out.append(b',"Msg_Id_parts":{')
    for i in range(PART_KEYS.size()):
        if i:
            out.push_back(b',')
        out.append(PART_KEYS[i])
        put_uint(out, (value >> PART_SHIFTS[i]) & PART_MASKS[i])
    out.push_back(b'}')
    return 0


cdef int64_t col(list values, Py_ssize_t i) except? -1:
    return <int64_t>(<object>values[i])


def emit(sl, text, tail, fallback, limit=None):
    """The ``-T jsonl`` lines of a :class:`~cmppdissect.store.records.RowSlice` and how many.

    ``text(content, Msg_Fmt, TP_udhi, Pk_total, Pk_number)`` gives the ``,"text":...`` keys
    of decoded content or None (content with findings); ``tail(row, Command_Id,
    Sequence_Id, Stat, partner_frame, flags)`` the ``"long_sms"``/``"expert"`` keys or None;
    ``fallback(index, offset)`` the whole line of the slice's row ``index`` whose bytes start
    at ``offset`` of ``sl.raw``. At most ``limit`` lines.
    """
    cdef bytes raw = sl.raw
    cdef const uint8_t* base = <const uint8_t*>PyBytes_AS_STRING(raw)
    cdef int64_t size_all = PyBytes_GET_SIZE(raw)
    cdef list length = sl.length, frame = sl.frame, ts = sl.ts, session = sl.session
    cdef list flags = sl.flags, latency = sl.latency, hint = sl.hint, partner = sl.partner_frame
    cdef dict endpoints = sl.endpoints, findings = sl.findings, report_for = sl.report_for
    cdef dict long_sms = sl.long_sms
    cdef Py_ssize_t rows = len(frame), i
    cdef int64_t cap = -1 if limit is None else max(limit, 0)
    cdef int64_t pos = 0, n, other, start_row = sl.start, row, count = 0
    cdef int version
    cdef size_t mark
    cdef uint32_t total, cmd = 0, seq = 0
    cdef const uint8_t* p
    cdef const uint8_t* body = NULL
    cdef int64_t body_len = 0
    cdef LLayout* core = NULL
    cdef string out
    out.reserve(<size_t>size_all * 3 + 4096)
    cdef bint plain
    cdef dict sides = {}
    for i in range(rows):
        if cap >= 0 and count >= cap:
            break
        n = col(length, i)
        if n < 0 or pos + n > size_all:
            raise ValueError("a RowSlice's lengths exceed its bytes")
        p = base + pos
        row = start_row + i
        mark = out.size()
        plain = False
        version = <int>col(hint, i)
        if n >= 12 and (version == V_20 or version == V_30):
            total = <uint32_t>be_uint(p, 4)
            cmd = <uint32_t>be_uint(p + 4, 4)
            seq = <uint32_t>be_uint(p + 8, 4)
            # Logins are Python's (the Version byte, an authenticator of zeros: D24).
            core = (layout_of(cmd, version) if cmd != CMD_CONNECT and cmd != CMD_CONNECT_RESP
                    else NULL)
            body = p + 12
            body_len = n - 12
            if total == n and core != NULL and measure(core, body, body_len) == body_len:
                plain = True
        if plain:
            lay = BY_CORE[<size_t>core]
            plain = _put_record(out, lay, p, n, body, body_len, version, cmd, seq,
                                col(frame, i), col(ts, i), col(session, i), col(flags, i),
                                col(latency, i), col(partner, i), row, endpoints, sides,
                                findings, report_for, long_sms, text, tail)
        if not plain:
            out.resize(mark)
            put_bytes(out, fallback(i, pos))
        pos += n
        count += 1
    return PyBytes_FromStringAndSize(out.data(), out.size()), count


cdef bint _put_record(string& out, ELayout* lay, const uint8_t* p, int64_t n,
                      const uint8_t* body, int64_t body_len, int version, uint32_t cmd,
                      uint32_t seq, int64_t frame, int64_t ts, int64_t session,
                      int64_t flags, int64_t latency, int64_t other, int64_t row,
                      dict endpoints, dict sides, dict findings, dict report_for,
                      dict long_sms, object text, object tail) except -1:
    """One plain PDU's line into ``out``; False (and ``out`` to be cut back) where the full
    decoder would find something, so that the caller falls back."""
    cdef int64_t offs[MAX_FIELDS]
    cdef uint64_t vals[MAX_FIELDS]
    cdef int64_t rep_offs[MAX_FIELDS]
    cdef uint64_t rep_vals[MAX_FIELDS]
    cdef ELayout* rep = NULL
    cdef int64_t content_len = 0
    cdef const uint8_t* content = NULL
    cdef uint64_t kind
    cdef int fmt
    cdef bint response = (cmd & RESPONSE_BIT) != 0
    cdef object stat = None, got
    cdef tuple pair
    cdef bytes names = COMMANDS.get(cmd)
    if names is None:
        return False
    out.append(b'{"frame":')
    put_int(out, frame)
    out.append(b',"time":')
    put_float(out, <double>ts / 1e9)
    out.append(b',"session":')
    put_int(out, session)
    pair = sides.get(session)
    if pair is None:
        client, server = endpoints.get(session, ("?", "?"))
        try:
            pair = (safe_json(orjson.dumps(client)), safe_json(orjson.dumps(server)))
        except TypeError:  # not for orjson (a lone surrogate): the schema's way
            return False
        sides[session] = pair
    out.append(b',"src":')
    put_bytes(out, pair[0] if flags & FROM_CLIENT else pair[1])
    out.append(b',"dst":')
    put_bytes(out, pair[1] if flags & FROM_CLIENT else pair[0])
    out.append(b',"version":"2.0",' if version == V_20 else b',"version":"3.0",')
    put_bytes(out, names)
    out.append(b'"sequence_id":')
    put_uint(out, seq)
    out.append(b',"total_length":')
    put_uint(out, <uint64_t>n)
    out.append(b',"fields":{')
    if not put_fields(out, lay, body, body_len, offs, vals, True):
        return False
    if lay.core.named[N_MSG_CONTENT] >= 0:
        content_len = <int64_t>vals[lay.core.named[N_MSG_LENGTH]]
        content = body + offs[lay.core.named[N_MSG_CONTENT]]
        if lay.core.rule == RULE_DELIVER and vals[lay.core.named[N_REGISTERED_DELIVERY]] == 1:
            rep = REPORT60 if content_len == 60 else REPORT71 if content_len == 71 else NULL
            if rep == NULL or content_len != (60 if version == V_20 else 71):
                return False  # report-size, or report-version (D3)
        elif lay.core.rule == RULE_FWD and vals[lay.core.named[N_MSG_FWD_TYPE]] in (2, 3):
            kind = vals[lay.core.named[N_MSG_FWD_TYPE]]
            if kind == 2:
                rep = REPORT60 if content_len == 60 else REPORT71 if content_len == 71 else NULL
            elif content_len == MO_REPORT_SIZE:
                rep = MOREPORT
            if rep == NULL:
                return False
        if rep != NULL:
            out.append(b',"report":{')
            # The decoder checks the PDU's own numbers for a NUL, not its report's (both for
            # bytes after one).
            if not put_fields(out, rep, content, content_len, rep_offs, rep_vals, False):
                return False
            if msgid_byte_order(be_uint(content, 8)):
                return False  # msgid-byte-order (D22): every report layout starts with Msg_Id
            out.push_back(b'}')
            if rep.stat >= 0:
                stat = PyBytes_FromStringAndSize(<const char*>content + rep_offs[rep.stat],
                                                 rep.core.fields[rep.stat].size).partition(b"\0")[0]
            else:
                stat = b""
        else:
            fmt = <int>vals[lay.core.named[N_MSG_FMT]] if lay.core.named[N_MSG_FMT] >= 0 else 0
            if content_len > CONTENT_LIMITS[fmt]:
                return False  # msg-length
            if lay.core.named[N_DESTUSR_TL] >= 0 and not 1 <= vals[lay.core.named[N_DESTUSR_TL]] < 100:
                return False  # destusr-tl
            if (cmd == CMD_SUBMIT and version == V_30 and lay.core.named[N_REGISTERED_DELIVERY] >= 0
                    and vals[lay.core.named[N_REGISTERED_DELIVERY]] == 2):
                return False  # registered-delivery-2
            got = text(PyBytes_FromStringAndSize(<const char*>content, content_len),
                       vals[lay.core.named[N_MSG_FMT]] if lay.core.named[N_MSG_FMT] >= 0 else 4,
                       vals[lay.core.named[N_TP_UDHI]] if lay.core.named[N_TP_UDHI] >= 0 else 0,
                       vals[lay.core.named[N_PK_TOTAL]] if lay.core.named[N_PK_TOTAL] >= 0 else None,
                       vals[lay.core.named[N_PK_NUMBER]] if lay.core.named[N_PK_NUMBER] >= 0 else None)
            if got is None:
                return False
            put_bytes(out, got)
    if lay.core.named[N_MSG_ID] >= 0:
        if msgid_byte_order(vals[lay.core.named[N_MSG_ID]]):
            return False  # msgid-byte-order (D22)
        put_msg_id_parts(out, vals[lay.core.named[N_MSG_ID]])
    out.push_back(b'}')
    if other >= 0:
        out.append(b',"request_frame":' if response else b',"response_frame":')
        put_int(out, other)
        out.append(b',"latency_ms":')
        put_float(out, <double>latency / 1e6)
    if (other < 0 or PyDict_Contains(findings, row) or PyDict_Contains(long_sms, row)
            or (stat is not None and PyDict_Contains(report_for, row))):
        got = tail(row, cmd, seq, stat, other, flags)
        if got is None:
            return False
        out.push_back(b',')
        put_bytes(out, got)
        out.append(b'}\n')
    else:
        out.append(b',"expert":[]}\n')
    return True
