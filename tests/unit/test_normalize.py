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
    phone_kind,
    pinyin_name_match,
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
    ["阿里巴巴集团控股有限公司", "阿里巴巴集团", "阿里巴巴(集团)有限公司"],
    ["美的集团股份有限公司", "广东美的集团", "美的集团有限公司"],
    ["浙江省电力有限公司", "浙江电力有限公司", "浙江省电力公司", "浙江电力"],
    ["上海市电气集团股份有限公司", "上海电气集团", "上海市 电气集团"],
    ["广西壮族自治区电力有限公司", "广西电力有限公司"],
    ["杭州市电子有限公司", "杭州电子有限公司", "浙江省杭州市电子有限公司"],
    ["Alibaba Group Holding Limited", "ALIBABA GROUP", "Alibaba Group Co., Ltd."],
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
    # a group and its namesake without 集团 are two legal entities
    ("美的集团有限公司", "美的有限公司"),
    ("阿里巴巴集团控股有限公司", "阿里巴巴(中国)有限公司"),
    ("华信集团", "华信有限公司"),
    ("杭州华信(集团)有限公司", "杭州华信有限公司"),
    ("Alibaba Group Holding Limited", "Alibaba (China) Co., Ltd."),
    ("浙江省电力有限公司", "江苏省电力有限公司"),
])
def test_different_companies_keep_different_keys(a: str, b: str) -> None:
    assert normalize_company(a) != normalize_company(b)


@pytest.mark.parametrize(("raw", "key"), [
    ("北京银行", "北京银行"),            # the region is the trade name: kept
    ("上海电气集团股份有限公司", "上海电气集团"),  # 集团 stays: the group is its own legal entity
    ("浙江省电力有限公司", "浙江电力"),          # a region kept in the key is folded: no 省/市
    ("上海市电气有限公司", "上海电气"),
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


# ---------------------------------------------------------------- phone forms seen in the field
@pytest.mark.parametrize(("raw", "expected"), [
    # dashes of every kind as separators
    ("131—2345—6789", "13123456789"), ("131–2345–6789", "13123456789"), ("131——2345——6789", "13123456789"),
    ("131―2345―6789", "13123456789"), ("131－2345－6789", "13123456789"), ("131~2345~6789", "13123456789"),
    ("131·2345·6789", "13123456789"), ("0571—87654321", "057187654321"),
    # spreadsheet text prefixes and quotes
    ("'15987654321", "15987654321"), ("‘15987654321", "15987654321"), ('"15987654321"', "15987654321"),
    ('="15987654321"', "15987654321"), ("`15987654321", "15987654321"), ("15987654321.0", "15987654321"),
    ("'0571-87654321", "057187654321"),
    # labels, with 号 / 号码
    ("手机号：186 1234 0000", "18612340000"), ("手机号码: 18612340000", "18612340000"),
    ("电话号码：0571-87654321", "057187654321"), ("联系电话:186-1234-0000", "18612340000"),
    ("联系方式：18612340000", "18612340000"), ("座机号：010-8888 6666", "01088886666"),
    ("Mobile No.: 186 1234 0000", "18612340000"), ("TEL：186 1234 0000", "18612340000"),
    ("王总手机 18612340000", "18612340000"), ("微信同号 18612340000", "18612340000"),
    ("电话2：186-1234-0000", "18612340000"), ("Tel 1: 0571 8765 4321", "057187654321"),
    # trailing notes
    ("13812345678（微信同号）", "13812345678"), ("13812345678 同微信", "13812345678"),
    ("13812345678(微信)", "13812345678"), ("138 1234 5678 微信同号", "13812345678"),
    ("13812345678【本人】", "13812345678"), ("0571-87654321（前台）", "057187654321"),
    ("0571-87654321转801（总机）", "057187654321"), ("13812345678 (mobile)", "13812345678"),
    # a long-distance 0 before a mobile
    ("015912345678", "15912345678"), ("0159 1234 5678", "15912345678"), ("0-159-1234-5678", "15912345678"),
    ("+86 0159 1234 5678", "15912345678"),
    # +86 / 0086 landlines without their trunk 0 (Beijing's 10 included)
    ("+86 10 8888 6666", "01088886666"), ("0086-10-88886666", "01088886666"), ("+861088886666", "01088886666"),
    ("+86-21-61234567", "02161234567"), ("+86 (21) 6123 4567", "02161234567"), ("(+86 21) 6123 4567", "02161234567"),
    ("0086 571 8765 4321", "057187654321"), ("+86 571—8765—4321", "057187654321"), ("86-21-61234567", "02161234567"),
])
def test_field_phone_forms(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("+44 7911 123456", "+447911123456"), ("+44 (0)20 7946 0958", "+442079460958"), ("0044 20 7946 0958", "+442079460958"),
    ("+971 50 123 4567", "+971501234567"), ("+971 4 312 3456", "+97143123456"), ("+65 9123 4567", "+6591234567"),
    ("+65 6123 4567", "+6561234567"), ("+82 10-1234-5678", "+821012345678"), ("+61 412 345 678", "+61412345678"),
    ("+91 98765 43210", "+919876543210"), ("+966 50 123 4567", "+966501234567"), ("+7 495 123-45-67", "+74951234567"),
    ("+65-9123-4567 (新加坡)", "+6591234567"), ("+44 7911 123456 (UK)", "+447911123456"),
    ("UK +44 7911 123456", "+447911123456"), ("Tel: +971 4 312 3456", "+97143123456"),
    ("+44 7911—123456", "+447911123456"), ("'+44 7911 123456", "+447911123456"),
    # a country named beside a national number
    ("英国 07911 123456", "+447911123456"), ("UK: 07911 123456", "+447911123456"),
    ("新加坡 9123 4567", "+6591234567"), ("阿联酋 050 123 4567", "+971501234567"),
    ("9123 4567（新加坡）", "+6591234567"), ("香港 9123 4567", "+85291234567"), ("日本 03-1234-5678", "+81312345678"),
    ("中国 138 1234 5678", "13812345678"),
])
def test_foreign_numbers_with_notes_and_country_names(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


def _example_numbers() -> list[tuple[str, str]]:
    import phonenumbers

    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS - {"CN"}):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                out.append((region, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)))
    return out


@pytest.mark.parametrize(("region", "international"), _example_numbers())
def test_every_country_becomes_e164(region: str, international: str) -> None:
    import phonenumbers

    e164 = phonenumbers.format_number(phonenumbers.parse(international), phonenumbers.PhoneNumberFormat.E164)
    assert normalize_phone(international) == e164
    assert normalize_phone("00" + international[1:]) == e164
    assert normalize_phone(international.replace(" ", "—")) == e164
    assert normalize_phone(f"{international}（微信同号）") == e164
    assert normalize_phone(f"电话：{international}") == e164


@pytest.mark.parametrize("raw", [
    "微信同号", "2023—05—12", "'12345", "手机号：", "012345678901", "138****5678", "13812345678abc", "同微信",
    "0138123456789", "+86 12345", "1.3812345678E10",
])
def test_more_non_phones_are_none(raw: str) -> None:
    assert normalize_phone(raw) is None


def test_several_numbers_with_notes_in_one_field() -> None:
    assert normalize_phones("13812345678（微信同号）/ 0571—87654321 转8 ; '15987654321") == [
        "13812345678", "057187654321", "15987654321"]
    assert normalize_phones("13812345678 或 13912345678") == ["13812345678", "13912345678"]
    assert normalize_phones("13812345678 13912345678") == ["13812345678", "13912345678"]


@pytest.mark.parametrize(("raw", "kind"), [
    ("13812345678", "mobile"), ("+44 7911 123456", "mobile"), ("+1 415 555 2671", "mobile"),
    ("0571-87654321", "fixed"), ("+44 20 7946 0958", "fixed"), ("+65 6123 4567", "fixed"), ("400-123-4567", "fixed"),
    ("hello", None),
])
def test_phone_kind(raw: str, kind: str | None) -> None:
    assert phone_kind(normalize_phone(raw)) == kind


# ---------------------------------------------------------------- contact names seen in the field
@pytest.mark.parametrize(("raw", "expected"), [
    ("王姐", ("王", "姐")), ("李哥", ("李", "哥")), ("刘师傅", ("刘", "师傅")), ("陈董", ("陈", "董")),
    ("赵老板", ("赵", "老板")), ("王阿姨", ("王", "阿姨")), ("张先生", ("张", "先生")), ("王女士", ("王", "女士")),
    ("先生", ("", "先生")), ("女士", ("", "女士")),
])
def test_honorific_forms(raw: str, expected: tuple[str, str | None]) -> None:
    assert split_name_title(raw) == expected


@pytest.mark.parametrize("raw", [
    "用户12345", "用户_8hd72k", "用户", "微信用户", "WeChat User", "wxid_a8s7d6f5", "手机用户1385678", "匿名用户", "匿名",
    "未知", "客户", "新客户", "访客", "游客9527", "user123456", "User_88", "抖音用户", "企业微信用户", "未命名", "无", "暂无",
    "-", "N/A", "null", "未填写", "138****5678", "13812345678", "先生/女士", "客户1", "默认昵称",
])
def test_platform_default_nicknames_carry_no_name(raw: str) -> None:
    parsed = parse_person_name(raw)
    assert (parsed.key, parsed.surname, parsed.full, parsed.spellings) == ("", "", False, frozenset())


@pytest.mark.parametrize(("raw", "key", "title"), [
    ("B华信-周杰", "周杰", None), ("A-周杰", "周杰", None), ("【华信】周杰", "周杰", None), ("[VIP]周杰", "周杰", None),
    ("华信科技-周杰", "周杰", None), ("周杰-华信科技", "周杰", None), ("01 周杰", "周杰", None), ("周杰（华信）", "周杰", None),
    ("杭州-周杰", "周杰", None), ("B华信-周总", "周", "总"), ("华信 周杰", "周杰", None), ("周杰/华信", "周杰", None),
    ("A1-华信-周杰", "周杰", None), ("VIP周杰", "周杰", None), ("2023展会-周杰", "周杰", None), ("周杰13812345678", "周杰", None),
    ("周杰-采购经理", "周杰", "采购经理"), ("欧阳娜娜", "欧阳娜娜", None), ("王小明", "王小明", None), ("司马光", "司马光", None),
    ("Wang Wei (Sales)", "wang wei", None),
])
def test_wechat_remark_prefixes_are_stripped(raw: str, key: str, title: str | None) -> None:
    parsed = parse_person_name(raw)
    assert (parsed.key, parsed.title) == (key, title)


def test_remark_naming_the_company_is_stripped_when_the_company_is_known() -> None:
    assert parse_person_name("华信周杰", company="杭州华信科技有限公司").key == "周杰"
    assert parse_person_name("周杰华信", company="华信科技").key == "周杰"
    assert parse_person_name("华信周杰", company="优品电子商务").key == "华信周杰"


@pytest.mark.parametrize(("latin", "han", "same"), [
    ("Li Wei", "李伟", True), ("Wei Li", "李伟", True), ("LI WEI", "李伟", True), ("liwei", "李伟", True),
    ("Wang Xiaoming", "王小明", True), ("Xiao-Ming Wang", "王小明", True), ("Xiaoming WANG", "王小明", True),
    ("Ouyang Nana", "欧阳娜娜", True), ("Zeng Li", "曾丽", True), ("Shan Tian", "单田", True), ("Lyu Bin", "吕斌", True),
    ("Li Qiang", "李伟", False), ("David Li", "李伟", False), ("Wei", "李伟", False), ("Li Wei", "王伟", False),
    ("", "李伟", False), ("Li Wei", "", False),
])
def test_pinyin_name_match(latin: str, han: str, same: bool) -> None:
    assert pinyin_name_match(latin, han) is same
