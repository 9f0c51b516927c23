"""Messages that are not about a customer: thanks, acknowledgements, greetings, pleasantries
(「今天天气不错」), a lone emoji or a bare lead number. They get a short friendly answer instead of the capture hint
(`small_talk_reply`); `is_small_talk` lets the draft flow tell them apart from an answer."""
from __future__ import annotations

import re
import unicodedata

THANKS = ("谢谢", "多谢", "感谢", "谢啦", "谢了", "辛苦了", "辛苦", "thanks", "thank you", "thx", "ty")
ACKS = ("好的", "好滴", "好哒", "好嘞", "好", "收到", "收到了", "嗯", "嗯嗯", "恩", "ok", "okay", "行", "可以",
        "可以的", "明白", "明白了", "知道了", "了解", "没问题", "对", "是的", "👍", "👌", "🙏", "✅", "💪")
GREETINGS = ("你好", "您好", "在吗", "在不在", "哈喽", "嗨", "早", "早上好", "下午好", "晚上好", "hello", "hi",
             "hey", "hallo", "喂")
BYES = ("拜拜", "再见", "晚安", "bye", "886")
TAILS = (*THANKS, *ACKS, "", "there", "all", "everyone", "bot", "大家", "老师")   # 「hello there」「好的谢谢」
_TRIM = " \t\r\n。.!！~～,，?？…、呀啊哈呢吧哦噢啦"
_LEAD_REF = re.compile(r"^#\s*(\d{1,9})$")
# Pleasantries about the day (weather, meals, laughter, wishes): short, with no digit and no word
# of the trade, so 「今天好热，客户没来」 stays content.
_PLEASANTRY = re.compile(r"天气|下雨|下雪|好热|好冷|太热|太冷|降温|升温|出太阳|吃饭了|吃了吗|吃了没|"
                         r"(?:周末|节日|新年|中秋|国庆|春节)快乐|周末愉快|哈{2,}|呵{2,}|嘿{2,}|好累|累死|困死|早点休息")
_TRADE = re.compile(r"客户|公司|厂|报价|合同|预算|采购|方案|签|单|项目|拜访|跟进|需求|价格|产品|设备|样品|发货|"
                    r"付款|回款|招标|投标|会议|见面|电话|[总经理]")
PLEASANTRY_MAX = 12

REPLIES = {
    "thanks": "不客气!有新的客户情况随时发给我。",
    "ack": "好的 👌 有需要随时叫我。",
    "greeting": "你好!直接说客户情况我就能帮你建线索,也可以发语音;发送「帮助」查看全部用法。",
    "bye": "好的,回头见!",
    "emoji": "🙂 收到。要记客户的话,直接说客户情况就行;发送「帮助」查看用法。",
    "chat": "哈哈,是呀 🙂 要记客户的话,直接说客户情况就行;发送「帮助」查看用法。",
}


def _core(text: str) -> str:
    return text.strip().strip(_TRIM).lower()


def _only_symbols(text: str) -> bool:
    """Emoji, punctuation and spaces only (no letter or digit of any script)."""
    t = text.strip()
    return bool(t) and not any(unicodedata.category(ch)[0] in "LN" for ch in t)


def kind_of(text: str) -> str | None:
    """thanks | ack | greeting | bye | emoji | chat (a pleasantry) | lead_ref, or None for anything
    with content."""
    raw = text.strip()
    if _LEAD_REF.match(raw):
        return "lead_ref"
    core = _core(raw)
    for kind, words in (("thanks", THANKS), ("ack", ACKS), ("greeting", GREETINGS), ("bye", BYES)):
        if core in words or any(core == f"{w}{w}" for w in words) or any(
                core.startswith(w) and _core(core[len(w):]) in TAILS for w in words if len(w) > 1):
            return kind
    if _only_symbols(raw):
        return "emoji"
    if (len(raw) <= PLEASANTRY_MAX and _PLEASANTRY.search(raw) and not _TRADE.search(raw)
            and not any(ch.isdigit() for ch in raw)):
        return "chat"
    return None


def is_small_talk(text: str) -> bool:
    return kind_of(text) is not None


def small_talk_reply(text: str) -> str | None:
    """The short answer for a message that is not about a customer, else None."""
    ref = _LEAD_REF.match(text.strip())
    if ref:
        n = ref.group(1)
        return f"要看线索 #{n} 的详情,请发「查线索 #{n}」;记跟进请发「跟进 #{n} 跟进内容」。"
    kind = kind_of(text)
    return REPLIES[kind] if kind else None
