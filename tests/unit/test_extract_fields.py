"""extract_lead_fields end to end: seed sentence, phones, products, actions, industries, robustness."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from crm_core.extract import DEFAULT_INDUSTRIES, FIELDS, extract_lead_fields

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_seed_sentence():
    got = extract_lead_fields("记录张总要采购CT设备,预算300万,3月招标", now=NOW)
    assert got == {"contact_name": "张总", "company": None, "phone": None, "product": "CT设备",
                   "budget_cny": 3_000_000, "timeline": "2027-03", "next_action": "招标", "industry": "医疗"}


def test_issue_example_in_asr_style():
    got = extract_lead_fields("刚跟杭州优品的李经理通了电话 他们想上那个CRM 嗯 预算大概五十万 下周三约演示 手机幺三九一二三四五六七八",
                              now=NOW)
    assert (got["contact_name"], got["company"], got["product"], got["budget_cny"], got["timeline"],
            got["next_action"], got["phone"]) == ("李经理", "杭州优品", "CRM", 500_000, "2026-11-25", "演示",
                                                 "13912345678")


@pytest.mark.parametrize("text, expected", [
    ("手机13912345678", "13912345678"),
    ("电话 139 1234 5678。", "13912345678"),
    ("+86 139-1234-5678", "13912345678"),
    ("电话0571-88776655", "057188776655"),
    ("幺三九 一二三四 五六七八", "13912345678"),
    ("手机号是139 一二三四 五六七八", "13912345678"),
    ("电话零三五一七七七八八八八", "03517778888"),
    ("mobile 13822223333.", "13822223333"),
    ("预算300万 3月15号", None),
    ("订单号1391234567", None),
])
def test_phone(text, expected):
    assert extract_lead_fields(text, now=NOW)["phone"] == expected


def test_phone_digits_are_not_budget_or_date():
    got = extract_lead_fields("电话13912345678 手机一三八零零一三八零零零", now=NOW)
    assert got["budget_cny"] is None and got["timeline"] is None and got["phone"] == "13912345678"


@pytest.mark.parametrize("text, expected", [
    ("要买50台服务器", "服务器"), ("他们想上那个CRM系统预算大概五十万", "CRM系统"), ("采购一批医用耗材", "医用耗材"),
    ("对我们的MES很感兴趣", "MES"), ("客户要换一批办公电脑", "办公电脑"), ("医院打算采购两台彩超", "彩超"),
    ("要把办公电脑全部换掉", "办公电脑"), ("要换全国门店的收银系统", "收银系统"), ("要上ERP和WMS", "ERP和WMS"),
    ("interested in our ERP", "ERP"), ("looking to buy 20 laptops for sales", "laptops"),
    ("wants a demo of our WMS next week", "WMS"), ("需要尽快安排演示", None), ("跟王总聊了 预算三百万", None),
    ("采购张姐说", None), ("李明手机是13912345678", None), ("王总手机号:13912345678", None),
    ("刘经理电话 0571-88886666", None),
])
def test_product(text, expected):
    assert extract_lead_fields(text, now=NOW)["product"] == expected


@pytest.mark.parametrize("text, expected", [
    ("3月招标", "招标"), ("上周拜访了 下周三约演示", "演示"), ("我们报价120万 下周签约", "签约"),
    ("拜访过了 想看演示", "演示"), ("约了周三去学校做演示", "演示"), ("月底前给他们报价", "报价"),
    ("下周五签合同", "签约"), ("demo next week", "演示"), ("send proposal by Friday", "发方案"),
    ("follow up tomorrow", "回访"), ("tender in March", "招标"), ("预算三百万", None),
])
def test_next_action(text, expected):
    assert extract_lead_fields(text, now=NOW)["next_action"] == expected


@pytest.mark.parametrize("text, expected", [
    ("华西医院要采购服务器", "医疗"), ("要采购CT设备", "医疗"), ("长沙岳麓区教育局的罗科长", "政府"),
    ("成都七中的汪老师", None), ("成都第七中学的汪老师", "教育"), ("宁波港通物流的陈总", "物流"),
    ("杭州优品的李经理想上CRM", None), ("他们想上一套HR系统", None), ("江苏银行的林行长", "金融"),
])
def test_industry_default_table(text, expected):
    assert extract_lead_fields(text, now=NOW)["industry"] == expected


def test_industry_table_is_configurable():
    table = {"宠物": ["宠物", "猫粮"], **DEFAULT_INDUSTRIES}
    assert extract_lead_fields("客户要采购一批猫粮", now=NOW, industries=table)["industry"] == "宠物"
    assert extract_lead_fields("客户要采购一批猫粮", now=NOW)["industry"] is None


@pytest.mark.parametrize("text", [
    "", None, 12345, "😀" * 200, "x" * 10_000, "预算" * 5_000, "的" * 10_000, "\x00\x01\n\t", "下周三" * 3_000,
    "一二三四五六七八九" * 1_000, "$$$kkkwww万万万亿亿", "((((((", "联系人" * 2_000,
])
def test_never_raises_and_keeps_the_shape(text):
    got = extract_lead_fields(text, now=NOW)
    assert tuple(got) == FIELDS


def test_naive_now_is_shanghai_time():
    assert extract_lead_fields("明天演示", now=datetime(2026, 11, 22, 23, 30))["timeline"] == "2026-11-23"
