"""Short messages as an SP sends them: text, encoding, and long texts cut into UDH parts.

A text longer than one SMS becomes several SUBMITs (or DELIVERs) whose Msg_Content starts
with a concatenation header ``05 00 03 ref total part`` (reference §7.6); Pk_total/Pk_number
repeat the counters. Parts are cut on character boundaries, so every part decodes on its own
in UCS2 (Msg_Fmt 8, surrogate pairs kept together), GBK (Msg_Fmt 15) and ASCII (Msg_Fmt 0).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FMT_ASCII = 0
FMT_UCS2 = 8
FMT_GBK = 15

_CODEC = {FMT_ASCII: "ascii", FMT_UCS2: "utf-16-be", FMT_GBK: "gbk"}
_SINGLE_LIMIT = {FMT_ASCII: 159}  # spec: ASCII "< 160 bytes", everything else <= 140
_PART_LIMIT = {FMT_ASCII: 153}  # 159 - the 6-byte UDH; others 140 - 6 = 134
_UDH_LEN = 6
MAX_PARTS = 255

SHORT_TEXTS: tuple[str, ...] = (
    "您的验证码是 482913，5分钟内有效，请勿泄露。",
    "【移动】您本月话费账单已出，回复1查询详情。",
    "您预约的快递将于今天下午送达，请保持电话畅通。",
    "会员积分即将到期，回复TD退订。",
    "Your verification code is 482913.",
    "Order 1042 shipped. Reply STOP to opt out.",
)

_LONG_SENTENCES: tuple[str, ...] = (
    "尊敬的客户，您好！",
    "您订购的流量套餐已于今日生效，本月剩余通用流量 18.6GB，定向流量 30GB。",
    "为保障您的账户安全，请勿将验证码告知他人，客服人员不会向您索取验证码。",
    "如需办理业务，请登录网上营业厅或发送短信至10086，我们将竭诚为您服务。",
    "活动期间充值100元送20元话费，赠送话费将在次月分三个月返还。",
    "祝您生活愉快！",
)

_LONG_ENGLISH = (
    "Dear customer, your monthly statement is ready. Total due: 128.50 CNY by the 25th. "
    "Pay in the app or at any service hall; late payments may suspend outgoing calls. "
    "Questions? Reply HELP or call 10086. Thank you for choosing us."
)


@dataclass(frozen=True, slots=True)
class Part:
    """One SMS of a message: what goes into a SUBMIT's or DELIVER's content fields."""

    Msg_Fmt: int
    TP_udhi: int
    Pk_total: int
    Pk_number: int
    Msg_Content: bytes


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    Msg_Fmt: int
    dests: tuple[str, ...]
    registered: bool
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class MessageMix:
    """What kind of messages to make; ratios are probabilities per message."""

    long_ratio: float = 0.1
    group_ratio: float = 0.1
    group_size: int = 3
    report_ratio: float = 0.5
    ascii_ratio: float = 0.3  # English text as Msg_Fmt 0
    gbk_ratio: float = 0.3  # of the Chinese texts, the share sent as GBK rather than UCS2
    texts: tuple[str, ...] = ()  # the user's texts instead of the built-in ones
    dests: tuple[str, ...] = ()  # recipients; random 86138........ numbers when empty

    def __post_init__(self) -> None:
        for name in ("long_ratio", "group_ratio", "report_ratio", "ascii_ratio", "gbk_ratio"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if not 1 <= self.group_size <= 100:
            raise ValueError(f"group_size must be between 1 and 100, not {self.group_size}")
        for text in self.texts:  # UCS2 carries any text; a byte that was no UTF-8 is none
            try:
                text.encode(_CODEC[FMT_UCS2])
            except UnicodeEncodeError:
                raise ValueError(f"text {text!r} is not text (bytes that are not UTF-8)"
                                 ) from None


def encode_text(text: str, Msg_Fmt: int) -> bytes:
    """Raises UnicodeEncodeError if the text cannot be carried in that format."""
    return text.encode(_CODEC[Msg_Fmt])


def split_message(text: str, Msg_Fmt: int, reference: int) -> tuple[Part, ...]:
    """One part if the text fits, else UDH parts with concatenation reference ``reference``."""
    codec = _CODEC[Msg_Fmt]
    payload = text.encode(codec)
    if len(payload) <= _SINGLE_LIMIT.get(Msg_Fmt, 140):
        return (Part(Msg_Fmt, 0, 1, 1, payload),)
    limit = _PART_LIMIT.get(Msg_Fmt, 140 - _UDH_LEN)
    chunks: list[bytes] = []
    current = bytearray()
    for ch in text:
        encoded = ch.encode(codec)
        if len(current) + len(encoded) > limit:
            chunks.append(bytes(current))
            current.clear()
        current += encoded
    if current:
        chunks.append(bytes(current))
    total = len(chunks)
    if total > MAX_PARTS:
        raise ValueError(f"text needs {total} parts; a UDH counts at most {MAX_PARTS}")
    ref = reference & 0xFF
    return tuple(Part(Msg_Fmt, 1, total, n, bytes((5, 0, 3, ref, total, n)) + chunk)
                 for n, chunk in enumerate(chunks, 1))


def _chinese_format(text: str, gbk: bool) -> int:
    if gbk:
        try:
            text.encode("gbk")
        except UnicodeEncodeError:
            return FMT_UCS2
        return FMT_GBK
    return FMT_UCS2


def format_for(text: str, *, gbk: bool) -> int:
    """ASCII for ASCII text; otherwise GBK when asked and possible, else UCS2."""
    return FMT_ASCII if text.isascii() else _chinese_format(text, gbk)


def random_msisdn(rng: random.Random) -> str:
    return f"86{rng.choice(('138', '139', '150', '187', '135'))}{rng.randrange(10**8):08d}"


class MessageFactory:
    """Makes the next message from a :class:`MessageMix` and a seeded generator."""

    def __init__(self, mix: MessageMix, rng: random.Random) -> None:
        self.mix = mix
        self.rng = rng
        self._reference = rng.randrange(256)

    def _text(self, long: bool, ascii_text: bool) -> str:
        rng = self.rng
        if self.mix.texts:
            return rng.choice(self.mix.texts)
        if long:
            if ascii_text:
                return _LONG_ENGLISH
            count = rng.randrange(3, len(_LONG_SENTENCES) + 1)
            return "".join(_LONG_SENTENCES[:count])
        pool = [t for t in SHORT_TEXTS if t.isascii() == ascii_text]
        return rng.choice(pool)

    def _dests(self) -> tuple[str, ...]:
        mix, rng = self.mix, self.rng
        size = mix.group_size if mix.group_ratio and rng.random() < mix.group_ratio else 1
        if mix.dests:
            return tuple(rng.choice(mix.dests) for _ in range(size))
        return tuple(random_msisdn(rng) for _ in range(size))

    def next(self) -> Message:
        mix, rng = self.mix, self.rng
        long = bool(mix.long_ratio) and rng.random() < mix.long_ratio
        ascii_text = bool(mix.ascii_ratio) and rng.random() < mix.ascii_ratio
        text = self._text(long, ascii_text)
        fmt = format_for(text, gbk=bool(mix.gbk_ratio) and rng.random() < mix.gbk_ratio)
        parts = split_message(text, fmt, self._reference)
        if len(parts) > 1:
            self._reference = (self._reference + 1) & 0xFF
        registered = bool(mix.report_ratio) and rng.random() < mix.report_ratio
        return Message(text, fmt, self._dests(), registered, parts)
