"""faster-whisper (CTranslate2) backend, the default: int8 on CPU, local model dirs only.
With no model path configured it uses the packaged Whisper base model joined by
`model_store`; it never downloads anything."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from crm_core.voice.asr import Decoded, Transcriber
from crm_core.voice.audio import DecodedAudio
from crm_core.voice.errors import VoiceError
from crm_core.voice.model_store import default_model_dir

# Silero VAD (bundled with faster-whisper) drops silence and noise before decoding: faster on
# notes with pauses, and Whisper cannot hallucinate over the parts it never sees.
_VAD_PARAMETERS = {"min_silence_duration_ms": 500, "speech_pad_ms": 300}


class FasterWhisperTranscriber(Transcriber):
    backend = "faster-whisper"

    def _load(self) -> Any:
        # Defensive: a bare model name would make huggingface_hub try the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        model_dir = self._model_dir()
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise VoiceError("asr_disabled", "faster-whisper is not installed") from exc
        try:
            model = WhisperModel(str(model_dir), device="cpu", compute_type=self.settings.compute_type,
                                 cpu_threads=self.settings.threads, num_workers=1, local_files_only=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise VoiceError("asr_disabled", f"cannot load CTranslate2 model from {model_dir}: {exc}") from exc
        self.model_source = str(model_dir)
        return model

    def _model_dir(self) -> Path:
        if not self.settings.model_path:
            return default_model_dir(self.settings.cache_dir, self.settings.data_dir)
        path = Path(self.settings.model_path)
        if not (path / "model.bin").is_file():
            raise VoiceError("asr_disabled", f"no CTranslate2 model.bin in {path}")
        return path

    def _detect(self, model: Any, audio: DecodedAudio) -> list[tuple[str, float]]:
        _, _, probabilities = model.detect_language(audio.samples)
        return list(probabilities)

    def _decode(self, model: Any, audio: DecodedAudio, language: str, prompt: str | None, careful: bool) -> Decoded:
        probe = _TokenProbe.around(model)
        segments, info = model.transcribe(
            audio.samples, language=language, task="transcribe", beam_size=self.settings.beam_size,
            vad_filter=True, vad_parameters=_VAD_PARAMETERS, condition_on_previous_text=False,
            without_timestamps=True, initial_prompt=prompt,
            # Greedy/beam only, no sampling fallback: the same note always gives the same text
            # (reproducible drafts and tests). The careful retry bars repeated 4-token phrases.
            temperature=0.0, no_repeat_ngram_size=4 if careful else 0)
        # `segments` is lazy: decoding happens while joining, inside the caller's run lock.
        texts: list[str] = []
        confidence: list[float] = []
        for segment in segments:
            texts.append(segment.text)
            confidence += probe.char_confidence(model, segment)
        return Decoded("".join(texts), info.language, confidence)


class _TokenProbe:
    """Per-token probabilities of greedy decoding: wraps the CTranslate2 model so `generate` also
    returns its log-probabilities (CTranslate2 gives them for greedy search only; with a beam each
    character gets its segment's mean probability instead)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.results: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        greedy = kwargs.get("beam_size", 1) == 1 and kwargs.get("sampling_topk", 1) == 1
        results = self.inner.generate(*args, return_logits_vocab=greedy, **kwargs)
        self.results.extend(results)
        return results

    @classmethod
    def around(cls, model: Any) -> "_TokenProbe":
        if not isinstance(model.model, cls):
            model.model = cls(model.model)
        model.model.results.clear()
        probe: _TokenProbe = model.model
        return probe

    def char_confidence(self, model: Any, segment: Any) -> list[float]:
        """One probability per character of `segment.text`: the lowest of the tokens that wrote it."""
        fallback = [math.exp(segment.avg_logprob)] * len(segment.text)
        result = next((r for r in self.results if list(r.sequences_ids[0]) == list(segment.tokens)), None)
        # one log-prob row per generated step: the segment's tokens, then end-of-text
        if result is None or len(result.logits) == 0 or len(result.logits[0]) < len(segment.tokens):
            return fallback
        tokenizer = model.hf_tokenizer
        out: list[float] = []
        pending: list[int] = []
        lowest = 1.0
        for token, logits in zip(segment.tokens, result.logits[0]):
            values = np.asarray(logits, dtype=np.float32)
            lowest = min(lowest, float(np.exp(values[token] - np.logaddexp.reduce(values))))
            pending.append(token)
            piece = tokenizer.decode(pending)
            if "\ufffd" in piece:
                continue                      # half a character: wait for the rest of its bytes
            out += [lowest] * len(piece)
            pending, lowest = [], 1.0
        return out if len(out) == len(segment.text) else fallback
