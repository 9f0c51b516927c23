"""Mandarin voice notes through the packaged Whisper base, on a few of the committed fixtures
(bench/data/voice_zh: the project's own notes, voiced by a neural Chinese TTS; the bench runs all
64): Simplified output, phones from spoken digit groups, the CRM's words correcting names, and
what was borrowed or unsure marked 「请核对」 on the confirm card."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from crm_core.voice import build_transcriber, decode_audio, model_store
from crm_core.voice.crm_words import CrmWords
from crm_core.voice.pipeline import VoicePipeline, read_transcript
from crm_core.voice.textfix import to_simplified
from handlers.drafts import Draft
from handlers.lead_card import REVIEW_MARK, confirm_card

FIXTURES = Path(__file__).resolve().parents[2] / "bench" / "data" / "voice_zh"
NOW = datetime.fromisoformat("2026-12-02T10:00:00+08:00")
pytestmark = pytest.mark.skipif(model_store.find_parts() is None, reason="the packaged Whisper base is not installed")


@pytest.fixture(scope="module")
def pipeline() -> VoicePipeline:
    transcriber = build_transcriber(threads=2)
    try:
        transcriber.load()
    except Exception as exc:  # noqa: BLE001 - no faster-whisper here: nothing to test
        pytest.skip(f"cannot load the packaged model: {exc}")
    return VoicePipeline(transcriber)


def test_grouped_phone_from_feishu_opus(pipeline: VoicePipeline) -> None:
    """「电话一三七，三八二九，五五六六」 said in three groups comes back as one phone number."""
    result = pipeline.run(decode_audio((FIXTURES / "zh020.opus").read_bytes()), now=NOW)
    assert result.language == "zh"
    assert to_simplified(result.transcript) == result.transcript
    assert result.fields["phone"] == "13738295566"
    assert result.fields["timeline"] == "2026-12-09"
    assert len(result.heard.confidence) == len(result.heard.text)
    assert len(set(result.heard.confidence)) > 5            # per character (greedy log-probs), not per segment
    assert all(0.0 < c <= 1.0 for c in result.heard.confidence)


def test_crm_words_correct_and_the_card_asks_to_check(pipeline: VoicePipeline) -> None:
    """WeCom AMR: 宁波港盛物流 misheard as 港售, 张磊 as 张雷, the phone split and one digit lost; with the
    customer in the CRM all three are put right from the transcript, and each is marked 「请核对」
    (borrowed from the list, never linked silently). With the names in the prompt too, whatever
    listed name the transcript holds is marked the same way: the model may have copied it."""
    audio = decode_audio((FIXTURES / "zh002.amr").read_bytes())
    words = CrmWords(companies=("宁波港盛物流有限公司", "杭州优品电子商务有限公司"), contacts=("张磊", "李娟"),
                     phones=("13958061234", "13812345678"), products=("冷链监控", "客服系统"))
    bare = pipeline.run(audio, now=NOW)
    assert bare.fields["company"] != "宁波港盛物流有限公司" and bare.fields["phone"] is None, bare.transcript
    after = read_transcript(bare.heard, now=NOW, words=words)
    assert after.fields["company"] == "宁波港盛物流有限公司" and after.fields["phone"] == "13958061234", after.transcript
    assert after.fields["budget_cny"] == 850000
    card = confirm_card(Draft(fields=dict(after.fields), source="voice", transcript=after.transcript,
                              review=sorted(after.review)))
    shown = {f.label: f.value for f in card.fields}
    assert shown["公司"].endswith(REVIEW_MARK) and shown["电话"].endswith(REVIEW_MARK)
    assert card.text and "宁波港盛物流" in card.text
    prompted = pipeline.run(audio, now=NOW, words=words)
    for field in ("company", "contact_name", "phone"):
        if prompted.fields[field] in (words.companies + words.contacts + words.phones):
            assert field in prompted.review, (field, prompted.transcript)
