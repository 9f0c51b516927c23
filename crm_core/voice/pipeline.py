"""A voice note's audio → transcript → lead fields, with what the CRM already knows, and which
fields the rep must check (「请核对」) before they count.

A field is marked for review when its value depends on a stretch the model was unsure of: the
fields are read once from the transcript and once with every low-confidence character blanked
out; a value that changes (or disappears) came from an unsure stretch. Names put in from the
CRM's list (`crm_words.correct_names`) and phones matched to a listed one count as unsure
stretches too, so a borrowed name or number is always shown for confirmation, never linked
silently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_core.extract import FIELDS, extract_lead_fields
from crm_core.voice.asr import Transcriber, Transcript
from crm_core.voice.audio import DecodedAudio
from crm_core.voice.crm_words import (Borrowed, CrmWords, company_core, correct_names, nearest_phone, prompt_words,
                                      sales_words)
from crm_core.voice.homophones import correct_homophones
from crm_core.voice.places import correct_places
from crm_core.voice.surnames import fix_titles
from crm_core.voice.textfix import carry

__all__ = ["CrmWords", "REVIEW_BELOW", "VoicePipeline", "VoiceResult", "fields_to_review", "read_transcript"]

# Characters written with a token probability below this are unsure (greedy decoding; see the
# benchmark notes in docs/benchmarks.md for how it was chosen).
REVIEW_BELOW = 0.4
_MASK = "□"
_VOCABULARY = sales_words()
# Title marks cannot be spoken: Whisper puts them around stretches it heard poorly
# (「停车系统《彭达盖》25万」), where they cut names and products apart; they are read as pauses.
_BOOK_MARKS = str.maketrans("《》〈〉", "，，，，")
_DIGIT_RUN = re.compile(r"\d[\d\s,，.、\-]{6,}\d")


@dataclass(frozen=True)
class VoiceResult:
    transcript: str                      # what the card shows (after name correction)
    heard: Transcript                    # the recogniser's own result
    fields: dict[str, Any]
    review: frozenset[str] = frozenset()
    borrowed: tuple[Borrowed, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def language(self) -> str:
        return self.heard.language

    @property
    def seconds(self) -> float:
        return self.heard.seconds_taken


class VoicePipeline:
    def __init__(self, transcriber: Transcriber, review_below: float = REVIEW_BELOW) -> None:
        self.transcriber = transcriber
        self.review_below = review_below

    def listens_for(self, words: CrmWords | None) -> bool:
        """CRM words go into the decoding prompt, so they change what is heard."""
        return bool(words and prompt_words(words))

    def run(self, audio: DecodedAudio, *, now: datetime | None = None, words: CrmWords | None = None,
            industries: dict[str, list[str]] | None = None, heard: Transcript | None = None) -> VoiceResult:
        """`heard`: a transcript of this audio made without CRM words, reused when the words would
        not change what is heard."""
        if heard is None or self.listens_for(words):
            heard = self.transcriber.transcribe(audio, hotwords=prompt_words(words) if words else None)
        return read_transcript(heard, now=now, words=words, industries=industries, review_below=self.review_below)


def read_transcript(heard: Transcript, *, now: datetime | None = None, words: CrmWords | None = None,
                    industries: dict[str, list[str]] | None = None,
                    review_below: float = REVIEW_BELOW) -> VoiceResult:
    text = heard.text
    confidence = list(heard.confidence) if len(heard.confidence) == len(text) else [1.0] * len(text)
    borrowed: list[Borrowed] = []
    if heard.language == "zh":
        text = text.translate(_BOOK_MARKS)
        corrected, replaced = correct_names(text, words or CrmWords(), _VOCABULARY)
        confidence = carry(text, confidence, corrected)
        text = corrected
        borrowed = [item for item in replaced if item.kind != "word"]
        text = correct_homophones(text, keep=[(item.start, item.end) for item in replaced]   # same length
                                  + _listed_spans(text, words))
        titled, guessed = fix_titles(correct_places(text))
        confidence = carry(text, confidence, titled)
        text = titled
        for pos in guessed:                # a surname guessed from its sound: the rep confirms it
            confidence[pos] = 0.0
    if words:
        text, confidence, phone = _borrow_phone(text, confidence, words.phones)
        if phone is not None:
            borrowed.append(phone)
    if heard.hotwords:                     # a name the prompt held may be the model repeating it
        borrowed += _prompted(text, heard.hotwords, borrowed)
    for item in borrowed:                  # borrowed from the list: the rep confirms it
        confidence[item.start:item.end] = [0.0] * (item.end - item.start)

    def read(note: str) -> dict[str, Any]:
        found = extract_lead_fields(note, now=now, industries=industries,
                                    known_companies=(words.companies or None) if words else None,
                                    products=(words.products or None) if words else None)
        return {k: found.get(k) for k in FIELDS}

    fields = read(text)
    review = fields_to_review(text, confidence, fields, read, review_below)
    return VoiceResult(transcript=text, heard=heard, fields=fields, review=review, borrowed=tuple(borrowed))


def fields_to_review(text: str, confidence: list[float], fields: dict[str, Any], read: Any,
                     review_below: float = REVIEW_BELOW) -> frozenset[str]:
    """The filled fields whose value changes when the unsure characters are blanked out."""
    unsure = [i for i, value in enumerate(confidence[:len(text)]) if value < review_below]
    if not unsure:
        return frozenset()
    chars = list(text)
    for i in unsure:
        chars[i] = _MASK
    sure_only = read("".join(chars))
    return frozenset(k for k, v in fields.items() if v not in (None, "") and sure_only.get(k) != v)


def _listed_spans(text: str, words: CrmWords | None) -> list[tuple[int, int]]:
    """Where the transcript already spells a name the CRM holds: no sound-alike pass touches it."""
    if not words:
        return []
    names = {*words.companies, *map(company_core, words.companies), *words.contacts, *words.products}
    return [m.span() for name in names if len(name) >= 2 for m in re.finditer(re.escape(name), text)]


def _prompted(text: str, hotwords: str, already: list[Borrowed]) -> list[Borrowed]:
    names = sorted({n for n in re.split(r"[：；、。]", hotwords) if len(n) >= 2 and n not in ("客户", "联系人", "产品")},
                   key=len, reverse=True)
    found: list[Borrowed] = []
    for name in names:
        for match in re.finditer(re.escape(name), text):
            span = (match.start(), match.end())
            if not any(b.start < span[1] and span[0] < b.end for b in [*already, *found]):
                found.append(Borrowed(span[0], span[1], name, name, "prompt"))
    return found


def _borrow_phone(text: str, confidence: list[float], phones: tuple[str, ...]) -> tuple[str, list[float], Borrowed | None]:
    """A digit run that is no phone by itself but one or two digits from a listed phone becomes that phone."""
    if not phones:
        return text, confidence, None
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if digits in phones or not 8 <= len(digits) <= 13:
            continue
        phone = nearest_phone(digits, phones)
        if phone is None:
            continue
        new = text[:match.start()] + phone + text[match.end():]
        low = min(confidence[match.start():match.end()], default=0.0)
        confidence = confidence[:match.start()] + [low] * len(phone) + confidence[match.end():]
        return new, confidence, Borrowed(match.start(), match.start() + len(phone), match.group(), phone, "phone")
    return text, confidence, None
