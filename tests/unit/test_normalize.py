"""Normalization of phones, company names, e-mails and contact names into comparison keys."""
from __future__ import annotations

import pytest

from crm_core.normalize import (
    PUBLIC_MAIL_DOMAINS,
    company_region,
    email_domain,
    homophones,
    is_landline,
    is_mobile,
    is_public_mail_domain,
    mask_phone,
    name_in_handle,
    normalize_company,
    normalize_email,
    normalize_person_name,
    normalize_phone,
    normalize_phones,
    normalize_wechat_id,
    parse_person_name,
    split_name_title,
    surname_spellings,
)

MOBILE_FORMS = [
    "13812345678", "+86 138-1234 5678", "(+86)13812345678", "（+86）13812345678", "0086 138 1234 5678",
    "86-138-1234-5678", "8613812345678", "１３８１２３４５６７８", "138 1234 5678", "138.1234.5678",
    "[138]1234-5678", "手机：13812345678", "Tel: +86 138 1234 5678", "13812345678-123",
]


@pytest.mark.parametrize("raw", MOBILE_FORMS)
def test_mobile_forms_become_eleven_digits(raw: str) -> None:
    assert normalize_phone(raw) == "13812345678"


@pytest.mark.parametrize(("raw", "expected"), [
    ("010-8888 6666", "01088886666"),
    ("(0571)87654321", "057187654321"),
    ("（０５７１）８７６５４３２１", "057187654321"),
    ("0571 8765 4321", "057187654321"),
    ("+86 21 6123 4567", "02161234567"),
    ("+86 (0)21 6123 4567", "02161234567"),
    ("0086 21 6123 4567", "02161234567"),
    ("+86(571)87654321", "057187654321"),
    ("010-8888 6666转123", "01088886666"),
    ("0571-87654321 ext. 12", "057187654321"),
    ("0755-2345 6789 x801", "075523456789"),
    ("010-8888 6666-8001", "01088886666"),
    ("400-123-4567", "4001234567"),
    ("800 123 4567", "8001234567"),
    ("+86 400 123 4567", "4001234567"),
])
def test_landlines_and_service_numbers(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("+1 415 555 2671", "+14155552671"),
    ("+852 9123 4567", "+85291234567"),
    ("00852 9123 4567", "+85291234567"),
    ("+44 20 7946 0958", "+442079460958"),
])
def test_foreign_numbers_become_e164(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", [
    None, "", "12345", "abc", "微信同号", "2023-05-12", "2023/05/12", "20230512", "123456789", "987654321",
    "138123456789", "12812345678", "61234567", "2161234567", "021-6123456", "+1 123", "13812345678abc",
])
def test_non_phones_are_none(raw: str | None) -> None:
    assert normalize_phone(raw) is None


def test_several_numbers_in_one_field() -> None:
    assert normalize_phones("138 1234 5678 / 0571-87654321；+86 13812345678") == ["13812345678", "057187654321"]


@pytest.mark.parametrize(("raw", "masked"), [
    ("+86 138-1234-5678", "138****5678"),
    ("0571-87654321", "0571****4321"),
    ("010-8888 6666", "010****6666"),
    ("+1 415 555 2671", "+141****2671"),
    ("12", "****"),
])
def test_mask_phone_never_shows_the_middle(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


@pytest.mark.parametrize(("raw", "mobile", "landline"), [
    ("+86 138 1234 5678", True, False),
    ("0571-87654321", False, True),
    ("400-123-4567", False, False),
    ("+1 415 555 2671", False, False),
    ("hello", False, False),
])
def test_phone_kinds(raw: str, mobile: bool, landline: bool) -> None:
    assert (is_mobile(raw), is_landline(raw)) == (mobile, landline)


SAME_COMPANY = [
    ["杭州优品电子商务有限公司", "优品(杭州)电子商务有限公司", "优品（杭州）电子商务有限责任公司", "浙江省杭州市优品电子商务有限公司",
     "浙江杭州优品电子商务", "杭州市西湖区优品电子商务有限公司", "优品电子商务股份有限公司", "杭州 优品 电子商务 有限公司",
     "杭州优品电子商务公司"],
    ["Hangzhou Youpin E-Commerce Co., Ltd.", "Youpin (Hangzhou) E-commerce Co.,Ltd",
     "HANGZHOU YOUPIN E-COMMERCE CO LTD", "Youpin E-Commerce Limited"],
    ["Siemens Ltd., China", "Siemens (China) Co., Ltd.", "SIEMENS LIMITED"],
    ["阿里巴巴集团控股有限公司", "阿里巴巴(中国)有限公司", "阿里巴巴集团"],
    ["美的集团股份有限公司", "广东美的集团", "美的集团有限公司"],
    ["北京银行股份有限公司", "北京银行"],
    ["杭州优品电子商务有限公司萧山分公司", "杭州优品电子商务萧山分公司", "优品(杭州)电子商务有限公司萧山分公司"],
]


@pytest.mark.parametrize("names", SAME_COMPANY, ids=lambda names: names[0])
def test_company_variants_share_one_key(names: list[str]) -> None:
    keys = {normalize_company(name) for name in names}
    assert len(keys) == 1 and "" not in keys


@pytest.mark.parametrize(("a", "b"), [
    ("杭州优品电子有限公司", "杭州优品科技有限公司"),
    ("优品电子商务有限公司", "华信电子商务有限公司"),
    ("北京银行股份有限公司", "上海银行股份有限公司"),
    ("杭州电子有限公司", "上海电子有限公司"),
    ("普洱茶业有限公司", "云南茶业有限公司"),
    ("杭州优品电子商务有限公司萧山分公司", "杭州优品电子商务有限公司"),
    ("Acme Trading Co., Ltd.", "Acme Technology Co., Ltd."),
])
def test_different_companies_keep_different_keys(a: str, b: str) -> None:
    assert normalize_company(a) != normalize_company(b)


@pytest.mark.parametrize(("raw", "key"), [
    ("北京银行", "北京银行"),            # the region is the trade name: kept
    ("上海电气集团股份有限公司", "上海电气"),
    ("杭州市", "杭州"),
    ("有限公司", ""),
    ("阿里巴巴网络技术有限公司", "阿里巴巴网络技术"),  # 阿里 is a prefecture, but only with 地区 it is stripped
    ("中山市优品电器有限公司", "优品电器"),
    (None, ""),
])
def test_region_stripping_never_empties_a_name(raw: str | None, key: str) -> None:
    assert normalize_company(raw) == key


@pytest.mark.parametrize(("raw", "region"), [
    ("杭州优品电子商务有限公司", "杭州"),
    ("优品（杭州）电子商务有限公司", "杭州"),
    ("浙江省杭州市优品电子商务有限公司", "杭州"),
    ("广东美的集团", "广东"),
    ("Youpin (Hangzhou) E-commerce Co.,Ltd", "hangzhou"),
    ("优品电子商务有限公司", None),
    ("北京银行", None),
])
def test_company_region(raw: str, region: str | None) -> None:
    assert company_region(raw) == region


@pytest.mark.parametrize(("raw", "expected"), [
    (" ZhangWei@YouPin.com ", "zhangwei@youpin.com"),
    ("mailto:Li@QQ.com", "li@qq.com"),
    ("zhang.wei+crm@gmail.com", "zhangwei@gmail.com"),
    ("ｌｉ＠１６３．ｃｏｍ", "li@163.com"),
    ("foo@bar.co.uk", "foo@bar.co.uk"),
    ("bad@", None), ("a@b", None), ("a..b@x.com", None), ("李@x.com", None), ("", None), (None, None),
])
def test_normalize_email(raw: str | None, expected: str | None) -> None:
    assert normalize_email(raw) == expected


def test_public_mail_domains() -> None:
    for domain in ("qq.com", "163.com", "126.com", "sina.com", "gmail.com", "outlook.com", "hotmail.com",
                   "foxmail.com", "yeah.net", "139.com", "aliyun.com", "sohu.com", "yahoo.com", "icloud.com"):
        assert domain in PUBLIC_MAIL_DOMAINS and is_public_mail_domain(domain)
    assert email_domain("Zhang@YouPin.COM") == "youpin.com"
    assert not is_public_mail_domain("youpin.com") and not is_public_mail_domain(None)


@pytest.mark.parametrize(("raw", "expected"), [
    ("张总", ("张", "总")), ("张经理", ("张", "经理")), ("李总监", ("李", "总监")), ("王工", ("王", "工")),
    ("刘老师", ("刘", "老师")), ("陈主任", ("陈", "主任")), ("王总经理", ("王", "总经理")), ("张伟经理", ("张伟", "经理")),
    ("李小姐", ("李", "小姐")), ("赵先生", ("赵", "先生")), ("欧阳总", ("欧阳", "总")), ("老王", ("王", "老")),
    ("张伟", ("张伟", None)), ("张 伟", ("张伟", None)), ("王建工", ("王建工", None)), ("小明", ("小明", None)),
    ("Mr. Wang", ("Wang", "Mr")), ("Ms Li", ("Li", "Ms")), ("Dr. Chen Hua", ("Chen Hua", "Dr")),
    ("David Wang", ("David Wang", None)), ("", ("", None)),
])
def test_split_name_title(raw: str, expected: tuple[str, str | None]) -> None:
    assert split_name_title(raw) == expected


@pytest.mark.parametrize(("raw", "key"), [
    ("张总", "张"), ("张伟经理", "张伟"), ("张 伟", "张伟"), ("Mr. Wang", "wang"), ("Wang Wei", "wang wei"),
    ("Wei WANG", "wang wei"), (None, ""),
])
def test_normalize_person_name(raw: str | None, key: str) -> None:
    assert normalize_person_name(raw) == key


@pytest.mark.parametrize(("raw", "surname", "full", "latin"), [
    ("张伟", "张", True, False), ("张经理", "张", False, False), ("欧阳娜娜", "欧阳", True, False),
    ("Mr. Wang", "wang", False, True), ("David Wang", "wang", True, True), ("", "", False, False),
])
def test_parse_person_name(raw: str, surname: str, full: bool, latin: bool) -> None:
    parsed = parse_person_name(raw)
    assert (parsed.surname, parsed.full, parsed.latin) == (surname, full, latin)


@pytest.mark.parametrize(("raw", "spellings"), [
    ("张伟", {"zhang", "cheung", "chang"}), ("吴经理", {"wu", "ng"}), ("Grace Wu", {"wu"}), ("Tony", set()),
])
def test_surname_spellings_bridge_scripts(raw: str, spellings: set[str]) -> None:
    assert surname_spellings(raw) == spellings


@pytest.mark.parametrize(("a", "b", "alike"), [
    ("张伟", "张玮", True), ("王小明", "王晓明", True), ("优品科技", "优品科计", True), ("田杰", "田洋", False),
    ("张伟", "张伟强", False),
])
def test_homophones(a: str, b: str, alike: bool) -> None:
    assert homophones(a, b) is alike


@pytest.mark.parametrize(("name", "handle", "spelled"), [
    ("高雪佳", "gaoxuejia19", True), ("高雪佳", "xuejia.gao", True), ("高雪佳", "gxuejia", True),
    ("欧阳娜娜", "ouyangnana", True), ("高雪佳", "gaoming", False), ("张伟", "zw", False), ("高雪佳", None, False),
])
def test_name_in_handle(name: str, handle: str | None, spelled: bool) -> None:
    assert name_in_handle(name, handle) is spelled


@pytest.mark.parametrize(("raw", "key"), [
    ("ZhangWei_88", "zhangwei_88"), ("+86 138 1234 5678", "13812345678"), ("微信:wxid_abc123", "wxid_abc123"),
    ("", None), ("你好", None),
])
def test_normalize_wechat_id(raw: str, key: str | None) -> None:
    assert normalize_wechat_id(raw) == key
