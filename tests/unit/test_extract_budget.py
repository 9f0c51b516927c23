"""Budget extraction: number forms, units, ranges (lower bound) and non-money traps."""
import pytest

from crm_core.extract.budget import find_budget
from crm_core.extract.text import clean


@pytest.mark.parametrize("text, expected", [
    ("预算300万", 3_000_000),
    ("能不能先试用一个月，预算五万", 50_000),       # 一个 of an earlier clause is no unit price
    ("先试用一个运,预算五万,明天答复", 50_000),      # ASR text, half-width comma
    ("预算三百万", 3_000_000),
    ("三百来万的预算", 3_000_000),
    ("预算1.2个亿", 120_000_000),
    ("预算一个多亿", 100_000_000),
    ("一点五个亿", 150_000_000),
    ("半个亿的盘子", 50_000_000),
    ("80k", 80_000),
    ("80K", 80_000),
    ("五十万左右", 500_000),
    ("两百五十万", 2_500_000),
    ("3百万", 3_000_000),
    ("1千万", 10_000_000),
    ("5w", 50_000),
    ("5W", 50_000),
    ("两万五", 25_000),
    ("十几万", 100_000),
    ("一亿两千万", 120_000_000),
    ("3000块钱", 3_000),
    ("预算五千", 5_000),
    ("预算 ¥3,000,000", 3_000_000),
    ("budget of 2 million yuan", 2_000_000),
    ("500k RMB", 500_000),
    ("1.5M", 1_500_000),
    ("$50k", 50_000),
    ("two million budget", 2_000_000),
])
def test_number_forms(text, expected):
    assert find_budget(clean(text)) == expected


@pytest.mark.parametrize("text, expected", [
    ("预算在100到150万", 1_000_000),
    ("大概100-150万", 1_000_000),
    ("预算一百到一百五十万", 1_000_000),
    ("预算在500万-800万之间", 5_000_000),
    ("预算150~200万", 1_500_000),
    ("两三百万", 2_000_000),
    ("一两百万", 1_000_000),
    ("预算四五百万", 4_000_000),
])
def test_ranges_take_the_lower_bound(text, expected):
    assert find_budget(clean(text)) == expected


@pytest.mark.parametrize("text", [
    "要买2台服务器", "他们有50个人", "3月15号招标", "打八折 优惠20%", "10万台的产能", "员工2万人",
    "预算还没定", "预算几十万", "电话13912345678", "手机一三九一二三四五六七八", "in 3 weeks", "每台3000元",
])
def test_non_money_is_ignored(text):
    assert find_budget(clean(text)) is None


@pytest.mark.parametrize("text, expected", [
    ("我们报价120万 他们预算100万", 1_000_000),       # the budget word beats the price word
    ("年营收5个亿 预算200万", 2_000_000),             # revenue is no budget
    ("预算七百五十万十二月十号之前投标", 7_500_000),   # Chinese numerals run into a date
    ("预算二十万一月十五号之前上线", 200_000),
    ("预算十五万 月底之前出报价", 150_000),
    ("单价4.5万，预计总价45万", 450_000),
])
def test_budget_in_context(text, expected):
    assert find_budget(clean(text)) == expected
