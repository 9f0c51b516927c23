"""Speech recognition behind one interface: `Transcriber` (lazy, load-once, thread-safe) with a
faster-whisper and an openai-whisper backend chosen by name in `build_transcriber`, plus
`asr_status` for /healthz that never loads a model."""
from __future__ import annotations

import importlib.util
import logging
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from crm_core.voice.audio import DecodedAudio, probe_ffmpeg
from crm_core.voice.errors import VoiceError
from crm_core.voice.model_store import model_status
from crm_core.voice.numbers import normalize_numbers
from crm_core.voice.textfix import carry, collapse_loops, has_loop, strip_prompt_echo, to_simplified

log = logging.getLogger(__name__)

BACKENDS = ("faster-whisper", "openai-whisper")
# Whisper follows its prompt's script and punctuation: a Simplified, punctuated sales-note prompt
# steers zh output away from Traditional characters and run-on text.
DEFAULT_ZH_PROMPT = "以下是普通话的销售跟进记录，包含客户、公司、预算和时间。"
# Reps speak Mandarin or English; base-size models often mislabel Mandarin as ja/ko/yue, which
# then decodes as garbage, so auto-detection picks the likeliest of these.
DEFAULT_LANGUAGES: tuple[str, ...] = ("zh", "en")
# Whole-transcript outputs Whisper is known to invent on noise or silence.
_HALLUCINATIONS = frozenset({
    "谢谢观看", "谢谢大家", "字幕由amara.org社区提供", "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "thank you", "thanks for watching", "thank you for watching", "subtitles by the amara.org community",
    "you",
})


@dataclass(frozen=True)
class Transcript:
    """Recognised text; `seconds_taken` counts recognition only (not a first-call model load).
    `confidence` has one value in [0, 1] per character of `text` (the model's probability of the
    token that wrote it; a stretch repaired after recognition gets the lowest of what it replaced),
    empty when the backend gives none. `retried`: the first decoding looped or echoed its prompt."""

    text: str
    language: str
    duration_s: float
    seconds_taken: float
    confidence: tuple[float, ...] = ()
    retried: bool = False
    hotwords: str | None = None           # the CRM words the decoding prompt held (their names may be echoes)

    @property
    def mean_confidence(self) -> float | None:
        return sum(self.confidence) / len(self.confidence) if self.confidence else None


@dataclass(frozen=True)
class Decoded:
    """One decoding pass: text, language, per-character probabilities (or None)."""

    text: str
    language: str
    confidence: list[float] | None = None


@dataclass(frozen=True)
class TranscriberSettings:
    model_path: str | None = None
    cache_dir: str | None = None
    data_dir: str = "./data"
    compute_type: str = "int8"
    threads: int = 2
    language: str | None = None
    initial_prompt: str | None = None     # None: DEFAULT_ZH_PROMPT for zh; "": no prompt
    beam_size: int = 1                    # 1 (greedy) gives per-character confidence and is fastest
    languages: tuple[str, ...] | None = DEFAULT_LANGUAGES
    # Detection picks a language other than the first of `languages` only when this sure of it.
    switch_probability: float = 0.8


class Transcriber(ABC):
    """One loaded model, shared by worker threads; recognitions run one at a time."""

    backend: ClassVar[str]

    def __init__(self, settings: TranscriberSettings) -> None:
        self.settings = settings
        self.model_source: str | None = None       # where the loaded model came from
        self._model: Any = None
        self._load_lock = threading.Lock()
        # On a 2-core box parallel decodes only thrash each other; queueing keeps each fast.
        self._run_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the model now (idempotent); VoiceError("asr_disabled") when it cannot be."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is None:
                self._model = self._load()

    def transcribe(self, audio: DecodedAudio, language: str | None = None, hotwords: str | None = None) -> Transcript:
        """Recognise `audio`; language None means the configured one, else Mandarin unless another
        allowed language is detected with confidence. `hotwords` (names the CRM knows) extend the
        prompt. A loop, an echo of the prompt or a transcript far too short for the audio (decoding
        stopped after a filler) is decoded once more, without prompt and with repeats barred
        (deterministic: no sampling); what still loops is cut to one copy."""
        if audio.sample_rate != 16000:
            raise VoiceError("asr_failed", f"{self.backend} needs 16 kHz audio, got {audio.sample_rate}")
        self.load()
        wanted = normalize_language(language or self.settings.language)
        started = time.perf_counter()
        try:
            with self._run_lock:
                if wanted is None:
                    wanted = self.pick_language(self._detect(self._model, audio))
                prompt = self.prompt_for(wanted, hotwords)
                decoded = self._decode(self._model, audio, wanted, prompt, careful=False)
                text, confidence = self._repair(decoded, prompt)
                retried = False
                short = _stopped_early(text, audio.duration_s)
                if has_loop(decoded.text) or _echoed(decoded.text, text) or short:
                    retried = True
                    first = (decoded, text, confidence)
                    decoded = self._decode(self._model, audio, wanted, None, careful=True)
                    text, confidence = self._repair(decoded, prompt)     # still no echo of what it was told
                    if short and len(_fold(text)) <= len(_fold(first[1])):
                        (decoded, text, confidence), retried = first, False   # a short note after all
        except VoiceError:
            raise
        except Exception as exc:  # noqa: BLE001 - any backend crash becomes a polite reply
            log.exception("%s transcription failed", self.backend)
            raise VoiceError("asr_failed", f"{self.backend}: {type(exc).__name__}: {exc}") from exc
        if not _fold(text) or is_hallucination(text, prompt):
            raise VoiceError("no_speech", f"{self.backend} heard nothing usable")
        return Transcript(text=text, language=decoded.language, duration_s=audio.duration_s,
                          seconds_taken=time.perf_counter() - started, confidence=tuple(confidence),
                          retried=retried, hotwords=hotwords if prompt and hotwords and not retried else None)

    def _repair(self, decoded: Decoded, prompt: str | None) -> tuple[str, list[float]]:
        """Clean, Simplified script for Chinese, prompt echoes cut, loops cut, spoken numbers as digits;
        per-character confidence carried through every step."""
        text = clean_transcript(decoded.text)
        # A backend without probabilities (or a mismatch) vouches for nothing in particular: 1.0.
        raw = decoded.confidence if decoded.confidence and len(decoded.confidence) == len(decoded.text) \
            else [1.0] * len(decoded.text)
        confidence = carry(decoded.text, raw, text)
        steps = [lambda t: strip_prompt_echo(t, prompt), collapse_loops]
        if decoded.language == "zh":
            steps = [to_simplified, *steps, normalize_numbers]
        for step in steps:
            new = clean_transcript(step(text))
            confidence = carry(text, confidence, new)
            text = new
        return text, confidence

    def prompt_for(self, language: str | None, hotwords: str | None = None) -> str | None:
        """The decoding prompt: the configured one, else the Chinese default for zh only; plus hotwords."""
        if self.settings.initial_prompt is not None:
            base = self.settings.initial_prompt or None
        else:
            base = DEFAULT_ZH_PROMPT if language == "zh" else None
        if hotwords and language == "zh":
            # The model follows the end of its prompt most: the names first, a punctuated sentence last.
            return f"{hotwords}{base or ''}"
        return base

    def pick_language(self, probabilities: Iterable[tuple[str, float]]) -> str:
        """The first allowed language (Mandarin by default) unless the detector is confident of another
        allowed one; with no list, simply the most probable."""
        allowed = self.settings.languages
        ranked = sorted(probabilities, key=lambda item: item[1], reverse=True)
        if not allowed:
            return ranked[0][0] if ranked else "zh"
        for code, probability in ranked:
            if code in allowed:
                return code if code == allowed[0] or probability >= self.settings.switch_probability else allowed[0]
        return allowed[0]

    @abstractmethod
    def _load(self) -> Any:
        """Build the backend model; raise VoiceError("asr_disabled") if it cannot exist here."""

    @abstractmethod
    def _detect(self, model: Any, audio: DecodedAudio) -> list[tuple[str, float]]:
        """Language probabilities for the start of `audio`."""

    @abstractmethod
    def _decode(self, model: Any, audio: DecodedAudio, language: str, prompt: str | None, careful: bool) -> Decoded:
        """One decoding pass of 16 kHz mono audio; `careful`: bar repeated phrases (the retry)."""


# Speech carries 4–5 Mandarin characters (or 10+ letters) a second: a transcript of less than half
# that for a note of `_EARLY_MIN_S` or more means the decoder may have stopped after a filler or a
# clause (「那个那个。」 for a 10 s note), which a decoding without the prompt often does not; the
# longer of the two is kept, so a slow speaker costs a second decoding, never words.
_EARLY_CHARS_PER_S = 2.0
_EARLY_MIN_S = 5.0


def _stopped_early(text: str, duration_s: float) -> bool:
    return duration_s >= _EARLY_MIN_S and len(_fold(text)) < duration_s * _EARLY_CHARS_PER_S


def _echoed(raw: str, repaired: str) -> bool:
    """The prompt-echo cut removed a real part of the text (more than punctuation)."""
    return len(re.sub(r"\W", "", clean_transcript(raw))) - len(re.sub(r"\W", "", repaired)) >= 6 \
        and not has_loop(raw)


def normalize_language(language: str | None) -> str | None:
    """"zh-CN" / "ZH" / "auto" → "zh" / "zh" / None (Whisper wants bare ISO 639-1 codes)."""
    if not language or language.strip().lower() in ("auto", "detect"):
        return None
    return language.strip().lower().replace("_", "-").split("-")[0]


def clean_transcript(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _fold(text: str) -> str:
    """Lower-case with spaces and punctuation removed, for whole-transcript comparisons."""
    return re.sub(r"[\s\W_]+", "", text.lower())


_STOCK_PHRASES = frozenset(_fold(phrase) for phrase in _HALLUCINATIONS)


def is_hallucination(text: str, prompt: str | None) -> bool:
    """Whole-transcript stock phrases, or the prompt echoed back, mean nothing was said."""
    folded = _fold(text)
    return folded in _STOCK_PHRASES or (bool(prompt) and folded == _fold(prompt or ""))


def build_transcriber(backend: str = "faster-whisper", model_path: str | None = None,
                      cache_dir: str | None = None, compute_type: str = "int8", threads: int = 2,
                      language: str | None = None, initial_prompt: str | None = None, *,
                      beam_size: int = 1, languages: tuple[str, ...] | None = DEFAULT_LANGUAGES,
                      data_dir: str = "./data", switch_probability: float = 0.8) -> Transcriber:
    """A transcriber for `backend`; nothing is loaded until the first transcription."""
    settings = TranscriberSettings(model_path=model_path, cache_dir=cache_dir, data_dir=data_dir,
                                   compute_type=compute_type, threads=max(1, threads), language=language,
                                   initial_prompt=initial_prompt, beam_size=max(1, beam_size),
                                   languages=languages, switch_probability=switch_probability)
    if backend == "faster-whisper":
        from crm_core.voice.faster_whisper_backend import FasterWhisperTranscriber
        return FasterWhisperTranscriber(settings)
    if backend == "openai-whisper":
        from crm_core.voice.openai_whisper_backend import OpenAIWhisperTranscriber
        return OpenAIWhisperTranscriber(settings)
    raise ValueError(f"unknown ASR backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def asr_status(backend: str = "faster-whisper", model_path: str | None = None,
               cache_dir: str | None = None, data_dir: str = "./data") -> dict[str, object]:
    """{"enabled", "backend", "model", "reason"} for /healthz, from files on disk only."""
    model, reason = _model_check(backend, model_path, cache_dir, data_dir)
    if not reason and not probe_ffmpeg():
        reason = "ffmpeg not found (needed to decode voice notes)"
    return {"enabled": not reason, "backend": backend, "model": model, "reason": reason}


def _model_check(backend: str, model_path: str | None, cache_dir: str | None, data_dir: str) -> tuple[str | None, str]:
    if backend == "faster-whisper":
        if importlib.util.find_spec("faster_whisper") is None:
            return None, "faster-whisper is not installed"
        if model_path:
            ok = (Path(model_path) / "model.bin").is_file()
            return model_path, "" if ok else f"no CTranslate2 model.bin in {model_path}"
        status = model_status(cache_dir, data_dir)
        return "whisper-base (packaged)", str(status["reason"])
    if backend == "openai-whisper":
        if importlib.util.find_spec("whisper") is None or importlib.util.find_spec("torch") is None:
            return model_path, "openai-whisper extra (torch + openai-whisper) is not installed"
        if not model_path:
            return None, "openai-whisper needs model_path: a local checkpoint file"
        return model_path, "" if Path(model_path).is_file() else f"checkpoint not found: {model_path}"
    return None, f"unknown ASR backend {backend!r}"
