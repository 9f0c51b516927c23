"""Mandarin voice repairs without a model: numbers, loops, prompt echoes, Simplified script,
language choice, the CRM's words (pinyin correction, prompt), and 「请核对」 on the confirm card
for every field read from an unsure stretch (issue 16)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from crm_core.voice.asr import DEFAULT_ZH_PROMPT, Decoded, Transcriber, TranscriberSettings, Transcript
from crm_core.voice.audio import DecodedAudio
from crm_core.voice.crm_words import CrmWords, company_core, correct_names, nearest_phone, prompt_words, sales_words
from crm_core.voice.numbers import normalize_numbers
from crm_core.voice.pipeline import read_transcript
from crm_core.voice.textfix import carry, collapse_loops, has_loop, strip_prompt_echo, to_simplified
from handlers.drafts import Draft
from handlers.lead_card import REVIEW_MARK, confirm_card

NOW = datetime.fromisoformat("2026-12-02T10:00:00+08:00")


@pytest.mark.parametrize("said, want", [
    ("电话一三七，三八二九，五五六六要", "电话13738295566要"),
    ("座机零二九八八六五四三二一", "座机02988654321"),           # the leading zero stays
    ("手机幺三八一二三四五六七八", "手机13812345678"),
    ("电话137，3829，5566要", "电话13738295566要"),
    ("0571-8888 6666", "057188886666"),
    ("预算二十万，85万", "预算二十万，85万"),                      # amounts are left to the extractor
    ("一二三四五", "一二三四五"),                                   # too short for a phone
    ("139 580 612 3次", "139 580 612 3次"),                      # no phone: left as heard
])
def test_spoken_and_grouped_digits(said: str, want: str) -> None:
    assert normalize_numbers(said) == want


def test_loops_are_caught_and_cut() -> None:
    looped = "嗯那个就是" + "的" * 30
    assert has_loop(looped)
    assert collapse_loops(looped) == "嗯那个就是的"
    assert has_loop("那个那个那个那个那个预算二十万")
    assert not has_loop("嗯嗯嗯，电话13888888888，预算二十万")          # fillers and digits may repeat
    assert not has_loop("今天拜访了杭州优品电子商务有限公司的李娟")


def test_prompt_echoes_are_cut_whole_or_partial() -> None:
    assert strip_prompt_echo(DEFAULT_ZH_PROMPT, DEFAULT_ZH_PROMPT).strip("，。") == ""
    tail = "包含客户、公司、预算和时间。"
    assert strip_prompt_echo(f"李经理想要收银机{tail}", DEFAULT_ZH_PROMPT).rstrip("。") == "李经理想要收银机"
    assert strip_prompt_echo("预算和时间都定了", DEFAULT_ZH_PROMPT) == "预算和时间都定了"   # 5 characters: speech


def test_simplified_and_confidence_carried() -> None:
    assert to_simplified("他們預算三十萬，下週簽約") == "他们预算三十万，下周签约"
    assert carry("电话一三八", [1.0, 1.0, 0.9, 0.2, 0.8], "电话138") == [1.0, 1.0, 0.2, 0.2, 0.2]


class _Scripted(Transcriber):
    """A transcriber whose decodings are given: tests the policy around any backend."""

    backend = "scripted"

    def __init__(self, outputs: list[str], probabilities: list[tuple[str, float]], **settings: Any) -> None:
        super().__init__(TranscriberSettings(**settings))
        self.outputs, self.probabilities = outputs, probabilities
        self.calls: list[tuple[str, str | None, bool]] = []

    def _load(self) -> Any:
        return object()

    def _detect(self, model: Any, audio: DecodedAudio) -> list[tuple[str, float]]:
        return self.probabilities

    def _decode(self, model: Any, audio: DecodedAudio, language: str, prompt: str | None, careful: bool) -> Decoded:
        self.calls.append((language, prompt, careful))
        return Decoded(self.outputs[min(len(self.calls), len(self.outputs)) - 1], language)


AUDIO = DecodedAudio(samples=__import__("numpy").zeros(16000, dtype="float32"), duration_s=1.0, format="wav")


@pytest.mark.parametrize("probabilities, want", [
    ([("en", 0.6), ("zh", 0.3)], "zh"),          # English only on confident detection
    ([("en", 0.9), ("zh", 0.05)], "en"),
    ([("ja", 0.7), ("zh", 0.2)], "zh"),          # other languages are never chosen
    ([("yue", 0.8), ("en", 0.1)], "zh"),
])
def test_mandarin_first(probabilities: list[tuple[str, float]], want: str) -> None:
    scripted = _Scripted(["好的"], probabilities)
    assert scripted.transcribe(AUDIO).language == want


def test_loop_is_retried_once_without_prompt_and_deterministically() -> None:
    scripted = _Scripted(["预算" + "二十" * 20, "預算二十萬"], [("zh", 0.99)])
    heard = scripted.transcribe(AUDIO)
    assert heard.retried and heard.text == "预算二十万"
    assert scripted.calls == [("zh", DEFAULT_ZH_PROMPT, False), ("zh", None, True)]


def test_silence_answered_with_the_prompt_tail_is_no_speech() -> None:
    from crm_core.voice.errors import VoiceError
    scripted = _Scripted(["包含客户、公司、预算和时间。", "包含客户、公司、预算和时间。"], [("zh", 0.99)], language="zh")
    with pytest.raises(VoiceError) as err:
        scripted.transcribe(AUDIO)
    assert err.value.code == "no_speech"


WORDS = CrmWords(companies=("杭州优品电子商务有限公司", "宁波港盛物流有限公司", "华润万家(深圳)有限公司"),
                 contacts=("李娟", "张磊", "邓经理"), phones=("13958061234",), products=("监护仪", "客服系统"))


def test_names_that_sound_alike_are_corrected_and_reported() -> None:
    text, borrowed = correct_names("去了杭州优品店资商物有限公司,张雷说要监护移", WORDS)
    assert text == "去了杭州优品电子商务有限公司,张磊说要监护仪"
    assert [(b.heard, b.name, b.kind) for b in borrowed] == [
        ("杭州优品店资商物有限公司", "杭州优品电子商务有限公司", "company"), ("张雷", "张磊", "contact"),
        ("监护移", "监护仪", "product")]
    assert correct_names("往返说明天再谈", WORDS) == ("往返说明天再谈", [])      # no name sounds like this
    assert correct_names("周五也训", CrmWords(), sales_words())[0] == "周五也训"   # tones differ: 物业 is not said
    assert correct_names("优品店紫商物有限公司", CrmWords(), sales_words())[0] == "优品电子商务有限公司"  # 子 is neutral


def test_prompt_and_core_names() -> None:
    assert company_core("杭州优品电子商务有限公司") == "优品电子商务"
    assert company_core("华润万家(深圳)有限公司") == "华润万家"
    prompt = prompt_words(WORDS, budget=20)
    assert prompt.startswith("客户：优品电子商务、港盛物流") and len(prompt) <= 30
    assert nearest_phone("1395806123", WORDS.phones) == "13958061234"
    assert nearest_phone("1380000000", WORDS.phones) is None


def _heard(text: str, unsure: str | None = None) -> Transcript:
    confidence = [0.95] * len(text)
    if unsure:
        start = text.index(unsure)
        confidence[start:start + len(unsure)] = [0.2] * len(unsure)
    return Transcript(text=text, language="zh", duration_s=8.0, seconds_taken=1.0, confidence=tuple(confidence))


def _card_fields(result: Any) -> dict[str, str]:
    draft = Draft(fields=dict(result.fields), source="voice", transcript=result.transcript,
                  review=sorted(result.review))
    card = confirm_card(draft)
    assert card.text and result.transcript[:10] in card.text               # the transcript is always shown
    return {f.label: f.value for f in card.fields}


NOTE = "杭州优品电子商务有限公司的李娟，电话13812345678，预算20万，下周三演示"


def test_confident_transcript_fills_the_card_without_marks() -> None:
    fields = _card_fields(read_transcript(_heard(NOTE), now=NOW))
    assert fields["电话"] == "13812345678" and fields["预算"] == "¥20万"
    assert not any(REVIEW_MARK in v for v in fields.values())


@pytest.mark.parametrize("field, label, span", [("phone", "电话", "13812345678"), ("budget_cny", "预算", "20万")])
def test_card_never_shows_a_phone_or_budget_from_an_unsure_span_unmarked(field: str, label: str, span: str) -> None:
    start = NOTE.index(span)
    for i in range(start, start + len(span)):          # any one unsure character of the value
        confidence = [0.95] * len(NOTE)
        confidence[i] = 0.1
        heard = Transcript(text=NOTE, language="zh", duration_s=8.0, seconds_taken=1.0, confidence=tuple(confidence))
        result = read_transcript(heard, now=NOW)
        shown = _card_fields(result)[label]
        assert shown == "—" or shown.endswith(REVIEW_MARK), (i, shown)
        assert field in result.review or result.fields[field] is None


def test_borrowed_names_and_phones_are_marked_never_linked_silently() -> None:
    heard = _heard("宁波港售物流有限公司,张雷,139 580 612 3次,预算85万")
    result = read_transcript(heard, now=NOW, words=WORDS)
    assert result.fields["company"] == "宁波港盛物流有限公司" and result.fields["phone"] == "13958061234"
    assert {"company", "phone", "contact_name"} & set(result.review) == {"company", "phone"} | (
        {"contact_name"} if result.fields["contact_name"] else set())
    shown = _card_fields(result)
    assert shown["公司"].endswith(REVIEW_MARK) and shown["电话"].endswith(REVIEW_MARK)
    assert shown["预算"] == "¥85万"                                        # heard clearly: no mark
