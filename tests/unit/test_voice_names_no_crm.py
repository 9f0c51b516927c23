"""Issue 16, no CRM context: names and words read from speech without any list (examples of our own,
none from the bench notes)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pytest

from crm_core.extract import extract_lead_fields
from crm_core.extract.contact import find_contact
from crm_core.voice.asr import Decoded, Transcriber, TranscriberSettings, Transcript
from crm_core.voice.audio import DecodedAudio
from crm_core.voice.crm_words import CrmWords
from crm_core.voice.homophones import best_word, correct_homophones
from crm_core.voice.pipeline import read_transcript
from crm_core.voice.surnames import fix_titles

NOW = datetime.fromisoformat("2026-12-02T10:00:00+08:00")


def _contact(text: str) -> str | None:
    found = find_contact(text)
    return found[0] if found else None


@pytest.mark.parametrize("text, want", [
    ("成都瑞景科技有限公司的孙悦，手机一五九八八八八六六六六", "孙悦"),     # 的 + name + 手机
    ("长江建材的郭涛电话13512345678", "郭涛"),
    ("记录刘洋要采购一批服务器", "刘洋"),                                  # a bare name after 记录
    ("记录一下何静，要两台打印机", "何静"),
    ("杭州明远物流有限公司，郑浩，预算十万", "郑浩"),                      # a terse list: a clause that is a name
    ("南方医科大学附属医院冯院长医院管理平台升级", "冯院长"),              # a title before an org word is a person
    ("恒丰钢铁那边的石工刚才回复说可以", "石工"),                          # 石工 is a word, but it answers
])
def test_contact_without_a_cue_word(text: str, want: str) -> None:
    assert _contact(text) == want


@pytest.mark.parametrize("text", [
    "他们的方案，手机端也要",       # 方案 is a word, no name
    "周五，方便的话过去",           # time and common words between commas
    "记录一下需求",
    "工地那边的施工今天开始",       # 施工 does not answer: the word
    "跟徐工集团谈了",               # 徐工集团 is a company (a one-character title before an org word)
])
def test_no_contact(text: str) -> None:
    assert _contact(text) is None


def test_a_title_splits_a_person_from_the_organisation_before_him() -> None:
    got = extract_lead_fields("南方医科大学附属医院冯院长医院管理平台升级，预算三百万", now=NOW)
    assert got["company"] == "南方医科大学附属医院"
    assert got["contact_name"] == "冯院长"
    assert extract_lead_fields("李老师教育科技有限公司要买平板", now=NOW)["contact_name"] is None


@pytest.mark.parametrize("heard, want", [
    ("运输公司的路经理，", "运输公司的陆经理，"),      # 路 lù (rank > 100) → 陆 lù, far commoner
    ("见了卫主任", "见了魏主任"),
    ("见了于经理", "见了于经理"),                      # 于 is a common surname: kept
    ("负责铁路经理", "负责铁路经理"),                  # 铁路 is a word
    ("信用社那边的和主任说", "信用社那边的何主任说"),    # no 和 joins anything right after 的: hé → 何
    ("我和主任说了", "我和主任说了"),                  # a conjunction where one can be
])
def test_rare_surname_before_a_title(heard: str, want: str) -> None:
    assert fix_titles(heard)[0] == want


def test_a_rare_surname_made_common_is_marked() -> None:
    text = "运输公司的路经理，预算二十万。"
    heard = Transcript(text=text, language="zh", duration_s=6.0, seconds_taken=1.0, confidence=(0.9,) * len(text))
    result = read_transcript(heard, now=NOW)
    assert result.fields["contact_name"] == "陆经理"
    assert "contact_name" in result.review


@pytest.mark.parametrize("heard, want", [
    ("他们要二十台服务气，下周报价", "他们要二十台服务器，下周报价"),   # 气 qì = 器 qì, one character off a word
    ("会议室要装投影移和显示平", "会议室要装投影仪和显示屏"),
    ("嗯那个就是说他们想先看看方案", "嗯那个就是说他们想先看看方案"),  # words already: untouched
    ("跟杭州油品电子商务的人聊了", "跟杭州油品电子商务的人聊了"),     # before an org ending: a name's own word
    ("见了李娟，预算二十万", "见了李娟，预算二十万"),
])
def test_dictionary_homophones(heard: str, want: str) -> None:
    assert correct_homophones(heard) == want


def test_homophones_need_the_same_tone_and_all_but_one_character() -> None:
    assert best_word("投影移") == "投影仪"          # yí = yí
    assert best_word("投影议") is None              # yì is no yí
    assert best_word("宫腔积") != "工控机"           # two characters off: no evidence


def test_a_listed_name_is_never_respelt() -> None:
    text = "显示平科技的王经理要服务气"
    heard = Transcript(text=text, language="zh", duration_s=6.0, seconds_taken=1.0, confidence=(0.9,) * len(text))
    result = read_transcript(heard, now=NOW, words=CrmWords(companies=("显示平科技有限公司",)))
    assert result.transcript.startswith("显示平科技")
    assert "服务器" in result.transcript


def test_a_verb_before_le_is_kept() -> None:
    assert correct_homophones("上午就试见了王总") == "上午就试见了王总"     # 试件 is a word, 见了 is what was said


class _Scripted(Transcriber):
    """Decodings given in order: the policy around any backend."""

    backend = "scripted"

    def __init__(self, outputs: list[str]) -> None:
        super().__init__(TranscriberSettings(language="zh"))
        self.outputs = outputs
        self.calls: list[tuple[str | None, bool]] = []

    def _load(self) -> Any:
        return object()

    def _detect(self, model: Any, audio: DecodedAudio) -> list[tuple[str, float]]:
        return [("zh", 1.0)]

    def _decode(self, model: Any, audio: DecodedAudio, language: str, prompt: str | None, careful: bool) -> Decoded:
        self.calls.append((prompt, careful))
        return Decoded(self.outputs[len(self.calls) - 1], language)


def _audio(seconds: float) -> DecodedAudio:
    return DecodedAudio(samples=np.zeros(int(16000 * seconds), dtype="float32"), duration_s=seconds, format="wav")


def test_a_decoding_that_stopped_after_a_filler_is_decoded_again() -> None:
    scripted = _Scripted(["那个那个。", "那个那个，杭州某某科技的杜总想试用销售管理软件，下周三开始。"])
    heard = scripted.transcribe(_audio(10.0))
    assert heard.retried and "杜总" in heard.text
    assert scripted.calls[1] == (None, True)                         # without the prompt, repeats barred


def test_a_short_note_keeps_its_first_decoding() -> None:
    scripted = _Scripted(["好的。", "好"])
    heard = scripted.transcribe(_audio(6.0))                         # the retry heard no more
    assert heard.text == "好的。" and not heard.retried
    assert _Scripted(["预算二十万"]).transcribe(_audio(3.0)).text == "预算二十万"   # short audio: one decoding


def test_title_marks_heard_around_a_stretch_are_pauses() -> None:
    text = "物业公司的罗经理说小区要上门禁系统《安达》预算三十万"
    heard = Transcript(text=text, language="zh", duration_s=6.0, seconds_taken=1.0, confidence=(0.9,) * len(text))
    result = read_transcript(heard, now=NOW)
    assert result.fields["product"] == "门禁系统"
    assert "《" not in result.transcript and len(result.transcript) == len(text)
