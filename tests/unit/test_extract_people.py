"""Contact and company extraction: title forms, full names, and the traps around them."""
import pytest

from crm_core.extract.company import find_company
from crm_core.extract.contact import find_contact
from crm_core.extract.text import clean


def _contact(text):
    found = find_contact(clean(text))
    return found[0] if found else None


def _company(text):
    cleaned = clean(text)
    contact = find_contact(cleaned)
    return find_company(cleaned, contact[1] if contact else None, contact[0] if contact else None)


@pytest.mark.parametrize("text, expected", [
    ("记录张总要采购CT设备", "张总"), ("李经理说", "李经理"), ("王工在现场", "王工"), ("赵总监", "赵总监"),
    ("刘主任", "刘主任"), ("陈老师", "陈老师"), ("孙院长", "孙院长"), ("周处长", "周处长"), ("吴科长", "吴科长"),
    ("王副总", "王副总"), ("司马经理", "司马经理"), ("跟老王聊了", "老王"),
    ("联系人张伟电话", "张伟"), ("跟李娜聊了", "李娜"), ("找王建国", "王建国"), ("联系人司马光", "司马光"),
    ("欧阳娜娜说", "欧阳娜娜"), ("采购部的李明经理", "李明"), ("找李明天再聊", "李明"),
    ("美团的产品总监欧阳娜娜", "欧阳娜娜"), ("联系人是采购部的沈丽", "沈丽"),
    ("老周介绍的客户 对接人是采购部钱工", "钱工"),            # an explicit 对接人 wins
    ("Mr. Wang from Acme", "Mr. Wang"), ("Ms. Li", "Ms. Li"), ("Director Zhang", "Director Zhang"),
    ("spoke with Lisa Chen today", "Lisa Chen"), ("met ms. tang at the show", "ms. tang"),
])
def test_contact_forms(text, expected):
    assert _contact(text) == expected


@pytest.mark.parametrize("text", [
    "华为要买服务器", "高总价不超过三百万", "提高总体效率", "张家口的客户", "跟张家口那边", "工程经理",
    "施工队", "项目经理", "对方总经理", "和经理聊了", "语文老师", "向经理汇报", "跟进一下", "找个时间",
    "跟周五", "叫华瑞纺织", "跟徐工集团", "定一下采购方案",
])
def test_not_a_contact(text):
    assert _contact(text) is None


@pytest.mark.parametrize("text, expected", [
    ("刚跟杭州优品的李经理通了电话", "杭州优品"),
    ("杭州优品科技有限公司的王总", "杭州优品科技有限公司"),
    ("华西医院设备科的赵科长", "华西医院"),
    ("今天去浙大一院拜访", "浙大一院"),
    ("招商银行深圳分行的赵行长", "招商银行深圳分行"),
    ("湖南师范大学附属中学 的 谭校长", "湖南师范大学附属中学"),
    ("顺丰速运 华南区的 邓经理", "顺丰速运"),
    ("北京四中的陈老师", "北京四中"),
    ("客户是重庆的小面连锁店 叫遇见小面 老板是符总", "遇见小面"),
    ("Mr. Wang from Globex wants a demo", "Globex"),
    ("met Lisa at Acme Ltd", "Acme Ltd"),
    ("Mr. Huang at Pacific Energy Co. wants a pilot", "Pacific Energy Co."),
])
def test_company_as_said(text, expected):
    assert _company(text) == expected


@pytest.mark.parametrize("text", [
    "他们公司想上CRM", "采购部的王经理", "杭州的李经理", "上海外高桥的一家贸易公司", "他们要上直播电商中台",
    "想采购一批防水材料检测设备", "记录张总要采购CT设备",
])
def test_not_a_company(text):
    assert _company(text) is None
