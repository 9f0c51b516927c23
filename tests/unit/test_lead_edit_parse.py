"""Reading edits of saved leads and record numbers (tables): 「#12 电话改成139…」 and its forms,
what is not an edit (so it stays a note or a draft), the typed values, and numbers that say
what they are (客户C3, 线索#12, 待办T5)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from crm_core.refs import parse_ref, show, short
from crm_core.services.lead_edit import InvalidEdit, parse_value, validate_patch
from handlers.lead_edit import _EDIT_SENTENCE, parse_edit

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)

# (message, read as a command's arguments?, (kind, id), changes)
EDITS = [
    ("#12 电话改成13900001111", False, ("lead", 12), (("phone", "13900001111"),)),
    ("线索12 预算改成80万", False, ("lead", 12), (("budget_cny", "80万"),)),
    ("#12 电话 13900001111", True, ("lead", 12), (("phone", "13900001111"),)),          # 修改 #12 电话 139…
    ("线索#7 联系人改为王总", False, ("lead", 7), (("contact_name", "王总"),)),
    ("把#12的联系人改为王总", False, ("lead", 12), (("contact_name", "王总"),)),
    ("#12 的手机号是 139-0000-1111", False, ("lead", 12), (("phone", "139-0000-1111"),)),
    ("#5 时间改到下周三", False, ("lead", 5), (("timeline", "下周三"),)),
    ("#5 产品改成CT设备,预算:300万", False, ("lead", 5), (("product", "CT设备"), ("budget_cny", "300万"))),
    ("#12 电话 13900001111 预算 80万", True, ("lead", 12), (("phone", "13900001111"), ("budget_cny", "80万"))),
    ("线索12预算80万", True, ("lead", 12), (("budget_cny", "80万"),)),
    ("12 公司名称改成杭州优品电子商务有限公司", True, ("lead", 12), (("company", "杭州优品电子商务有限公司"),)),
    ("L7 邮箱: li@youpin.com", False, ("lead", 7), (("email", "li@youpin.com"),)),
    ("＃9 联系人职务改成采购经理", False, ("lead", 9), (("contact_title", "采购经理"),)),
    ("C3 电话改成13900001111", False, ("customer", 3), (("phone", "13900001111"),)),     # asked back, not guessed
]

NOT_EDITS = [
    ("#12 电话沟通了报价,客户下周回复", False),       # a note: no 改成/是/: after the field word
    ("#12 电话13900001111", False),                  # no verb and no 修改: not read as an edit
    ("12 电话改成13900001111", False),               # a bare number outside 修改 is not a lead number
    ("#12", True),                                   # 修改 #12 alone: the field buttons, not a change
    ("电话改成13900001111", False),                  # no lead: a draft correction
    ("记录张总要采购CT设备,预算300万,3月招标", False),
    ("#12 电话改成139, 电话改成138", False),          # the same field twice: ask, don't guess
    ("#12 价格改成80万", False),                      # not a field
]


@pytest.mark.parametrize("text, command, ref, changes", EDITS)
def test_edit_forms(text: str, command: bool, ref: tuple[str, int], changes: tuple) -> None:
    req = parse_edit(text, command=command)
    assert req is not None, text
    assert (req.ref.kind, req.ref.id) == ref
    assert req.changes == changes
    if not command:      # the sentence form is taken before the free-text capture
        assert _EDIT_SENTENCE.fullmatch(text)


@pytest.mark.parametrize("text, command", NOT_EDITS)
def test_not_edits(text: str, command: bool) -> None:
    assert parse_edit(text, command=command) is None
    if not command:
        req_like = _EDIT_SENTENCE.fullmatch(text)
        assert req_like is None or parse_edit(text, command=False) is None


# (field, typed, value)
VALUES = [
    ("budget_cny", "80万", 800_000), ("budget_cny", "1.2亿", 120_000_000), ("budget_cny", "800000", 800_000),
    ("budget_cny", "五十万", 500_000), ("timeline", "2027-03", "2027-03"), ("timeline", "3月15日", "2027-03-15"),
    ("contact_name", "王总。", "王总"), ("phone", "无", None), ("product", "「CT设备」", "CT设备"),
]
BAD_VALUES = [("budget_cny", "很多", "不是有效的金额"), ("timeline", "以后再说", "看不出是哪天"),
              ("company", "无", "不能为空")]


@pytest.mark.parametrize("field, typed, value", VALUES)
def test_values(field: str, typed: str, value: object) -> None:
    assert parse_value(field, typed, NOW) == value


@pytest.mark.parametrize("field, typed, reason", BAD_VALUES)
def test_bad_values(field: str, typed: str, reason: str) -> None:
    with pytest.raises(InvalidEdit) as err:
        parse_value(field, typed, NOW)
    assert reason in str(err.value) and field in err.value.fields


@pytest.mark.parametrize("raw, field, reason", [
    ({"phone": "12345"}, "phone", "不是有效的电话号码"),
    ({"budget_cny": -5}, "budget_cny", "不能是负数"),
    ({"budget_cny": "lots"}, "budget_cny", "整数"),
    ({"timeline": "next spring"}, "timeline", "2026-03"),
    ({"email": "not-mail"}, "email", "邮箱"),
    ({"stage": "won"}, "stage", "不能在这里修改"),
    ({"company": None}, "company", "不能为空"),
    ({}, "body", "没有要修改的内容"),
])
def test_patch_validation_names_the_field(raw: dict, field: str, reason: str) -> None:
    with pytest.raises(InvalidEdit) as err:
        validate_patch(raw)
    assert reason in err.value.fields[field]


def test_patch_values_are_normalized() -> None:
    assert validate_patch({"phone": "+86 139-0000-1111", "email": "Li@YouPin.com", "product": None}) == {
        "phone": "13900001111", "email": "li@youpin.com", "product": None}


# ---- numbers that say what they are ---------------------------------------------------------------

REFS = [
    ("#12 内容", "lead", 12, "hash", "内容"), ("12 内容", "lead", 12, "bare", "内容"),
    ("线索12", "lead", 12, "word", ""), ("线索#12 x", "lead", 12, "word", "x"), ("L12", "lead", 12, "word", ""),
    ("C3 x", "customer", 3, "word", "x"), ("c3", "customer", 3, "word", ""), ("客户3", "customer", 3, "word", ""),
    ("客户#3", "customer", 3, "word", ""), ("客户C3 y", "customer", 3, "word", "y"),
    ("T5", "task", 5, "word", ""), ("待办5 明天", "task", 5, "word", "明天"), ("待办T5", "task", 5, "word", ""),
]


@pytest.mark.parametrize("text, kind, number, form, rest", REFS)
def test_refs(text: str, kind: str, number: int, form: str, rest: str) -> None:
    got = parse_ref(text)
    assert got is not None
    ref, tail = got
    assert (ref.kind, ref.id, ref.form, tail) == (kind, number, form, rest)


@pytest.mark.parametrize("text", ["优品", "13900001111", "#12.5", "C", "", "客户"])
def test_not_refs(text: str) -> None:
    assert parse_ref(text) is None


def test_display_forms_round_trip() -> None:
    for kind, number in (("customer", 3), ("lead", 12), ("task", 5)):
        for written in (show(kind, number), short(kind, number)):       # type: ignore[arg-type]
            got = parse_ref(written)
            assert got is not None and (got[0].kind, got[0].id) == (kind, number), written
    assert (show("customer", 3), show("lead", 12), show("task", 5)) == ("客户C3", "线索#12", "待办T5")


# ---- loss reasons in the config --------------------------------------------------------------------

@pytest.mark.parametrize("yaml_line, problem", [
    ("loss_reasons: {Price: 价格}", "'Price' is not a code"),
    ("loss_reasons: {price: '  '}", "'price' has no label"),
    ("loss_reasons: {price: 其他, other: 其他}", "label '其他' is used twice"),
    ("loss_reasons: {}", "a lost stage needs at least one loss reason"),
])
def test_config_check_validates_loss_reasons(yaml_line: str, problem: str) -> None:
    from crm_core.config.loader import EXAMPLE_PATH, ConfigError, parse_config_text
    text = open(EXAMPLE_PATH, encoding="utf-8").read()
    assert "  loss_reasons:" in text
    bad = "\n".join(f"  {yaml_line}" if line.startswith("  loss_reasons:") else line for line in text.splitlines())
    with pytest.raises(ConfigError) as err:
        parse_config_text(bad, env={})
    assert "funnel" in str(err.value) and "loss_reasons" in str(err.value) and problem in str(err.value)
    assert parse_config_text(text, env={}).funnel.loss_reasons["price"] == "价格不合适"
