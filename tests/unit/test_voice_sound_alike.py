"""Sound-alike repairs made without any CRM list (issue 16): a title's wrong tone and the surname
before it (流经理 → 刘经理, 王经历 → 王经理), and places written with other characters of the same
sound and tone (和肥 → 合肥); words that merely sound alike stay as they are."""
from __future__ import annotations

from datetime import datetime

import pytest

from crm_core.voice.asr import Transcript
from crm_core.voice.crm_words import CrmWords, correct_names, sales_words
from crm_core.voice.places import correct_places
from crm_core.voice.pipeline import read_transcript
from crm_core.voice.surnames import fix_titles, surname_like

NOW = datetime.fromisoformat("2026-12-02T10:00:00+08:00")


@pytest.mark.parametrize("char, want", [
    ("流", "刘"),        # liú: the commonest surname of that sound and tone
    ("含", "韩"),
    ("卸", "谢"),
    ("验", "闫"),        # yàn: no common surname of that tone, so the commonest of any tone (not the rare 晏)
    ("时", "石"),
    ("的", None),        # no surname is read de
])
def test_surname_like(char: str, want: str | None) -> None:
    assert surname_like(char) == want


@pytest.mark.parametrize("heard, want", [
    ("上午见了采购部的流经理，", "上午见了采购部的刘经理，"),
    ("和赵经历谈了报价", "和赵经理谈了报价"),          # 经历 jīnglì after a surname is 经理 jīnglǐ
    ("约了前经历下周见", "约了钱经理下周见"),            # both at once
    ("见了设备科的含科长", "见了设备科的韩科长"),
    ("跟他们的卸总吃饭", "跟他们的谢总吃饭"),
    ("他们项目经理姓周", "他们项目经理姓周"),            # 项目 is a word: no surname slot
    ("公司的总经理来了", "公司的总经理来了"),            # 总经理 is a title itself
    ("去了发展银行张江支行", "去了发展银行张江支行"),      # 银行 is a word, 行张 no 行长
    ("他的经历很丰富", "他的经历很丰富"),                # 的 is no surname
    ("医院董院长说", "医院董院长说"),                    # a right title is never swapped for another
    ("汇总一下数据", "汇总一下数据"),                    # 总 after a word is no title
])
def test_fix_titles(heard: str, want: str) -> None:
    assert fix_titles(heard)[0] == want


@pytest.mark.parametrize("heard, want", [
    ("和肥新光科技有限公司", "合肥新光科技有限公司"),
    ("哈尔宾某某乳业", "哈尔滨某某乳业"),
    ("实家装一家医院", "石家庄一家医院"),
    ("实验室管理系统", "实验室管理系统"),                # 实验 is a word (十堰 sounds the same)
    ("福州米江物业", "福州米江物业"),                    # a place already
    ("营川赛上酒业", "营川赛上酒业"),                    # yíng is not yín: near sounds are not enough
])
def test_correct_places(heard: str, want: str) -> None:
    assert correct_places(heard) == want


def test_a_guessed_surname_is_marked_for_review() -> None:
    text = "和肥新光科技有限公司的流经理，预算二十万，下周三演示。"
    heard = Transcript(text=text, language="zh", duration_s=8.0, seconds_taken=1.0, confidence=(0.9,) * len(text))
    result = read_transcript(heard, now=NOW)
    assert result.fields["contact_name"] == "刘经理"
    assert result.fields["company"] == "合肥新光科技有限公司"
    assert "contact_name" in result.review           # the surname is a guess by sound: 「请核对」
    assert "budget_cny" not in result.review and result.fields["budget_cny"] == 200000


def test_a_heard_surname_is_not_marked() -> None:
    text = "合肥新光科技有限公司的赵经历，预算二十万。"
    heard = Transcript(text=text, language="zh", duration_s=8.0, seconds_taken=1.0, confidence=(0.9,) * len(text))
    result = read_transcript(heard, now=NOW)
    assert result.fields["contact_name"] == "赵经理"
    assert "contact_name" not in result.review


@pytest.mark.parametrize("heard, want", [
    ("某某大学副属医院", "某某大学附属医院"),            # fù shǔ, same tones: the domain word
    ("工业员区管委会", "工业园区管委会"),
    ("要上安全间控系统", "要上安全监控系统"),
    ("想要一批移动中端", "想要一批移动终端"),
    ("周五也训", "周五也训"),                            # 物业 wù yè is not 五也 wǔ yě: tones must agree
])
def test_domain_words_by_sound(heard: str, want: str) -> None:
    assert correct_names(heard, CrmWords(), sales_words())[0] == want
