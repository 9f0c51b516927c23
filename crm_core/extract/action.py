"""The next step a rep plans: an action keyword mapped to one canonical Chinese term.

English notes return the same canonical Chinese terms (demo → 演示, quote → 报价), so a
task title reads the same whatever language the rep spoke. When several actions appear,
the one closest to the chosen date wins; actions marked as done (拜访了, 已经演示过) lose.
"""
from __future__ import annotations

import re

# canonical term → pattern; order only breaks exact ties.
ACTIONS: dict[str, str] = {
    "招标": r"招标|挂网|开标|发标|\btender\b|\brfp\b",
    "投标": r"投标|述标|应标|竞标|标书|递标|\bbid(?:ding)?\b",
    "演示": r"演示|demo|展示一下|产品介绍|讲解|presentation|\bpresent\b",
    "拜访": r"拜访|上门|登门|见面|面谈|面聊|碰面|走访|约见|过去一趟|去(?:学校|医院|工厂|厂里|他们厂|他们公司|现场看)|"
            r"看现场|过去看|去看看|厂里看看|去(?:门店|店里|他们那边?|客户那边?|办公室|总部|工地|园区)|\bvisit(?!\s+(?:our|us))|\bmeet(?!ing)\b|"
            r"\bin person\b|\bon-?site\b",
    "考察": r"考察|参观|来访|来我们公司|来公司|看厂|来厂|实地看|site visit|\btour\b|visit\s+(?:our|us)",
    "报价": r"报价|报个价|出价格|发价格|给价格|价格表|\bquot(?:e|ation)\b|\bpricing\b",
    "签约": r"签约|签合同|签单|签字|签协议|合同签|定合同|签(?=[了吧\s,，。]|$)|\bsign(?:ing)?\b|\bclose the deal\b|\bcontract\b",
    "回访": r"回访|跟进|再联系|回复|回电话?|打电话|电话沟通|复访|\bfollow[- ]?up\b|\bcall(?:\s+(?:back|him|her|them))?\b|"
            r"\bcheck in\b",
    "发方案": r"(?:发|出|做|给|提交|交|写|准备|递交|要)(?:一?[个份版])?(?:详细的?|技术|解决|初步的?|完整的?)?方案|"
              r"把[^,，。;；\s]{0,6}?方案(?:发|给|提交|递交|交)|"
              r"\bproposal\b",
    "试用": r"试用|试点|\bpoc\b|试运行|免费试|测试|\btrial\b|\bpilot\b",
    "会议": r"开会|会议|约(?:了)?个会|碰头|启动会|见面会|评审会|汇报会|沟通会|视频会|电话会|线上会|交流会|\bmeeting\b",
    "谈判": r"谈判|议价|砍价|谈价格?|\bnegotiat\w*",
    "付款": r"付款|打款|回款|首付|首款|预付|尾款|付定金|\bpayment\b|\bpay\b",
    "交付": r"交付|发货|送货|上线|安装|装好|装完|到货|实施|\bdeliver\w*|\binstall\w*|\bgo[- ]live\b|\brollout\b",
    "培训": r"培训|\btraining\b",
    "验收": r"验收|\bacceptance\b",
    "续约": r"续约|续费|续签|\brenew\w*",
    "下单": r"下单|订货|确认订单|下PO|\bPO\b|\bpurchase order\b|\bplace (?:an|the) order\b",
    "立项": r"立项",
    "调研": r"调研|需求沟通|勘察|勘查|踏勘",
}
_ACTION_RE = re.compile("|".join(f"(?P<a{i}>{p})" for i, p in enumerate(ACTIONS.values())), re.IGNORECASE)
_NAMES = list(ACTIONS)
_PAST_AFTER = re.compile(r"\s?(?:了|过|完|已经)|\s?(?:ed|'d)\b", re.IGNORECASE)
_PAST_BEFORE = re.compile(r"(?:已经|刚刚|刚才|刚|上次|之前|昨天|上周|前天|上个月|already|last week|yesterday|"
                          r"just|earlier)[^,，。;；]{0,6}$|(?:做|搞|开|办|进行|安排)了[个次场]?(?:产品)?$", re.IGNORECASE)
_GENERIC_PENALTY = 6
# An action word used as a noun names no step: 续约金额, 续费的事, 签约事宜.
_AS_NOUN = re.compile(r"\s?(?:金额|费用|款|的事|事宜|的问题)")
_PRICE_NOUN = re.compile(r"\s?(?:是|为|在|大概|约|:)?\s?[\d一二两三四五六七八九十]")


def find_action_hits(text: str) -> list[tuple[int, int, str, bool]]:
    """Every action keyword as (start, end, canonical, done_already)."""
    hits = []
    for match in _ACTION_RE.finditer(text):
        index = int(match.lastgroup[1:]) if match.lastgroup else 0
        name = _NAMES[index]
        done = bool(_PAST_AFTER.match(text, match.end()) or _PAST_BEFORE.search(text[max(0, match.start() - 10):match.start()]))
        if name == "报价" and _PRICE_NOUN.match(text, match.end()):
            done = True  # "报价120万" states a price; it is not a step to do
        if _AS_NOUN.match(text, match.end()):
            done = True
        hits.append((match.start(), match.end(), name, done))
    return hits


def find_action(text: str, anchor: tuple[int, int] | None = None) -> str | None:
    """The planned action: nearest to `anchor` (the date's span) if given, else the first open one."""
    hits = find_action_hits(text)
    if not hits:
        return None

    def distance(hit: tuple[int, int, str, bool]) -> int:
        if anchor is None:
            return hit[0]
        start, end = hit[0], hit[1]
        return max(0, anchor[0] - end, start - anchor[1])

    open_hits = [h for h in hits if not h[3]] or hits
    # 拜访 ("去学校") is often only the way to the real step ("去学校做演示"): it yields to a neighbour.
    return min(open_hits, key=lambda h: (distance(h) + (_GENERIC_PENALTY if h[2] == "拜访" else 0), h[0]))[2]
